"""``dlhw run --resume RUN_DIR``: check that a run folder can be continued, then continue it.

A run can be resumed when it stopped before finishing: interrupted (Ctrl-C,
SIGTERM), failed (disk full, a crash) or stale (killed, the machine slept or
rebooted). It is refused, with exit 2 and one line saying why, when the folder
is not a run folder, the run completed, diverged or is still running, or when
its config or data changed since the checkpoint was written: a resumed run must
end exactly where the uninterrupted one would have.

No TensorFlow here: every refusal happens before it is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from dlhw.config.fingerprint import fingerprint
from dlhw.config.loader import get_path
from dlhw.errors import ConfigError
from dlhw.rundir import layout
from dlhw.rundir.states import Status
from dlhw.runtime.log import get_logger

log = get_logger(__name__)


def first_difference(a: Any, b: Any, path: str = "") -> Optional[str]:
    """The dotted key path where two plain-data trees first differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            d = first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}.{i}" if path else str(i))
            if d is not None:
                return d
        return None
    return None if a == b else (path or "(top level)")


def run_config_path(run_dir: str | Path) -> Path:
    """RUN_DIR/config.yaml after checking that RUN_DIR looks like a run folder."""
    from dlhw.runtime.files import kind_problem, path_kind

    run = Path(run_dir)
    if not run.exists():
        raise ConfigError(f"--resume: run folder not found: {run}")
    if not run.is_dir():
        raise ConfigError(f"--resume: {run} {kind_problem(run, 'folder')}; give a run folder (runs/<name>)")
    for f in (layout.CONFIG, layout.STATUS):
        kind = path_kind(run / f)
        if kind not in (None, "file"):
            raise ConfigError(f"--resume: {run / f} is a {kind}, not a file; special files are never read")
    missing = [f for f in (layout.CONFIG, layout.STATUS) if not (run / f).is_file()]
    if missing:
        raise ConfigError(f"--resume: {run} is not a run folder (no {' or '.join(missing)}); "
                          f"give a folder written by `dlhw run`")
    return run / layout.CONFIG


@dataclass
class ResumePlan:
    """A checked run folder, its checkpoint (None: restart from epoch 1) and what to record."""

    run_dir: Path
    checkpoint: Optional[Dict[str, Any]]
    identity: Dict[str, Any]
    status: Dict[str, Any] = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        return int(self.checkpoint["epoch"]) if self.checkpoint else 0

    def start(self, dataset) -> Path:
        """Check the data against the checkpoint; clear the old error; return the run folder."""
        saved = self.identity.get("dataset_fingerprint")
        if self.checkpoint and saved and saved != dataset.fingerprint:
            raise ConfigError(f"--resume: the data changed since {self.run_dir} was checkpointed "
                              f"(dataset fingerprint {dataset.fingerprint}, was {saved}); start a new run")
        self.identity["dataset_fingerprint"] = dataset.fingerprint
        from dlhw.rundir.records import StatusRecord

        path = StatusRecord.in_folder(self.run_dir)
        data = StatusRecord.read(path).to_dict()
        for key in ("error", "finished"):
            data.pop(key, None)
        data["resumes"] = int(data.get("resumes") or 0) + 1
        data["resumed_from_epoch"] = self.epoch
        StatusRecord.build(data, path).write(path)
        log.info(f"resuming {self.run_dir} after epoch {self.epoch}" if self.checkpoint
                 else f"resuming {self.run_dir}: no checkpoint yet, training from epoch 1")
        return self.run_dir


def _check_state(run: Path, status: Dict[str, Any]) -> None:
    state = Status.parse(status.get("status"))
    if state == "completed":
        raise ConfigError(f"--resume: {run} already completed; nothing to resume (start a new run to train again)")
    if state == "running":
        raise ConfigError(f"--resume: {run} is still running (pid {status.get('pid')}); "
                          f"stop that process first, or wait for it")
    if state == "diverged":
        raise ConfigError(f"--resume: {run} diverged ({status.get('error', 'loss became NaN')}); "
                          f"resuming would replay the same epochs; start a new run")
    if not state.resumable:
        why = f" ({status['error']})" if state is Status.UNKNOWN and status.get("error") else ""
        raise ConfigError(f"--resume: {run}/status.json is unreadable or has status '{state}'{why}; "
                          f"expected one of: {', '.join(s.value for s in Status if s.resumable)}")


def prepare_resume(run_dir: str | Path, cfg) -> ResumePlan:
    """Refuse (ConfigError, exit 2) a folder that cannot be resumed with ``cfg``; else a ResumePlan.

    Every check reads only. The folder's lock (dlhw.runtime.locks) is taken last, and the checks are made
    again if status.json changed meanwhile: of two processes resuming one folder, the second is
    refused (FolderBusy, exit 2), or, when the first has already finished, sees its new state.
    The lock stays held by this process until the run ends (run_experiment releases it)."""
    from dlhw.rundir.status import read_status
    from dlhw.runtime import locks

    path = run_config_path(run_dir)
    run = path.parent
    status = read_status(run)
    plan = _plan(run, path, cfg, status)
    lock = locks.acquire(run)
    try:
        now = read_status(run)
        if now != status:  # changed between the checks and the lock: check the new state
            plan = _plan(run, path, cfg, now)
    except BaseException:
        lock.release()
        raise
    return plan


def _computed(dump: Dict[str, Any]) -> Dict[str, Any]:
    """What a resumed run must share with the folder's config: all of it but ``tracking`` (where
    copies of the run go, e.g. another MLflow server, changes nothing it computes)."""
    return {k: v for k, v in dump.items() if k not in ("tracking", "slurm")}  # slurm: where it runs


def _plan(run: Path, path: Path, cfg, status: Dict[str, Any]) -> ResumePlan:
    from dlhw.config import load_config
    from dlhw.rundir.checkpoint_file import checkpoint_path, load_checkpoint

    _check_state(run, status)
    saved_cfg = load_config(path)
    diff = first_difference(_computed(saved_cfg.dump()), _computed(cfg.dump()))
    exploit = _exploit(run, fingerprint(cfg))
    if diff is not None and exploit is None:
        raise ConfigError(f"--resume: the config differs from {path} at {diff} "
                          f"(run: {get_path(saved_cfg.dump(), diff)!r}, given: {get_path(cfg.dump(), diff)!r}); "
                          f"a resumed run must use the run's own config")
    ckpt_file = checkpoint_path(run)
    checkpoint = load_checkpoint(ckpt_file) if ckpt_file.exists() else None
    identity: Dict[str, Any] = {"config_hash": fingerprint(cfg)}
    if checkpoint is not None:
        copied = exploit is not None and checkpoint.get("config_hash") == exploit.get("checkpoint_hash")
        if checkpoint.get("config_hash") != identity["config_hash"] and not copied:
            raise ConfigError(f"--resume: {path} changed since the checkpoint was written "
                              f"(config hash {identity['config_hash']}, was {checkpoint.get('config_hash')}); "
                              f"start a new run with the edited config")
        identity["dataset_fingerprint"] = checkpoint.get("dataset_fingerprint")
    return ResumePlan(run, checkpoint, identity, status)


def _exploit(run: Path, config_hash: str) -> Optional[Dict[str, Any]]:
    """The one case a resumed run may change its config: a population-based-training search
    (dlhw.sweeps.sources.pbt) copied another trial's checkpoint into ``run`` and perturbed its
    parameters. Its trial.json lineage then records that exploit, last, with the new config's hash
    (``config_hash``) and the copied checkpoint's (``checkpoint_hash``); anything else is refused."""
    from dlhw.rundir.records.search import TrialRecord

    try:
        record = TrialRecord.read(TrialRecord.in_folder(run))
        last = record.lineage["exploits"][-1] if record is not None else None
    except (ConfigError, KeyError, IndexError, TypeError):
        return None
    return last if isinstance(last, dict) and last.get("config_hash") == config_hash else None
