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
import time
from typing import Any, Callable, List, Optional

from dlhw.errors import DlhwError
from dlhw.sweeps.executors import resources
from dlhw.sweeps.executors.resources import threads_per_worker
from dlhw.sweeps.records import Job, Result

PARENT_GRACE = 30.0  # seconds a worker whose sweep died may take to stop its trial before it exits anyway


def end_with_parent(parent: int) -> None:
    """When the sweep process dies, SIGTERM this worker: a running trial stops after its batch
    (status interrupted: the next sweep resumes it); an idle worker ends at once. Linux: the
    kernel sends it (PR_SET_PDEATHSIG). Everywhere, a thread also watches the parent pid, and
    ends the worker outright if it is still alive ``PARENT_GRACE`` s later."""
    import signal
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:  # re-parented (to init or a subreaper) once the sweep is gone
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(PARENT_GRACE)
        os._exit(128 + int(signal.SIGTERM))

    threading.Thread(target=watch, name="dlhw-parent-watch", daemon=True).start()


def start_method(gpus: List[str] = ()) -> str:
    """'fork' where forking after a bare TensorFlow import is safe, else 'spawn' (see the module doc).
    ``gpus``: those the sweep already found; without any, the machine is asked (--device cpu)."""
    if os.environ.get("DLHW_WORKER_START", "").strip().lower() == "spawn":
        return "spawn"
    if not sys.platform.startswith("linux") or "tensorflow" in sys.modules or gpus or resources.visible_gpus():
        return "spawn"
    return "fork"


def _import_keras() -> None:
    from dlhw.runtime.tfruntime import import_tensorflow

    import_tensorflow()
    import keras  # noqa: F401


def _prepare_fork() -> None:
    """Import TensorFlow and Keras here, once, for the workers forked next to share."""
    import gc

    _import_keras()
    gc.freeze()  # the workers' collector leaves these objects alone, so their pages stay shared
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered is inherited and written twice


def _worker_init(slots, gpus: List[str], threads: int, forked: bool = False,
                 parent: Optional[int] = None, share: int = 1) -> None:
    """Runs once per worker: its threads, its GPU, TensorFlow imported up front; with ``parent``
    (the sweep's pid), the worker ends when the sweep process dies."""
    import signal

    if parent is not None:
        end_with_parent(parent)

    # Ctrl-C reaches the workers with the parent (one process group). Inside a trial the run's own
    # handler stops it after the batch and records it as interrupted. Between trials it is only
    # noted: the worker declines its next trial, and the parent hands out no more.
    from dlhw.runtime.signals import note_between_runs

    signal.signal(signal.SIGINT, note_between_runs)
    os.environ["DLHW_THREADS"] = str(threads)
    if share > 1 and not os.environ.get("DLHW_CACHE_MEMORY"):  # the decoded-image budget, shared by the workers
        from dlhw.data.image_cache import memory_budget

        os.environ["DLHW_CACHE_MEMORY"] = str(memory_budget() // share)
    slot = slots.get()
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        os.environ["DLHW_WORKER_GPU"] = gpus[slot % len(gpus)]  # a trial's --device gpu:N is this GPU
    import atexit

    if forked:
        # The inherited exit hooks are the parent's. A forked worker ends with os._exit (that is
        # how multiprocessing ends it), after its finalizers: the last of them runs the hooks this
        # worker registers itself, such as autograph removing its temporary files.
        from multiprocessing.util import Finalize

        atexit._clear()
        Finalize(None, atexit._run_exitfuncs, exitpriority=-100)
        return
    from dlhw.runtime.fastexit import exit_now

    # Registered before anything else, so it runs last: once TensorFlow's and autograph's exit
    # hooks have run, an idle worker ends at once instead of spending ~1.2 s on module teardown.
    atexit.register(exit_now, 0, False)
    _import_keras()  # paid once per worker, not once per trial


def _pool_trial(job: Job, stop=None) -> Result:
    """run_trial in a worker: an interrupted trial comes back as a result, never as an exception
    (an exception from a worker crosses the pipe pickled, and the pool treats one it cannot
    rebuild as a dead worker), and no trial starts once the parent has been interrupted (``stop``,
    the pool's event, is set) or a signal reached this worker between trials."""
    from dlhw.runtime import signals

    if (stop is not None and stop.is_set()) or signals.STATE.requested is not None:
        signals.STATE.requested = None
        return Result(job.name, "interrupted", error="the sweep was interrupted", pid=os.getpid())
    try:
        from dlhw.sweeps.executors.trial import run_trial

        return run_trial(job)
    except KeyboardInterrupt as exc:
        return Result(job.name, "interrupted", error=" ".join(str(exc).split()) or "interrupted", pid=os.getpid())


def _worker_main(conn, slots, stop, gpus: List[str], threads: int, forked: bool, parent: int, share: int = 1,
                 driver_ends: tuple = ()) -> None:
    """A worker: trials from ``conn``, one at a time, each result sent back; None (or the sweep
    gone) ends it. ``driver_ends``: the sweep's ends of every worker's pipe, inherited by fork;
    left open here, a dead sweep would never read as an EOF."""
    for end in driver_ends:
        end.close()
    _worker_init(slots, gpus, threads, forked, parent, share)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        result = _pool_trial(job, stop)
        try:
            conn.send(result)
        except OSError:
            return


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
    from dlhw.runtime import locks
    from dlhw.rundir.folder import discard_results
    from dlhw.rundir.status import RunStatus

    run_dir = job.run_dir
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with locks.acquire(run_dir):  # the dead worker's lock went with it
            discard_results(run_dir)
            RunStatus(run_dir).set("failed", name=run_dir.name, error=message)
    except (DlhwError, OSError):
        pass  # another process holds the folder, or it cannot be written: sweep.json still says it
    return Result(job.name, "failed", error=message)


class _Worker:
    def __init__(self, proc, conn, slot: int):
        self.proc, self.conn, self.slot = proc, conn, slot
        self.job: Optional[Job] = None
        self.stopping = False


def run_pool(jobs: "List[Job] | Any", workers: int, gpus: List[str], on_result: Callable[[Result], None]) -> None:
    """Train ``jobs`` (in order; a list or a dlhw.sweeps.feed.Feed) on ``workers`` processes. A worker
    that dies fails only the trial it had (recorded with the signal) and is replaced while trials remain."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    method = start_method(gpus)
    if method == "fork":
        _prepare_fork()
    ctx = mp.get_context(method)
    slots, stop = ctx.Queue(), ctx.Event()
    threads = threads_per_worker(workers)
    from dlhw.sweeps.feed import Feed

    queue = Feed.of(jobs)  # a list, or a search's study asked as workers free up
    queue.prepare = lambda job: job.replace(threads=threads)
    crew: List[_Worker] = []
    driver_ends: List[Any] = []  # this process's ends of the workers' pipes
    idle_deaths = [0]  # workers that died holding no trial: replaced only so often

    def start(slot: int) -> None:
        slots.put(slot)
        here, there = ctx.Pipe()
        driver_ends.append(here)
        inherited = tuple(driver_ends) if method == "fork" else ()  # a spawned worker inherits none
        proc = ctx.Process(target=_worker_main, name=f"dlhw-worker-{slot}",
                           args=(there, slots, stop, gpus, threads, method == "fork", os.getpid(), workers, inherited))
        try:
            proc.start()
        finally:
            there.close()
        crew.append(_Worker(proc, here, slot))

    def bury(w: _Worker) -> None:
        w.proc.join(10)
        crew.remove(w)
        driver_ends.remove(w.conn)
        w.conn.close()
        if w.job is not None:  # each death with a trial ends that trial: replacements stay bounded
            job, w.job = w.job, None
            on_result(record_death(job, death_message(w.proc.exitcode)))
        else:
            idle_deaths[0] += 1
        if queue and idle_deaths[0] <= workers:
            start(w.slot)  # a replacement, on the same GPU slot

    try:
        for i in range(workers):
            start(i)
        while crew:
            for w in list(crew):
                if w.job is None and not w.stopping:
                    try:
                        job = queue.peek()
                        if job is not None:
                            w.conn.send(job)
                            w.job = queue.take()
                        else:
                            w.conn.send(None)
                            w.stopping = True
                    except OSError:  # died idle: the job stays queued
                        w.stopping = True
            ready = wait([w.conn for w in crew if w.job is not None] + [w.proc.sentinel for w in crew])
            for w in list(crew):
                if w.job is not None and w.conn in ready:
                    try:
                        res = w.conn.recv()
                    except (EOFError, OSError):
                        res = None
                    if res is not None:
                        w.job = None
                        on_result(res)
                        continue
                if w.proc.sentinel in ready or not w.proc.is_alive():
                    bury(w)
        for job in queue.left():  # every worker died before taking these
            on_result(Result(job.name, "failed", error="not started: the worker processes died"))
    except BaseException:
        # Ctrl-C reached the workers too: their running trials stop after the batch. A trial already
        # handed to a worker but not started would still run; the stop event makes it decline.
        stop.set()
        raise
    finally:
        _close_pool(crew, driver_ends)


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
