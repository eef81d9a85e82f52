"""Helpers of the Slurm tests, and their fixture (imported by each test module: a conftest.py here would shadow
tests/conftest.py for the modules that import it as `conftest`). They run on a real single-node Slurm
(tests/slurm/start_local_cluster.sh starts it: Debian's slurm-wlm and munge, as root) and skip, with the reason,
only where that cluster cannot be started."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.conftest import DLHW, REPO, without_timings
from tests.conftest import wait_for as poll

SCRIPT = Path(__file__).with_name("start_local_cluster.sh")
TRIAL: Dict[str, Any] = {  # a trial that trains in seconds; 1 CPU and 1 GB so two fit on a 2-core node
    "seed": 0,
    "dataset": {"source": "sklearn", "name": "digits", "max_samples": 300},
    "model": {"type": "mlp", "layers": [{"units": 16}]},
    "training": {"epochs": 2, "batch_size": 64, "tensorboard": False},
    "slurm": {"cpus_per_task": 1, "mem": "1G", "time": "20"},
}


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The local cluster, started if needed; skips (with the reason) where it cannot be."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        pytest.skip('submitit is not installed (pip install "dlhw[slurm]")')
    try:
        res = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"the local Slurm cluster could not be started: {exc}")
    if res.returncode != 0:
        pytest.skip(f"the local Slurm cluster could not be started: {(res.stderr or res.stdout).strip()[-300:]}")
    return subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True).stdout.strip()


def env() -> Dict[str, str]:
    """The driver's environment; the Slurm tasks inherit it (sbatch --export=ALL): this tree's dlhw."""
    path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, DLHW_THREADS="1")


def dlhw(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*DLHW, *args], capture_output=True, text=True, env=env(), timeout=timeout, cwd=REPO)


def write_sweep(path: Path, grid: Dict[str, Any], **extra: Any) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"name": "tiny", **TRIAL, **extra, "grid": grid}, sort_keys=False))
    return path


def metrics(run_dir: Path) -> Dict[str, Any]:
    data = json.loads((run_dir / "metrics.json").read_text())
    return without_timings({k: v for k, v in data.items() if k not in ("run_dir", "finished", "started")})


def wait_for(condition, timeout: float, what: str, every: float = 0.2):
    """tests.conftest.wait_for, failing with ``what`` on timeout."""
    value = poll(condition, timeout, every)
    if not value:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    return value


def squeue(job: str) -> str:
    return subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i %T %r", "-j", job.split("_")[0]],
                          capture_output=True, text=True).stdout

