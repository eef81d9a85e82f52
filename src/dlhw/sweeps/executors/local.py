"""The local executor (``--executor local``, the default): trials in this process (one worker, or
one trial), else on a pool of worker processes (:mod:`dlhw.sweeps.executors.pool`)."""

from __future__ import annotations

from dlhw.sweeps.executors.base import Dispatch, Executor, OnResult
from dlhw.sweeps.feed import Feed


class LocalExecutor(Executor):
    name = "local"

    def run(self, feed: Feed, on_result: OnResult, where: Dispatch) -> None:
        n = feed.size()
        workers = int(where.workers) if where.workers != "auto" else 1
        if n is not None:
            workers = min(workers, n)
        if workers <= 1:
            from dlhw.sweeps.executors.serial import run_serial

            run_serial(feed, on_result)
            return
        from dlhw.sweeps.executors.pool import run_pool

        run_pool(feed, workers, where.gpus, on_result)


EXECUTOR = LocalExecutor()
