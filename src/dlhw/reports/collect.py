"""Find run folders under the given paths and read what each one holds.

A run folder is any folder with a status.json or a metrics.json. A folder
with a sweep.json is a sweep: its runs take their varied values and repeat
group from the manifest. Failed, diverged, interrupted and stale runs are read
too (they have a status and maybe a history, no metrics), and so is every
trial a sweep.json lists but no folder holds (a Ray worker that died before
the trial's folder existed): it shows with the manifest's status and error.
Every file is read through its record (dlhw.rundir.records): a missing file means "not
known"; a damaged one is one warning line naming the file and what is wrong, never a crash.
No heavy imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlhw.errors import ConfigError
from dlhw.rundir import layout
from dlhw.rundir.history import read_history
from dlhw.rundir.records import NO_METRICS, RecordError, read_manifest_optional, read_metrics, settled_status
from dlhw.rundir.states import Status
from dlhw.rundir.status import read_status

REPEAT_FREE = ("name", "seed")  # top-level keys repeats may differ in (and dataset.split_seed, dataset.fold)
SKIP_DIRS = {layout.TENSORBOARD, layout.CHECKPOINTS, layout.CHARTS, "__pycache__", ".git"}
MAX_DEPTH = 4


@dataclass
class RunRecord:
    name: str
    path: Path
    status: str
    sweep: Optional[str] = None          # display name of its sweep (None: a loose run)
    sweep_key: Optional[str] = None      # the sweep folder, to tell same-named sweeps apart
    group: str = ""                      # repeats of one trial share a group
    varied: Dict[str, Any] = field(default_factory=dict)
    label: str = ""                      # 'layers=3x256, optimizer.type=adam'
    error: Optional[str] = None
    metrics: Dict[str, Any] = field(default_factory=dict)
    diagnostics: List[Dict[str, Any]] = field(default_factory=list)
    history: List[Dict[str, Any]] = field(default_factory=list)
    order: int = 10 ** 9                  # position in its sweep's plan (charts and gallery follow it)
    config: Dict[str, Any] = field(default_factory=dict)  # config.yaml, the resolved config ({}: none)

    @property
    def repeat_key(self) -> str:
        """The config without what repeats change (name, seed, dataset.split_seed, dataset.fold):
        runs are repeats of one another only when these are equal ("" when config.yaml is missing)."""
        import json

        if not self.config:
            return ""
        data = {k: v for k, v in self.config.items() if k not in REPEAT_FREE}
        ds = data.get("dataset")
        if isinstance(ds, dict):
            data["dataset"] = {k: v for k, v in ds.items() if k not in ("split_seed", "fold")}
        return json.dumps(data, sort_keys=True, default=str)

    @property
    def pair_key(self) -> str:
        """What pairs this run with a run of another group: its seed, split seed and fold."""
        ds = self.config.get("dataset") if isinstance(self.config.get("dataset"), dict) else {}
        return f"seed={self.config.get('seed')},split={ds.get('split_seed')},fold={ds.get('fold')}"

    @property
    def confusion_png(self) -> Optional[Path]:
        p = self.path / layout.CONFUSION_PNG
        return p if p.exists() else None

    @property
    def confusion_split(self) -> Optional[str]:
        """The split confusion_matrix.png counts: test, or val for a run without a test split
        (orchestration.evaluate.evaluate_and_write); None when metrics.json does not say."""
        test = self.metrics.get("test")
        if not isinstance(test, dict) or not isinstance(test.get("samples"), (int, float)):
            return None
        return "test" if test["samples"] > 0 else "val"


def is_run_dir(p: Path) -> bool:
    return (p / layout.STATUS).is_file() or (p / layout.METRICS).is_file()


def _diagnostics(*sources: Any) -> List[Dict[str, Any]]:
    """issue 4's findings, whatever shape they arrive in: a list of dicts/strings or a dict."""
    for d in sources:
        if not d:
            continue
        if isinstance(d, dict):
            d = [{"kind": str(k), "message": str(v)} for k, v in d.items()]
        if isinstance(d, list):
            out = []
            for item in d:
                if isinstance(item, dict):
                    out.append({"kind": str(item.get("kind", "note")), "message": str(item.get("message", item)),
                                "epoch": item.get("epoch")})
                else:
                    out.append({"kind": "note", "message": str(item)})
            return out
    return []


def read_run(path: Path, sweep: Optional[Dict[str, Any]] = None, sweep_key: Optional[str] = None) -> RunRecord:
    status = read_status(path)
    if status["status"] is Status.UNKNOWN and status.get("error"):
        _warn(status["error"])  # a damaged status.json: its one line
    metrics, damage = _metrics(path)
    state = settled_status(status["status"], metrics is not None)
    error = (damage or NO_METRICS) if state is Status.FAILED and status["status"] is Status.COMPLETED \
        else status.get("error")
    rec = RunRecord(name=path.name, path=path, status=state, error=error, metrics=metrics or {},
                    history=read_history(path / layout.HISTORY))
    rec.diagnostics = _diagnostics(rec.metrics.get("diagnostics"), status.get("diagnostics"))
    rec.config = read_config(path)
    rec.group = rec.name
    if sweep is not None:
        rec.sweep = str(sweep.get("name") or path.parent.name)
        rec.sweep_key = sweep_key
        trials = [t for t in sweep.get("trials", []) if isinstance(t, dict)]
        entry = next((t for t in trials if t.get("run_dir") == path.name), None) \
            or next((t for t in trials if t.get("name") == path.name), None)  # run_dir: <trial>-2 (sweep.session)
        if entry:
            rec.order = trials.index(entry)
            rec.group = str(entry.get("group") or rec.name)
            rec.varied = dict(entry.get("varied") or {})
            rec.label = str(entry.get("label") or "")
            if state is Status.UNKNOWN and entry.get("status"):
                rec.status = Status.parse(entry["status"])
            rec.error = rec.error or entry.get("error")
    return rec


def read_config(run: Path) -> Dict[str, Any]:
    """config.yaml as data ({} when it is missing or not a mapping: the run then groups by name only)."""
    import yaml

    try:
        data = yaml.safe_load((run / layout.CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def manifest_only(entry: Dict[str, Any], order: int, sweep: Dict[str, Any], sweep_dir: Path) -> RunRecord:
    """A trial that sweep.json lists but that has no run folder: its status and error from the manifest."""
    name = str(entry.get("name"))
    status = Status.parse(entry.get("status"))
    error = entry.get("error") or ("no run folder" if status in (Status.FAILED, Status.COMPLETED) else None)
    return RunRecord(name=name, path=sweep_dir / str(entry.get("run_dir") or name), status=status,
                     sweep=str(sweep.get("name") or sweep_dir.name), sweep_key=str(sweep_dir.resolve()),
                     group=str(entry.get("group") or name), varied=dict(entry.get("varied") or {}),
                     label=str(entry.get("label") or ""), error=error, order=order)


def _missing_trials(sweep_dir: Path, sweep: Dict[str, Any], seen: set) -> List[RunRecord]:
    trials = [t for t in sweep.get("trials", []) if isinstance(t, dict) and t.get("name")]
    return [manifest_only(t, i, sweep, sweep_dir) for i, t in enumerate(trials)
            if (sweep_dir / str(t.get("run_dir") or t["name"])).resolve() not in seen]


def _warn(line: str) -> None:
    from dlhw.runtime.log import get_logger

    get_logger(__name__).warning(f"{line}; read as not known")


def _metrics(run: Path) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(metrics.json's values, None); (None, None) without one; (None, its one line) when it is
    damaged (then a warning says so too)."""
    try:
        return read_metrics(run), None
    except RecordError as exc:
        _warn(str(exc))
        return None, str(exc)


def _sweep_of(folder: Path) -> Optional[Dict[str, Any]]:
    """sweep.json (with sweep.jsonl applied) as a dict; None when there is none or it is damaged (a warning)."""
    try:
        manifest = read_manifest_optional(folder)
    except RecordError as exc:
        _warn(str(exc))
        return None
    return manifest.plain() if manifest is not None else None


def collect(paths: Sequence[str | Path]) -> List[RunRecord]:
    """Every run folder under ``paths`` (each path a run, a sweep, or a folder holding them), each once."""
    seen: set = set()
    records: List[RunRecord] = []
    sweeps: Dict[Path, Dict[str, Any]] = {}  # sweep folders walked: their trials are all listed

    def add(run: Path) -> None:
        key = run.resolve()
        if key in seen:
            return
        seen.add(key)
        sweep = _sweep_of(run.parent)
        records.append(read_run(run, sweep, str(run.parent.resolve()) if sweep is not None else None))

    def walk(folder: Path, depth: int) -> None:
        if is_run_dir(folder):
            add(folder)
            return
        sweep = _sweep_of(folder)
        if sweep is not None:
            sweeps.setdefault(folder.resolve(), sweep)
        if depth >= MAX_DEPTH:
            return
        try:
            children = sorted(c for c in folder.iterdir() if c.is_dir() and c.name not in SKIP_DIRS
                              and not c.name.startswith("."))
        except OSError:
            return
        for c in children:
            walk(c, depth + 1)

    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ConfigError(f"{p}: no such run folder or sweep")
        if not p.is_dir():
            raise ConfigError(f"{p}: expected a run folder, a sweep folder or a folder of runs; received a file")
        walk(p, 0)
    for sweep_dir, sweep in sweeps.items():
        records.extend(_missing_trials(sweep_dir, sweep, seen))
    first_seen: Dict[Any, int] = {}
    for i, r in enumerate(records):
        first_seen.setdefault(r.sweep_key, i)
    records.sort(key=lambda r: (first_seen[r.sweep_key], r.order, r.name))
    return records


def metric_value(rec: RunRecord, key: str) -> Optional[float]:
    """'val_accuracy' -> metrics['val']['accuracy']; 'params_total', 'train_seconds', 'best_epoch' too."""
    m = rec.metrics
    if key in m and not isinstance(m.get(key), dict):
        v = m.get(key)
    elif key in ("params_total", "params_trainable"):
        v = (m.get("params") or {}).get(key.split("_", 1)[1])
    elif "_" in key and key.split("_", 1)[0] in ("train", "val", "test") and isinstance(m.get(key.split("_", 1)[0]), dict):
        split, name = key.split("_", 1)
        v = m[split].get(name)
    else:
        v = m.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return float(v)


def available_metrics(records: Sequence[RunRecord]) -> List[str]:
    names: List[str] = []
    for r in records:
        for split in ("train", "val", "test"):
            for k, v in (r.metrics.get(split) or {}).items():
                if isinstance(v, (int, float)) and k != "samples" and f"{split}_{k}" not in names:
                    names.append(f"{split}_{k}")
    return names + ["params_total", "params_trainable", "train_seconds", "best_epoch", "epochs_run"]
