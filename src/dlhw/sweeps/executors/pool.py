"""The local worker pool of ``dlhw sweep --workers N``: N processes, one trial each at a time.

The parent hands each idle worker the next trial (longest first) over its own
pipe and waits on the pipes and the processes together. A worker that dies
(killed, out of memory) fails only the trial it had: the parent writes that
trial's status.json (failed, "worker killed by SIGKILL"), so the run folder and
sweep.json agree, and starts a replacement while trials remain. Workers end
with the parent: the kernel signals them when it dies (Linux PR_SET_PDEATHSIG),
and a thread in each watches the parent's pid (everywhere). Ctrl-C stops the
running trials after their batch and starts no new one. Workers are reused for
many trials; each gets its share of the CPU threads and, when GPUs exist, one
GPU of its own.

How workers start (:func:`start_method`): on Linux without GPUs, this process
imports TensorFlow once and forks them. Nothing has run in TensorFlow yet at that
point (no runtime, no thread pools), which is what makes the fork safe, and the
workers share the imported modules' memory. Two spawned workers importing
TensorFlow side by side on 2 cores each take ~15% longer than one import alone;
in a timeline of the S5 sweep the forked workers began training at 3.7 s instead
of 4.2 s. Elsewhere (macOS, Windows, GPUs, a process that already imported
TensorFlow, or ``DLHW_WORKER_START=spawn``) workers are spawned and import
TensorFlow themselves.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence

from dlhw.errors import DlhwError
from dlhw.rundir.states import Status
from dlhw.sweeps.executors import resources, worker
from dlhw.sweeps.executors.resources import threads_per_worker
from dlhw.sweeps.feed import Feed
from dlhw.sweeps.records import Job, Result


def start_method(gpus: Sequence[str] = ()) -> str:
    """'fork' where forking after a bare TensorFlow import is safe, else 'spawn' (see the module doc).
    ``gpus``: those the sweep already found; without any, the machine is asked (--device cpu)."""
    if os.environ.get("DLHW_WORKER_START", "").strip().lower() == "spawn":
        return "spawn"
    if not sys.platform.startswith("linux") or "tensorflow" in sys.modules or gpus or resources.visible_gpus():
        return "spawn"
    return "fork"


def _prepare_fork() -> None:
    """Import TensorFlow and Keras here, once, for the workers forked next to share."""
    import gc

    worker.import_keras()
    gc.freeze()  # the workers' collector leaves these objects alone, so their pages stay shared
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered is inherited and written twice


@contextmanager
def dlhw_main() -> Iterator[None]:
    """While workers are spawned, ``__main__`` is dlhw's worker module, never the caller's: a spawned
    process re-imports its parent's ``__main__``, which for a script without an ``if __name__ ==
    "__main__"`` guard runs the whole script again (and its sweep) in every worker, and for
    ``python -`` (stdin) names a file that does not exist. Restored at once after."""
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = worker
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def death_message(exitcode: Optional[int]) -> str:
    """'worker killed by SIGKILL' / 'worker exited with code 3'."""
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            return f"worker killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker killed by signal {-exitcode}"
    return f"worker exited with code {exitcode}" if exitcode is not None else "worker vanished"


def record_death(job: Job, message: str) -> Result:
    """The trial of a worker that died: its status.json says failed (with the signal), so the run
    folder and sweep.json agree; its partial results go. Returns the trial's result."""
    from dlhw.rundir.folder import discard_results
    from dlhw.rundir.status import RunStatus
    from dlhw.runtime import locks

    run_dir = job.run_dir
    try:
        from dlhw.runtime.files import ensure_dir

        ensure_dir(run_dir)
        with locks.acquire(run_dir):  # the dead worker's lock went with it
            discard_results(run_dir)
            RunStatus(run_dir).set(Status.FAILED, name=run_dir.name, error=message)
    except (DlhwError, OSError):
        pass  # another process holds the folder, or it cannot be written: sweep.json still says it
    return Result(job.name, Status.FAILED, error=message)


class _Worker:
    def __init__(self, proc, conn, slot: int):
        self.proc, self.conn, self.slot = proc, conn, slot
        self.job: Optional[Job] = None
        self.stopping = False


def run_pool(jobs: "List[Job] | Feed", workers: int, gpus: List[str], on_result: Callable[[Result], None]) -> None:
    """Train ``jobs`` (in order; a list or a dlhw.sweeps.feed.Feed) on ``workers`` processes. A worker
    that dies fails only the trial it had (recorded with the signal) and is replaced while trials remain."""
    with PoolSession(workers, gpus) as session:
        session.run(jobs, on_result, keep=False)


class PoolSession:
    """One pool of worker processes for all the rounds of a sweep (a scheduled search dispatches a
    round per rung or generation): the workers are started on the first round and wait, idle,
    for the next, so a round costs no new processes. Before, each round started its own pool, and
    every pool after the first was spawned (TensorFlow already imported here), each worker importing
    TensorFlow again: a 13-trial Hyperband search on 2 workers took 1.66x its time on one."""

    def __init__(self, workers: int, gpus: Sequence[str]):
        self.workers, self.gpus = workers, list(gpus)
        self.pool: Optional[_Pool] = None

    def run(self, jobs: "List[Job] | Feed", on_result: Callable[[Result], None], keep: bool = True) -> None:
        """Every job of ``jobs`` to the workers; returns when each has a result. ``keep``: the workers
        stay for another round (False: each leaves once nothing is left to hand out)."""
        feed = Feed.of(jobs)
        if self.pool is None:
            self.pool = _Pool(feed, self.workers, self.gpus, on_result)
            for i in range(self.workers):
                self.pool.start(i)
        else:
            self.pool.next_round(feed, on_result)
        pool = self.pool
        try:
            pool.run_round(keep)
            for job in pool.queue.left():  # every worker died before taking these
                on_result(Result(job.name, Status.FAILED, error="not started: the worker processes died"))
        except BaseException:
            # Ctrl-C reached the workers too: their running trials stop after the batch. A trial already
            # handed to a worker but not started would still run; the stop event makes it decline.
            pool.stop.set()
            raise

    def __enter__(self) -> "PoolSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            _close_pool(self.pool.crew, self.pool.driver_ends)


class _Pool:
    """The parent's side: the workers, their pipes, the queue of jobs (see run_pool)."""

    def __init__(self, queue: Feed, workers: int, gpus: List[str], on_result: Callable[[Result], None]):
        import multiprocessing as mp

        self.method = start_method(gpus)
        if self.method == "fork":
            _prepare_fork()
        self.ctx: Any = mp.get_context(self.method)
        self.slots, self.stop = self.ctx.Queue(), self.ctx.Event()
        self.workers, self.gpus, self.on_result = workers, gpus, on_result
        self.threads = threads_per_worker(workers)
        self.queue = queue  # a list, or a search's study asked as workers free up
        threads = self.threads
        self.queue.prepare = lambda job: job.replace(threads=threads)
        self.crew: List[_Worker] = []
        self.driver_ends: List[Any] = []  # this process's ends of the workers' pipes
        self.idle_deaths = 0  # workers that died holding no trial: replaced only so often

    def start(self, slot: int) -> None:
        self.slots.put(slot)
        here, there = self.ctx.Pipe()
        self.driver_ends.append(here)
        forked = self.method == "fork"
        inherited = tuple(self.driver_ends) if forked else ()  # a spawned worker inherits none
        proc = self.ctx.Process(target=worker.worker_main, name=f"dlhw-worker-{slot}",
                                args=(there, self.slots, self.stop, self.gpus, self.threads, forked, os.getpid(),
                                      self.workers, inherited))
        try:
            if forked:
                proc.start()
            else:
                with dlhw_main():
                    proc.start()
        finally:
            there.close()
        self.crew.append(_Worker(proc, here, slot))

    def next_round(self, queue: Feed, on_result: Callable[[Result], None]) -> None:
        """The next round's jobs for the workers kept from the last one; those that died idle in
        between are buried (and replaced, as jobs remain)."""
        threads = self.threads
        queue.prepare = lambda job: job.replace(threads=threads)
        self.queue, self.on_result = queue, on_result
        for w in list(self.crew):
            if not w.proc.is_alive():
                self.bury(w)

    def run_round(self, keep: bool) -> None:
        """Hand out and collect until the queue is empty and no worker holds a job; ``keep``: idle
        workers wait for another round instead of being told to stop."""
        while self.crew:
            self.hand_out(keep)
            if keep and not self.queue and all(w.job is None for w in self.crew):
                return
            self.collect()

    def bury(self, w: _Worker) -> None:
        w.proc.join(10)
        self.crew.remove(w)
        self.driver_ends.remove(w.conn)
        w.conn.close()
        if w.job is not None:  # each death with a trial ends that trial: replacements stay bounded
            job, w.job = w.job, None
            self.on_result(record_death(job, death_message(w.proc.exitcode)))
        else:
            self.idle_deaths += 1
        if self.queue and self.idle_deaths <= self.workers:
            self.start(w.slot)  # a replacement, on the same GPU slot

    def hand_out(self, keep: bool = False) -> None:
        """Each idle worker its next job; when there is none, None (stop), unless ``keep``."""
        for w in list(self.crew):
            if w.job is None and not w.stopping:
                try:
                    job = self.queue.peek()
                    if job is not None:
                        w.conn.send(job)
                        w.job = self.queue.take()
                    elif not keep:
                        w.conn.send(None)
                        w.stopping = True
                except OSError:  # died idle: the job stays queued
                    w.stopping = True

    def collect(self) -> None:
        """Wait for a result or a death; results to on_result, the dead buried (and replaced)."""
        from multiprocessing.connection import wait

        crew = self.crew
        ready = wait([w.conn for w in crew if w.job is not None] + [w.proc.sentinel for w in crew])
        for w in list(crew):
            if w.job is not None and w.conn in ready:
                try:
                    res = w.conn.recv()
                except (EOFError, OSError):
                    res = None
                if res is not None:
                    w.job = None
                    self.on_result(res)
                    continue
            if w.proc.sentinel in ready or not w.proc.is_alive():
                self.bury(w)


def _close_pool(crew: List[_Worker], driver_ends: List[Any]) -> None:
    """Wait for the workers to finish and exit, always before this process exits. A second
    Ctrl-C kills them (their files are written atomically; their runs show as stale, and resume)."""
    for w in crew:
        try:
            w.conn.send(None)  # after its current trial
        except OSError:
            pass
    try:
        for w in crew:
            w.proc.join()
    except KeyboardInterrupt:
        for w in crew:
            w.proc.kill()
        for w in crew:
            w.proc.join()
        raise
    finally:
        for w in crew:
            if w.conn in driver_ends:
                driver_ends.remove(w.conn)
            w.conn.close()
