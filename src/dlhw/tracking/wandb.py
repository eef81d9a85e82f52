"""``tracking: {wandb: {project: ..., entity: ..., group: ..., tags: [...], mode: ...}}`` (or
``wandb: true``): each run copied to a Weights & Biases run.

What a W&B run of dlhw holds:

- config: the resolved config, flattened to dotted keys (``model.layers.0.units``; ``tracking``
  left out, credentials in any URI masked), with ``dlhw.config_hash``, ``dlhw.version``; a sweep
  trial's also ``sweep.name`` and its varied values as ``sweep.varied.<key>``;
- history: every epoch's history row under history.csv's own names (``loss``, ``val_accuracy``,
  ``lr``, ...), charted against ``epoch``;
- summary: the final figures of metrics.json (``test_accuracy``, ``val_loss``, ``best_epoch``,
  ``train_seconds``, ``params_total``, as for MLflow) and ``dlhw.status`` (dlhw's own word);
- media: confusion_matrix.png, roc.png, curves.png, predicted_vs_true.png as images;
- an artifact ``run-<id>`` (type ``run-folder``) of the run folder's small files (not checkpoints/,
  tb/, wandb/, dot files, model.keras, nor files over SMALL_BYTES); model.keras as an artifact of
  type ``model`` only with ``log_model: true``;
- its end: exit code 0 for completed and pruned runs (a pruned trial also gets the tag
  ``pruned``), 1 otherwise.

A sweep or search is a W&B group named after the sweep (one run per trial). The run id is kept
in the run folder (wandb.json, a WandbRecord): a resumed run continues it with
``resume="allow"``, never a second run.

Mode: ``tracking.wandb.mode``, else ``WANDB_MODE``; else online when an API key is there
(``WANDB_API_KEY`` or ``wandb login``'s netrc entry) and the server answers within PROBE_SECONDS,
otherwise wandb's own offline mode (one line says so): the files go under the run folder's
``wandb/`` (``WANDB_DIR`` where set) and ``wandb sync`` uploads them later. Other ``WANDB_*``
variables are read by wandb itself (project, entity, group, tags, run id, base URL).

The run itself is :class:`dlhw.tracking.wandb_run.WandbTracker`. As for MLflow, the run folder is the record and W&B a copy: a missing package is refused before
anything runs (exit 2 with the pip line); once a run has started, a W&B failure is one warning
and the run goes on. Credentials are never printed nor written (dlhw.tracking.redact).
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

from dlhw.rundir import layout
from dlhw.tracking.settings import require_package, tracker_settings

PIP_LINE = 'pip install "dlhw[wandb]"'
DEFAULT_PROJECT = "dlhw"
DEFAULT_HOST = "https://api.wandb.ai"
PROBE_SECONDS = 3.0       # an online run first checks the server answers this fast
INIT_TIMEOUT = 30         # wandb.init gives up after this (wandb's default: 90 s); WANDB_INIT_TIMEOUT wins
SMALL_BYTES = 10_000_000  # files of the run folder larger than this stay out of the run-folder artifact
IMAGES = (layout.CONFUSION_PNG, layout.ROC, layout.CURVES, layout.PREDICTED_VS_TRUE)
SKIPPED_DIRS = (layout.CHECKPOINTS, layout.TENSORBOARD, layout.WANDB_DIR)


def settings(cfg) -> Optional[Any]:
    """``cfg.tracking.wandb`` (None: not tracked); ``cfg``: a config or plain config data."""
    return tracker_settings(cfg, "wandb")


def require_wandb():
    """The wandb module, or ConfigError (exit 2) with the pip line that installs it."""
    return require_package("wandb", PIP_LINE)


def check_available(cfg) -> None:
    """Refuse a tracked config when wandb is missing, before a run folder exists."""
    if settings(cfg) is not None:
        require_wandb()


def flatten(data: Any, prefix: str = "") -> Dict[str, Any]:
    """Dotted keys -> values: nested sections and lists of sections walked (``model.layers.0.units``);
    scalars and lists of scalars kept as they are (W&B's config takes them natively)."""
    out: Dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}.{i}"))
    else:
        out[prefix] = data
    return out


def _host() -> str:
    return os.environ.get("WANDB_BASE_URL") or DEFAULT_HOST


def _has_key() -> bool:
    """Whether wandb will find an API key: WANDB_API_KEY, or a netrc entry for the server."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    import netrc

    try:
        path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
        return netrc.netrc(path).authenticators(urlsplit(_host()).hostname or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _probe(url: str, timeout: float = PROBE_SECONDS) -> Optional[str]:
    """None when the server's host accepts a connection now, else why not."""
    parts = urlsplit(url)
    try:
        port = parts.port or (80 if parts.scheme == "http" else 443)
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def resolve_mode(s) -> Tuple[str, Optional[str]]:
    """(online | offline | disabled, the line saying why offline, or None)."""
    if s.mode:
        return s.mode, None
    env = (os.environ.get("WANDB_MODE") or "").strip().lower()
    if os.environ.get("WANDB_DISABLED", "").strip().lower() in ("true", "1", "yes"):
        return "disabled", None
    if env in ("online", "offline", "disabled"):
        return env, None
    if env == "dryrun":
        return "offline", None
    if not _has_key():
        return "offline", "no W&B API key (WANDB_API_KEY or `wandb login`)"
    from dlhw.tracking.redact import redact

    why = _probe(_host())
    return ("offline", f"cannot reach {redact(_host())} ({why})") if why else ("online", None)


def sweep_mode(cfg, sweep_dir: Path, echo) -> Optional[str]:
    """A sweep's W&B mode, settled once for all its trials (None: not tracked, or the config's own
    mode); when offline for want of a key or a server, ``echo`` says so in one line."""
    s = settings(cfg) if cfg is not None else None
    if s is None or s.mode:
        return None
    mode, why = resolve_mode(s)
    if why:
        echo(f"tracking.wandb: {why}; the trials log offline to {Path(sweep_dir)}/<trial>/{layout.WANDB_DIR}, "
             f"upload later with: wandb sync {Path(sweep_dir)}/*/{layout.WANDB_DIR}/offline-run-*")
    return mode


def _reason(exc: BaseException) -> str:
    from dlhw.tracking.redact import redact

    text = " ".join(str(redact(str(exc))).split()) or type(exc).__name__
    return text[:200] + ("..." if len(text) > 200 else "")


def warn_failed(exc: BaseException, during: bool = False) -> None:
    from dlhw.runtime.log import get_logger

    get_logger(__name__).warning(f"tracking.wandb: {'lost the W&B run' if during else 'cannot start a W&B run'} ({_reason(exc)}); "
         f"the run goes on without W&B (its run folder is the record)")


def run_config(cfg, sweep: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The W&B config of a run: its flattened config (credentials masked), dlhw's identity, a
    sweep trial's sweep name and varied values."""
    from dlhw.config.fingerprint import fingerprint
    from dlhw.tracking.mlflow import _version
    from dlhw.tracking.redact import redact_data

    dump = redact_data({k: v for k, v in cfg.dump().items() if k != "tracking"})
    out = flatten(dump)
    out.update({"dlhw.config_hash": fingerprint(cfg), "dlhw.version": _version()})
    if sweep:
        out["sweep.name"] = sweep.get("name")
        for k, v in (sweep.get("varied") or {}).items():
            out[f"sweep.varied.{k}"] = redact_data(v)
    return out


def _saved_id(run_dir: Path) -> Optional[str]:
    """The W&B run id a resumed folder was copied to (None: none, or wandb.json damaged)."""
    from dlhw.rundir.records import RecordError, WandbRecord

    try:
        saved = WandbRecord.read_optional(WandbRecord.in_folder(run_dir))
    except RecordError:
        return None
    return saved.run_id if saved is not None else None


def _init_timeout() -> float:
    try:
        return float(os.environ.get("WANDB_INIT_TIMEOUT") or INIT_TIMEOUT)
    except ValueError:
        return float(INIT_TIMEOUT)


def init_kwargs(cfg, s, run_dir: Path, mode: str, resumed: bool, sweep: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """wandb.init's arguments (None where wandb reads its own WANDB_* variable)."""
    import wandb

    group = (sweep or {}).get("name") or s.group or None
    saved = _saved_id(run_dir) if resumed else None
    return dict(
        project=s.project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
        entity=s.entity or None, group=group, tags=list(s.tags) or None, name=Path(run_dir).name,
        job_type="trial" if sweep else "run", config=run_config(cfg, sweep), mode=mode,
        dir=os.environ.get("WANDB_DIR") or str(run_dir),
        id=saved, resume="allow" if saved else None,
        settings=wandb.Settings(silent=True, console="off", init_timeout=_init_timeout()),
    )


def run_files(run_dir: Path) -> Iterable[Path]:
    """The run folder's small files for the run-folder artifact (see the module doc)."""
    root = Path(run_dir)
    out: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (here == root and d in SKIPPED_DIRS))
        for f in sorted(filenames):
            p = here / f
            if f.startswith(".") or (here == root and f in (layout.MODEL, layout.ESTIMATOR)) or p.is_symlink():
                continue
            try:
                if p.stat().st_size <= SMALL_BYTES:
                    out.append(p)
            except OSError:
                continue
    return out


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
