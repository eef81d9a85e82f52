"""env.json: what a run ran on (Python, platform, package versions, devices), its seed,
git commit and dataset fingerprint."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from dlhw.rundir.folder import now


def git_commit(cwd: Optional[Path] = None) -> Optional[str]:
    import subprocess

    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        return res.stdout.strip() or None if res.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def _versions() -> tuple:
    """Installed versions, looked up once per process (each lookup scans sys.path: a sweep's
    trials would pay it every time)."""
    from importlib import metadata

    out: List[Tuple[str, Optional[str]]] = []
    for pkg in ("dlhw", "tensorflow", "keras", "numpy", "pandas", "scikit-learn", "matplotlib", "pydantic"):
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            out.append((pkg, None))
    return tuple(out)


def environment(seed: int, fingerprint: str, device: str) -> Dict[str, Any]:
    """Versions, devices, seed, git commit and dataset fingerprint, for env.json."""
    import platform
    import sys

    import tensorflow as tf

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": dict(_versions()),
        "devices": [d.name for d in tf.config.list_physical_devices()],
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "device_used": device,
        "seed": seed,
        "git_commit": git_commit(),
        "dataset_fingerprint": fingerprint,
        "created": now(),
    }
