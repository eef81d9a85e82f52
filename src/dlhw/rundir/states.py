"""The one vocabulary of where a run or a trial stands (status.json, sweep.json, every table).

``Status`` is a ``str`` enum: ``Status.COMPLETED == "completed"``, so files written before it
existed read back unchanged. Meanings:

- ``queued``      a sweep planned the trial; no process has started it yet
- ``running``     a process is training it (status.json has its pid and heartbeat)
- ``completed``   it finished and metrics.json was written last
- ``pruned``      a search stopped it early on purpose (history up to that epoch is kept)
- ``paused``      a scheduler (successive halving, Hyperband, PBT) parked it at a rung with its
                  checkpoint; it may be continued later
- ``failed``      it ended with an error (the error is recorded)
- ``diverged``    its loss became NaN/inf (a failure with a known cause)
- ``interrupted`` Ctrl-C, SIGTERM or a preemption stopped it; resumable from its checkpoint
- ``stale``       read-time only: status.json says running, but its process is gone
- ``skipped``     a sweep found it already completed and did not train it again
- ``unknown``     read-time only: no readable status.json

Groups, as properties (every reader asks these instead of keeping its own tuple of words):
``succeeded`` (completed, skipped), ``failure`` (failed, diverged), ``stopped`` (interrupted,
pruned, stale, paused), ``finished``, ``ok`` (a sweep's exit code stays 0) and ``resumable``
(``--resume`` continues it). docs/RUN_FOLDER.md's table of status words is generated from the
list above (dlhw.rundir.records.docs).
"""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    PAUSED = "paused"
    FAILED = "failed"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"
    STALE = "stale"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"

    def __str__(self) -> str:  # f-strings and tables print the plain word
        return self.value

    @property
    def finished(self) -> bool:
        """It will not change without a user's action (completed, pruned, failed, diverged, skipped)."""
        return self in (Status.COMPLETED, Status.PRUNED, Status.FAILED, Status.DIVERGED, Status.SKIPPED)

    @property
    def ok(self) -> bool:
        """Not a failure: a sweep's exit code stays 0 for these."""
        return self in (Status.COMPLETED, Status.SKIPPED, Status.RUNNING, Status.PRUNED, Status.PAUSED, Status.QUEUED)

    @property
    def succeeded(self) -> bool:
        """It has its results (completed, or skipped: completed by an earlier sweep)."""
        return self in (Status.COMPLETED, Status.SKIPPED)

    @property
    def failure(self) -> bool:
        """It ended with an error (failed, diverged)."""
        return self in (Status.FAILED, Status.DIVERGED)

    @property
    def stopped(self) -> bool:
        """Stopped before its end by something other than an error (interrupted, pruned, stale, paused)."""
        return self in (Status.INTERRUPTED, Status.PRUNED, Status.STALE, Status.PAUSED)

    @property
    def resumable(self) -> bool:
        """A run folder in this state can continue from its checkpoint (``--resume``)."""
        return self in (Status.INTERRUPTED, Status.FAILED, Status.STALE, Status.PAUSED)

    @classmethod
    def parse(cls, value: object) -> "Status":
        """A status word from a file; anything else (older words included) reads as UNKNOWN,
        except 'partial' (an older report's word for a run with metrics but no status), which is
        read as COMPLETED, and 'pending' (older sweep.json), read as QUEUED."""
        if isinstance(value, Status):
            return value
        word = str(value or "").strip().lower()
        word = {"partial": "completed", "pending": "queued"}.get(word, word)
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN
