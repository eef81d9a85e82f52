"""status.json's writer: where a run stands (dlhw.rundir.states.Status), its times, its pid and
heartbeat while it runs, and the error it ended with. The file is the StatusRecord of
dlhw.rundir.records; ``read_status`` (a ``running`` run whose process is gone reads as
``stale``) is that module's, returned here as a plain dict for callers that want one."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict

from dlhw.rundir.folder import now
from dlhw.rundir.records import RecordError, StatusRecord
from dlhw.rundir.records import read_status as read_status_record
from dlhw.rundir.states import Status

# the states a run's own process writes (queued: a sweep's; paused: a scheduler parked the run at a rung; stale/skipped/unknown: read-time words)
WRITTEN = (Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.DIVERGED, Status.INTERRUPTED, Status.PRUNED,
           Status.PAUSED)


class RunStatus:
    """status.json: state, times, pid/heartbeat while running, the error when it ends."""

    def __init__(self, run_dir: Path):
        self.path = StatusRecord.in_folder(run_dir)
        try:
            old = StatusRecord.read_optional(self.path)
        except RecordError:
            old = None  # a damaged status.json is replaced by the next write
        self.data: Dict[str, Any] = old.to_dict() if old is not None else {}
        self.data.pop("schema_version", None)
        self._last_beat = -math.inf

    def set(self, state: "Status | str", **extra: Any) -> None:
        state = Status(state)
        assert state in WRITTEN, state
        self.data.update(extra)
        self.data["status"] = state
        self.data.setdefault("started", now())
        self.data["updated"] = now()
        if state is Status.RUNNING:
            self.data["pid"] = os.getpid()
            self.data["heartbeat"] = now()
        else:
            self.data["finished"] = now()
        self._write()

    def heartbeat(self, min_interval: float = 2.0, **extra: Any) -> None:
        """Record progress; written at most every ``min_interval`` seconds (each write is an
        fsync, which would cost more than a short epoch). Liveness comes from the pid."""
        import time

        self.data.update(extra)
        if time.monotonic() - self._last_beat < min_interval:
            return
        self._last_beat = time.monotonic()
        self.data["heartbeat"] = now()
        self._write()

    def _write(self) -> None:
        StatusRecord.build(self.data, self.path).write(self.path)


def read_status(run_dir: Path) -> Dict[str, Any]:
    """status.json as a dict (``status`` a Status), a ``running`` run whose process is gone shown
    as ``stale``; no status.json: ``unknown``; a damaged one: ``unknown`` with its one line as
    ``error``."""
    try:
        data = read_status_record(run_dir).to_dict()
    except RecordError as exc:
        return {"status": Status.UNKNOWN, "error": str(exc)}
    data.pop("schema_version", None)
    data["status"] = Status.parse(data.get("status"))
    return data
