"""Running a sweep's trials: in this process, in a pool of worker processes, or on Ray.

Every executor calls the same ``run_trial(job)`` and hands its result dict to
the parent, which alone writes sweep.json. A trial that fails or diverges is
recorded and the sweep goes on. Worker processes are reused for many trials;
each gets its share of the CPU threads and, when GPUs exist, one GPU of its own.

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

import inspect
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.errors import ConfigError, DivergedError, DlhwError

RAY_HINT = 'pip install "dlhw[ray]"'

Job = Dict[str, Any]
Result = Dict[str, Any]


# -------------------------------------------------------------------- devices
def visible_gpus() -> List[str]:
    """GPU ids this machine offers, without importing TensorFlow (CUDA_VISIBLE_DEVICES, else nvidia-smi)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and not g.strip().startswith("-")]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        res = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(res.stdout.splitlines()) if line.startswith("GPU ")]


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


# ---------------------------------------------------------------------- a trial
def _short(metrics: Dict[str, Any], split: str, key: str) -> Optional[float]:
    value = (metrics.get(split) or {}).get(key)
    return value if isinstance(value, (int, float)) else None


def run_trial(job: Job) -> Result:
    """Validate and train one trial into ``job['out']/job['name']``; never raises for a failed trial."""
    from dlhw.config import validate
    from dlhw.console import set_quiet
    from dlhw.runs import RunStatus

    from dlhw.locks import FolderBusy

    start = time.time()
    name = job["name"]
    run_dir = Path(job["out"]) / job.get("folder", name)  # the trial's folder (``<name>-2``: see session)
    result: Result = {"name": name, "status": "failed", "error": None, "pid": os.getpid()}
    try:
        set_quiet(True)
        cfg = validate(job["raw"], job["source"])
        from dlhw.pipeline import run_experiment

        kwargs = dict(out=job["out"], name=run_dir.name, overwrite=True, device=job.get("device", "auto"),
                      quiet=True, threads=job.get("threads"))
        outcome = None
        if job.get("resume") and "resume" in inspect.signature(run_experiment).parameters:
            try:  # an interrupted or stale trial continues from its last checkpoint
                outcome = run_experiment(cfg, resume=run_dir, **kwargs)
                result["resumed"] = True
            except ConfigError as exc:
                if not str(exc).startswith("--resume"):
                    raise
                result["resumed"] = False  # refused (config or data changed): train it from scratch
        if outcome is None:
            outcome = run_experiment(cfg, **kwargs)
        m = outcome.metrics
        result.update(status="completed", train_seconds=m.get("train_seconds"), best_epoch=m.get("best_epoch"),
                      val_accuracy=_short(m, "val", "accuracy"), test_accuracy=_short(m, "test", "accuracy"),
                      val_loss=_short(m, "val", "loss"), params=(m.get("params") or {}).get("total"))
    except KeyboardInterrupt:
        raise
    except FolderBusy as exc:  # another process took the folder since the sweep looked: left to it
        result.update(status="running", error=f"running elsewhere (pid {exc.pid or '?'})")
        result["seconds"] = round(time.time() - start, 2)
        return result
    except DivergedError as exc:
        result.update(status="diverged", error=str(exc).split(": ", 1)[-1])
    except DlhwError as exc:
        result.update(error=" ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - any failure of one trial is recorded, the sweep goes on
        result.update(error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}")
    finally:
        _clear_keras()
    if result["status"] == "failed" and not (run_dir / "status.json").exists():
        # failed before its run folder existed (bad data path, model error): leave a marked folder
        run_dir.mkdir(parents=True, exist_ok=True)
        RunStatus(run_dir).set("failed", name=name, error=result["error"])
    result["seconds"] = round(time.time() - start, 2)
    return result


def _clear_keras() -> None:
    if "keras" in sys.modules:
        try:
            # Layer names restart for the next trial. The full gc.collect() (free_memory) costs
            # ~0.35 s after a 600-layer backbone model and Python's collector runs anyway; it is
            # kept where device memory held by unreachable models matters: on a GPU.
            tf = sys.modules.get("tensorflow")
            gpu = bool(tf is not None and tf.config.list_logical_devices("GPU"))
            sys.modules["keras"].backend.clear_session(free_memory=gpu)
        except Exception:  # noqa: BLE001 - best effort between trials
            pass


_STOP = None  # in a worker: the pool's stop event, set by the parent when the sweep is interrupted


def _pool_trial(job: Job) -> Result:
    """run_trial in a worker: an interrupted trial comes back as a result, never as an exception
    (an exception from a worker crosses the pipe pickled, and the pool treats one it cannot
    rebuild as a dead worker), and no trial starts once the parent has been interrupted."""
    from dlhw.training import signals

    base: Result = {"name": job["name"], "status": "interrupted", "pid": os.getpid()}
    if (_STOP is not None and _STOP.is_set()) or signals.STATE.requested is not None:
        signals.STATE.requested = None
        return {**base, "error": "the sweep was interrupted"}
    try:
        return run_trial(job)
    except KeyboardInterrupt as exc:
        return {**base, "error": " ".join(str(exc).split()) or "interrupted"}


# ---------------------------------------------------------------- worker pool
def start_method(gpus: List[str] = ()) -> str:
    """'fork' where forking after a bare TensorFlow import is safe, else 'spawn' (see the module doc).
    ``gpus``: those the sweep already found; without any, the machine is asked (--device cpu)."""
    if os.environ.get("DLHW_WORKER_START", "").strip().lower() == "spawn":
        return "spawn"
    if not sys.platform.startswith("linux") or "tensorflow" in sys.modules or gpus or visible_gpus():
        return "spawn"
    return "fork"


def _import_keras() -> None:
    from dlhw.tfruntime import import_tensorflow

    import_tensorflow()
    import keras  # noqa: F401


def _prepare_fork() -> None:
    """Import TensorFlow and Keras here, once, for the workers forked next to share."""
    import gc

    _import_keras()
    gc.freeze()  # the workers' collector leaves these objects alone, so their pages stay shared
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered is inherited and written twice


def _worker_init(slots, stop, gpus: List[str], threads: int, forked: bool = False,
                 parent: Optional[int] = None) -> None:
    """Runs once per worker: its threads, its GPU, TensorFlow imported up front; with ``parent``
    (the sweep's pid), the worker ends when the sweep process dies."""
    import signal

    global _STOP
    _STOP = stop
    if parent is not None:
        _end_with_parent(parent)

    # Ctrl-C reaches the workers with the parent (one process group). Inside a trial the run's own
    # handler stops it after the batch and records it as interrupted. Between trials it is only
    # noted: the worker declines its next trial, and the parent hands out no more.
    from dlhw.training.signals import note_between_runs

    signal.signal(signal.SIGINT, note_between_runs)
    os.environ["DLHW_THREADS"] = str(threads)
    slot = slots.get()
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    import atexit

    if forked:
        # The inherited exit hooks are the parent's. A forked worker ends with os._exit (that is
        # how multiprocessing ends it), after its finalizers: the last of them runs the hooks this
        # worker registers itself, such as autograph removing its temporary files.
        from multiprocessing.util import Finalize

        atexit._clear()
        Finalize(None, atexit._run_exitfuncs, exitpriority=-100)
        return
    from dlhw.fastexit import exit_now

    # Registered before anything else, so it runs last: once TensorFlow's and autograph's exit
    # hooks have run, an idle worker ends at once instead of spending ~1.2 s on module teardown.
    atexit.register(exit_now, 0, False)
    _import_keras()  # paid once per worker, not once per trial


PARENT_GRACE = 30.0  # seconds a worker whose sweep died may take to stop its trial before it exits anyway


def _end_with_parent(parent: int) -> None:
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


_DRIVER_ENDS: List[Any] = []  # the driver's ends of the workers' pipes, closed in each forked worker


def _worker_main(conn, slots, stop, gpus: List[str], threads: int, forked: bool, parent: int) -> None:
    """A worker: trials from ``conn``, one at a time, each result sent back; None (or the sweep
    gone) ends it."""
    for end in _DRIVER_ENDS:  # inherited by fork: without them, a dead sweep is seen as an EOF
        end.close()
    _worker_init(slots, stop, gpus, threads, forked, parent)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        result = _pool_trial(job)
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
    from dlhw import locks
    from dlhw.runs import RunStatus, discard_results

    run_dir = Path(job["out"]) / job.get("folder", job["name"])
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with locks.acquire(run_dir):  # the dead worker's lock went with it
            discard_results(run_dir)
            RunStatus(run_dir).set("failed", name=run_dir.name, error=message)
    except (DlhwError, OSError):
        pass  # another process holds the folder, or it cannot be written: sweep.json still says it
    return {"name": job["name"], "status": "failed", "error": message}


class _Worker:
    def __init__(self, proc, conn, slot: int):
        self.proc, self.conn, self.slot = proc, conn, slot
        self.job: Optional[Job] = None
        self.stopping = False


def run_pool(jobs: List[Job], workers: int, gpus: List[str], on_result: Callable[[Result], None]) -> None:
    """Train ``jobs`` (in order) on ``workers`` processes. A worker that dies fails only the trial
    it had (recorded with the signal) and is replaced while trials remain."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    method = start_method(gpus)
    if method == "fork":
        _prepare_fork()
    ctx = mp.get_context(method)
    slots, stop = ctx.Queue(), ctx.Event()
    threads = threads_per_worker(workers)
    for job in jobs:
        job["threads"] = threads
    queue = list(jobs)
    crew: List[_Worker] = []

    def start(slot: int) -> None:
        slots.put(slot)
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, name=f"dlhw-worker-{slot}",
                           args=(there, slots, stop, gpus, threads, method == "fork", os.getpid()))
        _DRIVER_ENDS.append(here)
        try:
            proc.start()
        finally:
            there.close()
        crew.append(_Worker(proc, here, slot))

    def bury(w: _Worker) -> None:
        w.proc.join(10)
        crew.remove(w)
        _DRIVER_ENDS.remove(w.conn)
        w.conn.close()
        if w.job is not None:
            job, w.job = w.job, None
            on_result(record_death(job, death_message(w.proc.exitcode)))
        if queue:
            start(w.slot)  # a replacement, on the same GPU slot

    try:
        for i in range(workers):
            start(i)
        while crew:
            for w in list(crew):
                if w.job is None and not w.stopping:
                    try:
                        if queue:
                            w.conn.send(queue[0])
                            w.job = queue.pop(0)
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
    except BaseException:
        # Ctrl-C reached the workers too: their running trials stop after the batch. A trial already
        # handed to a worker but not started would still run; the stop event makes it decline.
        stop.set()
        raise
    finally:
        _close_pool(crew)


def _close_pool(crew: List[_Worker]) -> None:
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
            if w.conn in _DRIVER_ENDS:
                _DRIVER_ENDS.remove(w.conn)
            w.conn.close()


def run_serial(jobs: List[Job], on_result: Callable[[Result], None]) -> None:
    threads = int(os.environ["DLHW_THREADS"]) if os.environ.get("DLHW_THREADS") else None
    for job in jobs:
        job.setdefault("threads", threads)
        on_result(run_trial(job))


# -------------------------------------------------------------------------- ray
def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: Ray is not installed; install it with: {RAY_HINT}") from None
    return ray


def run_ray(jobs: List[Job], workers: int, address: Optional[str], on_result: Callable[[Result], None]) -> None:
    """Each trial a Ray task; run folders land in the same OUT (a shared filesystem on a real cluster)."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        import logging

        kwargs: Dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = os.cpu_count() or 1
        try:
            ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - a wrong address, a cluster that is down
            raise ConfigError(f"--address: cannot connect to Ray at {address or 'a new local instance'}: "
                              f"{' '.join(str(exc).split())[:300]}") from None
        started = True
    try:
        resources = ray.cluster_resources()
        threads = threads_per_worker(workers) if not address else max(1, int(resources.get("CPU", 1) // max(1, workers)))
        gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        task = ray.remote(run_trial).options(num_cpus=threads, num_gpus=gpus, max_retries=0)
        refs = {}
        for job in jobs:
            job["threads"] = threads
            refs[task.remote(job)] = job
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                job = refs.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a task or node died
                    res = {"name": job["name"], "status": "failed",
                           "error": f"Ray task failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
                on_result(res)
    except KeyboardInterrupt:
        for ref in list(refs):
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
