"""The executor interface: how a sweep's trials get run (in this process, a worker pool, Ray, Slurm).

The engine (:mod:`dlhw.sweeps.engine`) owns everything around a trial: the sweep folder, its lock,
sweep.json, the trial sources, the closing table. An executor owns only where and how each trial
trains. It is one module in this package that defines ``EXECUTOR``, an instance of a subclass of
:class:`Executor`; ``--executor NAME`` (and ``dlhw.sweep(executor=NAME)``) picks the module
``dlhw.sweeps.executors.NAME`` (:func:`dlhw.sweeps.executors.get`). Adding an executor is adding
one such module: nothing else names it.

What an executor is given
  * a :class:`~dlhw.sweeps.feed.Feed` of :class:`~dlhw.sweeps.records.Job` (one per trial): a fixed
    list (a grid), or made on demand (a search asks its study for the next trial only when
    ``feed.take()`` is called). Take a job only when it can start (a free worker, a free slot in
    the queue); ``feed.size()`` is how many jobs there are at most (None: unknown).
  * an ``on_result(Result)`` callback: call it exactly once for every job taken, from the thread
    that called :meth:`Executor.run`, with a Result whose ``name`` is the job's. By then the
    trial's run folder must be at ``job.run_dir`` on this machine (an executor on other machines
    ships it back first). on_result records the outcome (sweep.json, the study, the echo line) and
    may make the feed's next job: never call it from another thread.
  * a :class:`Dispatch`: the workers asked for (resolved by :meth:`Executor.workers`), the GPU ids
    the sweep hands out, the sweep folder, ``--address``, ``--device``, the echo function, debug.

What an executor must do
  * run each job with :func:`dlhw.sweeps.executors.trial.run_trial` (in whatever process or machine),
    which validates the config, trains into ``job.run_dir`` and returns a Result, never raising for
    a trial that fails.
  * turn a trial that dies (a killed worker, a lost node, a cancelled Slurm job) into a failed
    Result naming why, and go on with the others.
  * never write sweep.json, sweep.jsonl or the study: only the engine does, through on_result.
  * on KeyboardInterrupt: stop starting jobs, let or make the running ones stop, re-raise. The
    engine marks what did not run as interrupted; the next ``dlhw sweep`` resumes them.
  * import heavy packages (ray, submitit, ...) only inside its methods: ``import dlhw`` stays fast.

Before any folder is made the engine calls :meth:`Executor.check` (a missing package, an
unreachable cluster: raise :class:`dlhw.errors.ConfigError`, exit 2), then
:meth:`Executor.workers` and :meth:`Executor.where` for the announcement line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Union

from dlhw.sweeps.feed import Feed
from dlhw.sweeps.records import Result

Workers = Union[int, str]  # a whole number >= 1, or "auto"
OnResult = Callable[[Result], None]


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Dispatch:
    """What an executor is told besides its jobs."""

    workers: Workers                 # trials at once: a number, or "auto" where the executor decides (Ray)
    sweep_dir: Path                  # OUT/<sweep>: every job's ``out``
    gpus: List[str] = field(default_factory=list)  # GPU ids to hand out, one per worker (none: CPU only)
    address: Optional[str] = None    # --address: a cluster to use (Ray)
    device: str = "auto"             # --device
    echo: Callable[[str], None] = _print  # one line for the user
    debug: bool = False              # --debug: show the executor's own logs
    detach: bool = False             # --detach: return once the jobs are submitted (reattaching executors)
    retry_failed: bool = False       # --retry-failed: submit again trials whose job failed (reattaching executors)
    session: Any = None              # what the executor's session keeps between run calls (local: its pool)


class Executor(ABC):
    """One way of running a sweep's jobs. Subclasses set ``name`` and implement :meth:`run`."""

    name: str = ""
    #: whether ``--address`` means something to this executor
    takes_address: bool = False
    #: trials outlive the driver (a batch queue): a trial found running is handed to the executor
    #: again (it knows its own and watches them); ``--detach`` and ``--retry-failed`` apply
    reattaches: bool = False

    def check(self, address: Optional[str]) -> None:
        """Everything that can be checked before a folder is made: the package it needs installed,
        the cluster answering at ``address``. Raise ConfigError (one line) when it cannot run."""
        from dlhw.errors import ConfigError

        if address and not self.takes_address:
            raise ConfigError(f"--address: only used with --executor ray; received --executor {self.name}")

    def workers(self, requested: Workers, trials: int, gpus: List[str]) -> Workers:
        """The workers to use for ``trials`` trials at most: ``requested``, or for "auto" what this
        executor picks (default: one per GPU, else per core within memory; see resources.auto_workers)."""
        from dlhw.sweeps.executors.resources import auto_workers

        return auto_workers(trials, gpus) if requested == "auto" else requested

    def where(self, workers: Workers, jobs: int, gpus: List[str], auto: bool) -> str:
        """How the announcement line says where ``jobs`` trials run: 'on 2 workers', 'via Ray'."""
        n = min(int(workers), jobs) if isinstance(workers, int) else jobs
        n = max(1, n)
        text = f"on {n} worker{'s' if n > 1 else ''}" + (" (--workers auto)" if auto else "")
        return text + (f", {len(gpus)} GPU(s)" if gpus else "")

    @contextmanager
    def session(self, where: Dispatch, jobs: int) -> Iterator[Dispatch]:
        """Held open around every ``run`` call of one sweep (a scheduled search makes one per rung or
        generation), with at most ``jobs`` jobs in all; yields the Dispatch those calls get, where an
        executor may keep its workers between them (``Dispatch.session``). Default: nothing kept."""
        yield where

    @abstractmethod
    def run(self, feed: Feed, on_result: OnResult, where: Dispatch) -> None:
        """Run every job the feed gives, calling ``on_result`` once per job (see the module doc)."""
