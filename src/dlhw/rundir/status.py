"""status.json: where a run stands (running, completed, failed, diverged, interrupted, pruned), its
times, its pid and heartbeat while it runs, and the error it ended with. A ``running``
run whose process is gone reads as ``stale``."""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path
from typing import Any, Dict, Optional

from dlhw.rundir.folder import now, read_json
from dlhw.runtime.files import write_json
from dlhw.rundir import layout

STATUSES = ("running", "completed", "failed", "diverged", "interrupted", "pruned", "paused")  # pruned: a search stopped it; paused: a scheduler parked it at a rung


class RunStatus:
    """status.json: state, times, pid/heartbeat while running, the error when it ends."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / layout.STATUS
        self.data: Dict[str, Any] = read_json(self.path) or {}

    def set(self, state: str, **extra: Any) -> None:
        assert state in STATUSES, state
        self.data.update(extra)
        self.data["status"] = state
        self.data.setdefault("started", now())
        self.data["updated"] = now()
        if state == "running":
            self.data["pid"] = os.getpid()
            self.data["heartbeat"] = now()
        else:
            self.data["finished"] = now()
        write_json(self.path, self.data)

    def heartbeat(self, min_interval: float = 2.0, **extra: Any) -> None:
        """Record progress; written at most every ``min_interval`` seconds (each write is an
        fsync, which would cost more than a short epoch). Liveness comes from the pid."""
        import time

        self.data.update(extra)
        if time.monotonic() - getattr(self, "_last_beat", -math.inf) < min_interval:
            return
        self._last_beat = time.monotonic()
        self.data["heartbeat"] = now()
        write_json(self.path, self.data)


def read_status(run_dir: Path) -> Dict[str, Any]:
    """status.json, with a 'running' run whose process is gone shown as 'stale'."""
    data = read_json(Path(run_dir) / layout.STATUS) or {"status": "unknown"}
    if data.get("status") == "running":
        pid = data.get("pid")
        alive = False
        if isinstance(pid, int):
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if alive and _started_after(pid, data.get("heartbeat")):
            alive = False  # the pid was reused (after a reboot, or much later) by another process
        if not alive:
            data["status"] = "stale"
    return data


def _started_after(pid: int, stamp: Optional[str]) -> bool:
    """True when process ``pid`` started after the ISO time ``stamp`` (Linux /proc; else False)."""
    try:
        when = _dt.datetime.fromisoformat(str(stamp)).timestamp()
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK") > when + 2
    except (OSError, ValueError, IndexError, StopIteration, TypeError):
        return False
