"""The child side of the local worker pool (:mod:`dlhw.sweeps.executors.pool`): one worker process.

A worker is started with this module as its ``__main__`` (spawned workers import it, never the
caller's script: a script without an ``if __name__ == "__main__"`` guard, ``python -`` from
stdin, ``python -c`` and notebooks all work), sets up its threads, GPU and TensorFlow once, then
trains the trials its pipe brings, one at a time, sending each Result back. It ends when the pipe
says so, or when the sweep process dies (:func:`end_with_parent`).
"""

from __future__ import annotations

import os
import sys
import time
from typing import List, Optional

from dlhw.rundir.states import Status
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


def import_keras() -> None:
    from dlhw.runtime.tfruntime import import_tensorflow

    import_tensorflow()
    import keras  # noqa: F401


def worker_init(slots, gpus: List[str], threads: int, forked: bool = False,
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
    import_keras()  # paid once per worker, not once per trial


def pool_trial(job: Job, stop=None) -> Result:
    """run_trial in a worker: an interrupted trial comes back as a result, never as an exception
    (an exception from a worker crosses the pipe pickled, and the pool treats one it cannot
    rebuild as a dead worker), and no trial starts once the parent has been interrupted (``stop``,
    the pool's event, is set) or a signal reached this worker between trials."""
    from dlhw.runtime import signals

    if (stop is not None and stop.is_set()) or signals.STATE.requested is not None:
        signals.STATE.requested = None
        return Result(job.name, Status.INTERRUPTED, error="the sweep was interrupted", pid=os.getpid())
    try:
        from dlhw.sweeps.executors.trial import run_trial

        return run_trial(job)
    except KeyboardInterrupt as exc:
        return Result(job.name, Status.INTERRUPTED, error=" ".join(str(exc).split()) or "interrupted", pid=os.getpid())


def worker_main(conn, slots, stop, gpus: List[str], threads: int, forked: bool, parent: int, share: int = 1,
                 driver_ends: tuple = ()) -> None:
    """A worker: trials from ``conn``, one at a time, each result sent back; None (or the sweep
    gone) ends it. ``driver_ends``: the sweep's ends of every worker's pipe, inherited by fork;
    left open here, a dead sweep would never read as an EOF."""
    for end in driver_ends:
        end.close()
    worker_init(slots, gpus, threads, forked, parent, share)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        result = pool_trial(job, stop)
        try:
            conn.send(result)
        except OSError:
            return
