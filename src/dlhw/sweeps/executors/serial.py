"""The serial executor: each trial in turn, in this process (``--workers 1``, or one trial to run)."""

from __future__ import annotations

import os
from typing import Callable

from dlhw.sweeps.executors.trial import run_trial
from dlhw.sweeps.records import Result


def run_serial(jobs, on_result: Callable[[Result], None]) -> None:
    """Each job in turn, in this process (``jobs``: a list, or a dlhw.sweeps.feed.Feed asked one at a time)."""
    threads = int(os.environ["DLHW_THREADS"]) if os.environ.get("DLHW_THREADS") else None
    for job in jobs:
        on_result(run_trial(job if job.threads is not None else job.replace(threads=threads)))
