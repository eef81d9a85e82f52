"""The driver is not a babysitter: --detach returns after submitting, Ctrl-C stops watching and cancels
nothing, and the same command run again reattaches without submitting a second copy of anything."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.conftest import DLHW
from tests.slurm.slurm_helpers import REPO, dlhw, env, slurm_cluster, squeue, wait_for, write_sweep  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("slurm_cluster")
def test_detach_ctrl_c_and_rerun_reattach_without_duplicates(tmp_path):
    sweep = write_sweep(tmp_path / "grid.yaml", {"training.optimizer.learning_rate": [0.001, 0.01]})
    args = ["sweep", str(sweep), "--out", str(tmp_path / "runs"), "--executor", "slurm", "--workers", "1"]
    sweep_dir = tmp_path / "runs" / "grid"

    first = dlhw(*args, "--detach")  # submits and returns
    assert first.returncode == 0, first.stdout + first.stderr
    assert "slurm: detached; 2 trial(s) in the Slurm queue" in first.stdout, first.stdout
    record = json.loads((sweep_dir / "slurm.json").read_text())["trials"]
    tasks = sorted(e["task"] for e in record.values())
    assert len(tasks) == 2 and len({t.split("_")[0] for t in tasks}) == 1

    # reattach, then Ctrl-C while it watches: the tasks stay in the queue
    proc = subprocess.Popen([*DLHW, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env(), cwd=REPO)
    lines = []
    wait_for(lambda: lines.append(proc.stdout.readline()) or "watching it" in lines[-1], 120, "the reattach line")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    text = "".join(lines) + out
    assert "already in the Slurm queue as" in text, text
    assert "stopped watching" in text and "nothing was cancelled" in text, text
    states = squeue(tasks[0])
    assert "CANCELLED" not in states, states

    third = dlhw(*args)  # watches them to the end; submits nothing new
    assert third.returncode == 0, third.stdout[-2000:] + third.stderr[-2000:]
    assert "submitted" not in third.stdout, third.stdout
    after = json.loads((sweep_dir / "slurm.json").read_text())["trials"]
    assert sorted(e["task"] for e in after.values()) == tasks  # the same two tasks, never a second copy
    assert all(e["submissions"] == 1 for e in after.values()), after
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert sorted(t["status"] for t in manifest["trials"]) == ["completed", "completed"]
    for t in manifest["trials"]:  # each trained once: one start in its record
        starts = json.loads((sweep_dir / t["run_dir"] / "slurm.json").read_text())["starts"]
        assert len(starts) == 1, starts


@pytest.mark.usefixtures("slurm_cluster")
def test_report_works_while_the_jobs_run(tmp_path):
    sweep = write_sweep(tmp_path / "grid.yaml", {"training.optimizer.learning_rate": [0.001, 0.01]},
                        training={"epochs": 60, "batch_size": 16, "tensorboard": False})
    sweep_dir = tmp_path / "runs" / "grid"
    res = dlhw("sweep", str(sweep), "--out", str(tmp_path / "runs"), "--executor", "slurm", "--detach")
    assert res.returncode == 0, res.stderr

    def running():
        for entry in json.loads((sweep_dir / "slurm.json").read_text())["trials"].values():
            status = sweep_dir / entry["folder"] / "status.json"
            try:
                if json.loads(status.read_text()).get("status") == "running":
                    return True
            except (OSError, ValueError):
                pass
        return False

    wait_for(running, 240, "a trial training")
    report = dlhw("report", str(sweep_dir), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stdout + report.stderr
    assert (tmp_path / "report" / "report.html").exists()
    done = dlhw("sweep", str(sweep), "--out", str(tmp_path / "runs"), "--executor", "slurm")  # reattach to the end
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
