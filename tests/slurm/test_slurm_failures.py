"""A cancelled task is shown with Slurm's state and is submitted again only when asked (--retry-failed)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.slurm.slurm_helpers import dlhw, slurm_cluster, write_sweep  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("slurm_cluster")
def test_a_cancelled_task_is_shown_and_retried_only_when_asked(tmp_path):
    sweep = write_sweep(tmp_path / "grid.yaml", {"training.optimizer.learning_rate": [0.001, 0.01]})
    args = ["sweep", str(sweep), "--out", str(tmp_path / "runs"), "--executor", "slurm", "--workers", "1"]
    sweep_dir = tmp_path / "runs" / "grid"
    first = dlhw(*args, "--detach")
    assert first.returncode == 0, first.stdout + first.stderr
    record = json.loads((sweep_dir / "slurm.json").read_text())["trials"]
    name, entry = sorted(record.items(), key=lambda kv: kv[1]["task"])[-1]  # the second task: still pending
    cancel = subprocess.run(["scancel", entry["task"]], capture_output=True, text=True)
    assert cancel.returncode == 0, cancel.stderr

    second = dlhw(*args)
    assert second.returncode == 1, second.stdout[-2000:] + second.stderr[-2000:]  # a trial did not complete
    assert f"{name}: failed" in second.stdout and "Slurm: CANCELLED" in second.stdout, second.stdout
    assert "submitted" not in second.stdout  # not retried unasked
    third = dlhw(*args)
    assert third.returncode == 1 and "not retried (--retry-failed retries it)" in third.stdout, third.stdout

    fourth = dlhw(*args, "--retry-failed")
    assert fourth.returncode == 0, fourth.stdout[-2000:] + fourth.stderr[-2000:]
    assert "--retry-failed: submitting it again" in fourth.stdout, fourth.stdout
    after = json.loads((sweep_dir / "slurm.json").read_text())["trials"]
    assert after[name]["submissions"] == 2 and after[name]["task"] != entry["task"]
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert sorted(t["status"] for t in manifest["trials"]) == ["completed", "completed"]
