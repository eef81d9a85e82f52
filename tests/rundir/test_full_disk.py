"""A run on a disk that fills up, for real: a small tmpfs with only so many KB free.

At every free size: one error line naming the file that could not be written, no traceback, no
crash, status.json says failed (or stderr says it could not be written either), no temporary
files, no metrics.json or model.keras; after freeing space, --resume ends identical to a run
that never ran out of space.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import without_timings

DLHW = str(Path(sys.executable).with_name("dlhw"))
CONFIG = {
    "name": "disk", "seed": 4,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 24, "dropout": 0.2}]},
    "training": {"epochs": 2, "batch_size": 64},
}


def _mount_tmpfs(path: Path, size_kb: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                         capture_output=True, text=True)
    return res.returncode == 0


@pytest.fixture
def disk(tmp_path):
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, 2048):
        pytest.skip("a small tmpfs cannot be mounted here (needs root and mount permission)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path, free_kb: int) -> Path:
    """Leave ``free_kb`` KB free on the tmpfs."""
    st = os.statvfs(disk)
    filler = disk / "filler"
    size = st.f_bavail * st.f_frsize - free_kb * 1024
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, size))
    return filler


def dlhw(*args, env=None):
    return subprocess.run([DLHW, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    config = root / "disk.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    res = dlhw("run", str(config), "--out", str(root / "runs"), "-q", env={"DLHW_CACHE_DIR": str(root / "cache")})
    assert res.returncode == 0, res.stderr
    run = root / "runs" / "disk"
    return config, json.loads((run / "metrics.json").read_text()), (run / "history.csv").read_text()


def check_full_disk_run(disk: Path, tmp_path: Path, reference, free_kb: int) -> str:
    config, metrics, history = reference
    filler = fill(disk, free_kb)
    out = disk / "runs"
    res = dlhw("run", str(config), "--out", str(out), "-q", env={"DLHW_CACHE_DIR": str(tmp_path / "cache")})
    run = out / "disk"
    if res.returncode == 0:  # enough room after all
        assert (run / "metrics.json").exists()
        return "completed"
    assert res.returncode == 1, (res.returncode, res.stderr[-3000:])  # never a crash (139) or a hang
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr[-3000:]
    assert "No space left on device" in errors[0] or "cannot write" in errors[0], errors[0]
    assert "Traceback" not in res.stderr
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], sorted(out.rglob("*"))
    assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()
    status = json.loads((run / "status.json").read_text()) if (run / "status.json").exists() else None
    if status is not None and status["status"] != "failed":
        assert "could not record status" in res.stderr, (status, res.stderr[-2000:])
    filler.unlink()  # space freed
    if status is None:
        return "failed before the run could be recorded"
    again = dlhw("run", "--resume", str(run), "-q", env={"DLHW_CACHE_DIR": str(tmp_path / "cache")})
    assert again.returncode == 0, again.stderr[-3000:]
    assert without_timings(json.loads((run / "metrics.json").read_text())) == without_timings(metrics)
    assert (run / "history.csv").read_text() == history
    return errors[0]


@pytest.mark.parametrize("free_kb", [48, pytest.param(160, marks=pytest.mark.slow)])  # issue 28: 58 s each
def test_a_full_disk_is_one_line_and_resumes_identical(disk, tmp_path, reference, free_kb):
    check_full_disk_run(disk, tmp_path, reference, free_kb)


@pytest.mark.slow
@pytest.mark.parametrize("free_kb", [4, 12, 24, 36, 60, 80, 100, 120, 200, 240, 320])
def test_a_full_disk_at_every_size(disk, tmp_path, reference, free_kb):
    check_full_disk_run(disk, tmp_path, reference, free_kb)
