"""What a sweep decides before any trial runs: the GPUs it hands out, how many workers, threads each.

No TensorFlow: GPUs are counted from CUDA_VISIBLE_DEVICES or ``nvidia-smi -L``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import List, Optional

from dlhw.errors import ConfigError


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
