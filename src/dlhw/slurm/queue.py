"""What the Slurm queue says about a sweep's array tasks, read with ``squeue`` only.

``sacct`` needs an accounting database (slurmdbd); many small clusters, and a single-node test
cluster, have none. dlhw's view of a trial therefore comes from two places that always exist:
``squeue`` (pending and running tasks, and for MinJobAge seconds, 300 by default, the state and
reason a task ended with) and the trial's run folder (status.json, metrics.json). A task that has
left the queue is judged by its run folder alone. No heavy imports.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from dlhw.errors import ConfigError

# Slurm job states, grouped by what they mean for a trial.
WAITING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "STOPPED",
           "CONFIGURING", "SPECIAL_EXIT", "RESIZING", "SIGNALING", "STAGE_OUT"}
ACTIVE = {"RUNNING", "COMPLETING"}
BAD = {"CANCELLED", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "BOOT_FAIL", "DEADLINE", "PREEMPTED",
       "REVOKED"}
SQUEUE_TIMEOUT = 30.0


@dataclass(frozen=True)
class TaskState:
    """One array task as squeue shows it: ``state`` (PENDING, RUNNING, COMPLETED, CANCELLED...), the
    ``reason`` Slurm gives (Priority, Resources, JobArrayTaskLimit, NodeFail...), its restart count."""

    task: str
    state: str
    reason: str = ""
    restarts: int = 0
    node: str = ""

    @property
    def live(self) -> bool:
        """Still in the queue or running: never submit a second copy of it."""
        return self.state in WAITING or self.state in ACTIVE

    @property
    def queued(self) -> bool:
        return self.state in WAITING

    @property
    def bad(self) -> bool:
        return self.state in BAD


def check_slurm() -> None:
    """sbatch and squeue on PATH, and squeue answering; else one line saying so (exit 2)."""
    missing = [t for t in ("sbatch", "squeue", "scontrol") if shutil.which(t) is None]
    if missing:
        raise ConfigError(f"--executor slurm: {missing[0]} not found on PATH; run dlhw sweep on a Slurm login "
                          f"node (where sbatch and squeue work)")
    res = _run(["squeue", "-h", "-o", "%i", "-j", "0"], check=False)
    if res is None or (res.returncode != 0 and "Invalid job id" not in (res.stderr or "")):
        why = " ".join((res.stderr or "").split())[:200] or f"exit {res.returncode}" if res is not None else "no answer"
        raise ConfigError(f"--executor slurm: squeue does not answer ({why}); "
                          f"is the Slurm controller reachable from this machine?")


def _run(cmd: List[str], check: bool = True) -> Optional[subprocess.CompletedProcess]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=SQUEUE_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        if check:
            raise
        return None


def parse_squeue(text: str) -> Dict[str, TaskState]:
    """``squeue -h -r -t all -o '%i|%T|%r|%N'`` lines -> task id ('123_4', or '123') -> TaskState."""
    out: Dict[str, TaskState] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        reason = parts[2] if parts[2] not in ("None", "(null)") else ""
        out[parts[0]] = TaskState(parts[0], parts[1].upper(), reason, node=parts[3] if len(parts) > 3 else "")
    return out


def tasks(array_ids: Iterable[str]) -> Dict[str, TaskState]:
    """The state of every task of the given arrays (or single jobs) squeue still knows.
    A job id squeue has forgotten is simply absent. Pending tasks of an array are listed one per line."""
    ids = sorted({str(a).split("_")[0] for a in array_ids if a})
    if not ids:
        return {}
    res = _run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%r|%N", "-j", ",".join(ids)], check=False)
    if res is None:
        raise ConfigError("--executor slurm: squeue did not answer within "
                          f"{SQUEUE_TIMEOUT:.0f} s; the controller may be overloaded; run the command again")
    if res.returncode != 0:
        if "Invalid job id" in (res.stderr or ""):
            # every id forgotten (or one of them): ask one by one, so known ones are still read
            return {k: v for i in ids if len(ids) > 1 for k, v in tasks([i]).items()}
        raise ConfigError(f"--executor slurm: squeue failed: {' '.join((res.stderr or '').split())[:200]}")
    return parse_squeue(res.stdout)


def requeue(task: str) -> Optional[str]:
    """``scontrol requeue TASK`` (one array task); None when done, else Slurm's message."""
    res = _run(["scontrol", "requeue", task], check=False)
    if res is None:
        return "scontrol did not answer"
    return None if res.returncode == 0 else " ".join(((res.stderr or "") + (res.stdout or "")).split())[:300]
