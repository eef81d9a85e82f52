"""The local executor (``--executor local``, the default): trials in this process (one worker, or
one trial), else on a pool of worker processes (:mod:`dlhw.sweeps.executors.pool`), one pool for
all of a sweep's rounds (a scheduled search's rungs and generations)."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Iterator, Optional

from dlhw.sweeps.executors.base import Dispatch, Executor, OnResult
from dlhw.sweeps.feed import Feed


def _workers(where: Dispatch, jobs: Optional[int]) -> int:
    """Worker processes for ``jobs`` jobs (None: unknown): the number asked, at most one per job."""
    workers = int(where.workers) if where.workers != "auto" else 1
    return workers if jobs is None else min(workers, jobs)


class LocalExecutor(Executor):
    name = "local"

    @contextmanager
    def session(self, where: Dispatch, jobs: int) -> Iterator[Dispatch]:
        workers = _workers(where, jobs)
        if workers <= 1:
            yield where
            return
        from dlhw.sweeps.executors.pool import PoolSession

        with PoolSession(workers, where.gpus) as pool:  # started on the first round, kept for the others
            yield dataclasses.replace(where, session=pool)

    def run(self, feed: Feed, on_result: OnResult, where: Dispatch) -> None:
        if where.session is not None:
            where.session.run(feed, on_result)
            return
        workers = _workers(where, feed.size())
        if workers <= 1:
            from dlhw.sweeps.executors.serial import run_serial

            run_serial(feed, on_result)
            return
        from dlhw.sweeps.executors.pool import run_pool

        run_pool(feed, workers, where.gpus, on_result)


EXECUTOR = LocalExecutor()
