"""The trials an executor hands out, one at a time: a fixed list (a grid), or made on demand (a search).

A search asks its study for the next trial only when a worker is free to train it
(dlhw.sweeps.sources.search): no batches, no barrier. Every executor (run_serial, run_pool, run_ray)
takes a Feed; a plain list of jobs is wrapped in one.
"""

from __future__ import annotations

from typing import Callable, Iterable, List, Optional

from dlhw.sweeps.records import Job


class Feed:
    """``jobs``: a fixed list; ``make()``: the next job or None when there are no more (called only
    when a worker can take it). ``prepare``: applied to each job as it is handed out."""

    def __init__(self, jobs: Iterable[Job] = (), make: Optional[Callable[[], Optional[Job]]] = None,
                 limit: Optional[int] = None):
        self._jobs: List[Job] = list(jobs)
        self._make = make
        self._done = make is None
        self.limit = limit  # at most this many jobs (a search's budget), for sizing a pool
        self.prepare: Callable[[Job], Job] = lambda job: job

    @classmethod
    def of(cls, jobs) -> "Feed":
        return jobs if isinstance(jobs, Feed) else cls(jobs)

    @property
    def on_demand(self) -> bool:
        return self._make is not None

    def peek(self) -> Optional[Job]:
        if not self._jobs and not self._done and self._make is not None:
            job = self._make()
            if job is None:
                self._done = True
            else:
                self._jobs.append(job)
        return self.prepare(self._jobs[0]) if self._jobs else None

    def take(self) -> Optional[Job]:
        job = self.peek()
        if job is not None:
            self._jobs.pop(0)
        return job

    def __bool__(self) -> bool:
        return self.peek() is not None

    def __iter__(self):
        while True:
            job = self.take()
            if job is None:
                return
            yield job

    def left(self, keep: bool = False) -> List[Job]:
        """The jobs already made and not handed out (a fixed list: all that remain); nothing new is
        made. They leave the feed, unless ``keep`` (a look at what is queued)."""
        out = [self.prepare(j) for j in self._jobs]
        if not keep:
            self._jobs, self._done = [], True
        return out

    def size(self) -> Optional[int]:
        """How many jobs there are at most (None: unknown)."""
        return len(self._jobs) if self._make is None else self.limit
