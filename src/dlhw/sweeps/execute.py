"""Running one sweep trial, and the choices made before any run: devices, workers.

Every executor (in this process: :func:`run_serial`; a pool of worker processes:
:mod:`dlhw.sweeps.pool`; Ray: :mod:`dlhw.sweeps.ray_exec`) calls the same
``run_trial(job)`` and hands its Result (:mod:`dlhw.sweeps.records`) to the parent,
which alone writes sweep.json. A trial that fails or diverges is recorded and the
sweep goes on. The executors import this module, never the other way round;
:mod:`dlhw.sweeps.session` chooses one.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from dlhw.errors import ConfigError, DivergedError, DlhwError
from dlhw.rundir import layout
from dlhw.sweeps.records import Job, Result


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


def sweep_gpus(device: str) -> List[str]:
    """The GPU ids a sweep hands out, one per worker: none for --device cpu, the ones --device
    gpu:N names (ConfigError naming the visible ones when absent), else every visible GPU."""
    from dlhw.runtime.devices import parse_device

    kind, indices = parse_device(device)
    if kind == "cpu":
        return []
    gpus = visible_gpus()
    if indices is None:
        return gpus
    missing = [i for i in indices if i >= len(gpus)]
    if missing:
        shown = ", ".join(f"gpu:{i}" for i in range(len(gpus))) or "none"
        raise ConfigError(f"--device {device}: there is no gpu:{missing[0]}; visible GPUs: {shown}")
    return [gpus[i] for i in indices]


def trial_device(device: str) -> str:
    """The --device of a trial: in a pool worker that was given its own GPU (CUDA_VISIBLE_DEVICES),
    ``gpu:N`` is that GPU, now the worker's only one."""
    if os.environ.get("DLHW_WORKER_GPU") and str(device).lower().startswith("gpu:"):
        return "gpu"
    return device


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


WORKER_MEMORY = 2 * 1024 ** 3  # what ``--workers auto`` counts per worker process (TensorFlow, data, model)
AUTO_WORKERS_MAX = 8


def _available_memory() -> Optional[int]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def auto_workers(n_jobs: int, gpus: List[str]) -> int:
    """``--workers auto``, the default: one worker per GPU when there are GPUs; else one per CPU
    core, as many as the available memory holds at ``WORKER_MEMORY`` each, at most
    ``AUTO_WORKERS_MAX``, and never more than the trials to run. Small trials (a head on cached
    features, an MLP) spend most of their time in Python, one core each, so two at once on two cores
    finish a head search sooner (benchmarks/feature_cache.py); each worker gets its share of
    the CPU threads (and of the decoded-image memory budget), so large trials lose little."""
    if n_jobs <= 1:
        return 1
    if gpus:
        return max(1, min(n_jobs, len(gpus)))
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    memory = _available_memory()
    by_memory = max(1, memory // WORKER_MEMORY) if memory else cores
    return max(1, min(n_jobs, cores, by_memory, AUTO_WORKERS_MAX))


def parse_workers(value) -> "int | str":
    """``--workers``: ``auto`` or a whole number of 1 or more (ConfigError otherwise)."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"--workers: expected auto or a whole number of 1 or more; received '{str(value)[:40]}'")
    return n


# ---------------------------------------------------------------------- a trial
def _short(metrics: Dict[str, Any], split: str, key: str) -> Optional[float]:
    value = (metrics.get(split) or {}).get(key)
    return value if isinstance(value, (int, float)) else None


def run_trial(job: Job) -> Result:
    """Validate and train one trial into ``job.run_dir``; never raises for a failed trial."""
    from dlhw.config import validate
    from dlhw.runtime.console import is_quiet, set_quiet
    from dlhw.runtime.locks import FolderBusy
    from dlhw.rundir.status import RunStatus

    start = time.time()
    was_quiet = is_quiet()  # a trial run in this process (--workers 1, Ray local) gives it back as found
    run_dir = job.run_dir  # the trial's folder (``<name>-2``: see session)
    fields: Dict[str, Any] = {"status": "failed"}
    try:
        set_quiet(True)
        cfg = validate(job.raw, job.source)
        from dlhw.orchestration.experiment import run_experiment

        kwargs = dict(out=job.out, name=run_dir.name, overwrite=True, device=trial_device(job.device), quiet=True,
                      threads=job.threads)
        if job.report is not None:  # a search trial: each epoch goes to its pruner (sweeps.search)
            kwargs["prune"] = job.report
        if job.mlflow_parent is not None:
            kwargs["mlflow_parent"] = job.mlflow_parent  # one child run of the sweep's parent run per trial
        outcome = None
        if job.resume and "resume" in inspect.signature(run_experiment).parameters:
            try:  # an interrupted or stale trial continues from its last checkpoint
                outcome = run_experiment(cfg, resume=run_dir, **kwargs)
                fields["resumed"] = True
            except ConfigError as exc:
                if not str(exc).startswith("--resume"):
                    raise
                fields["resumed"] = False  # refused (config or data changed): train it from scratch
        if outcome is None:
            outcome = run_experiment(cfg, **kwargs)
        m = outcome.metrics
        if outcome.status == "paused":  # a scheduler's rung: promoted later, or left paused
            return Result(job.name, "paused", pid=os.getpid(), seconds=round(time.time() - start, 2),
                          train_seconds=m.get("train_seconds"), resumed=fields.get("resumed"),
                          pruned_at=m.get("paused_at"))
        if outcome.status == "pruned":
            fields.update(status="pruned", pruned_at=m.get("pruned_at"), train_seconds=m.get("train_seconds"),
                          error=f"pruned at epoch {m.get('pruned_at')}")
            return Result(job.name, pid=os.getpid(), seconds=round(time.time() - start, 2), **fields)
        fields.update(status="completed", train_seconds=m.get("train_seconds"), best_epoch=m.get("best_epoch"),
                      val_accuracy=_short(m, "val", "accuracy"), test_accuracy=_short(m, "test", "accuracy"),
                      val_loss=_short(m, "val", "loss"), params=(m.get("params") or {}).get("total"))
    except KeyboardInterrupt:
        raise
    except FolderBusy as exc:  # another process took the folder since the sweep looked: left to it
        return Result(job.name, "running", error=f"running elsewhere (pid {exc.pid or '?'})", pid=os.getpid(),
                      seconds=round(time.time() - start, 2))
    except DivergedError as exc:
        fields.update(status="diverged", error=str(exc).split(": ", 1)[-1])
    except DlhwError as exc:
        fields.update(error=" ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - any failure of one trial is recorded, the sweep goes on
        fields.update(error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}")
    finally:
        _clear_keras()
        set_quiet(was_quiet)
    if fields["status"] == "failed" and not (run_dir / layout.STATUS).exists():
        # failed before its run folder existed (bad data path, model error): leave a marked folder
        run_dir.mkdir(parents=True, exist_ok=True)
        RunStatus(run_dir).set("failed", name=job.name, error=fields.get("error"))
    return Result(job.name, pid=os.getpid(), seconds=round(time.time() - start, 2), **fields)


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


def run_serial(jobs, on_result: Callable[[Result], None]) -> None:
    """Each job in turn, in this process (``jobs``: a list, or a dlhw.sweeps.feed.Feed asked one at a time)."""
    threads = int(os.environ["DLHW_THREADS"]) if os.environ.get("DLHW_THREADS") else None
    for job in jobs:
        on_result(run_trial(job if job.threads is not None else job.replace(threads=threads)))
