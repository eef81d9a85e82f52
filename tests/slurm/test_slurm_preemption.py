"""Slurm's warning signal mid-training: the task checkpoints, requeues itself (that task only) and ends
exactly as an uninterrupted run does."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from tests.slurm.slurm_helpers import dlhw, metrics, slurm_cluster, wait_for, write_sweep  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("slurm_cluster")
def test_usr2_mid_training_requeues_the_task_and_results_are_identical(tmp_path):
    import dlhw as api

    sweep = write_sweep(tmp_path / "one.yaml", {"training.optimizer.learning_rate": [0.01]},
                        dataset={"source": "sklearn", "name": "digits"},
                        training={"epochs": 150, "batch_size": 1, "tensorboard": False})
    # all 1,797 digits at batch 1: about 1,100 steps an epoch, so the 150 epochs outlast the signal on a fast
    # idle machine too (300 samples at batch 16 could train all their epochs before status.json showed epoch 2)
    sweep_dir = tmp_path / "slurm" / "one"
    sent = {}

    def preempt():  # once status.json shows epoch 2: the signal Slurm sends before a time limit
        def ready():
            record = sweep_dir / "slurm.json"
            if not record.exists():
                return None
            for entry in json.loads(record.read_text())["trials"].values():
                status = sweep_dir / entry["folder"] / "status.json"
                try:
                    epoch = json.loads(status.read_text()).get("epoch") or 0
                except (OSError, ValueError):
                    continue
                if epoch >= 2:
                    return entry["task"]
            return None

        task = wait_for(ready, 300, "two epochs of the trial")
        sent["res"] = subprocess.run(["scancel", "--signal=USR2", task], capture_output=True, text=True)

    thread = threading.Thread(target=preempt, daemon=True)
    thread.start()
    res = dlhw("sweep", str(sweep), "--out", str(tmp_path / "slurm"), "--executor", "slurm")
    thread.join(5)
    assert sent["res"].returncode == 0, sent["res"].stderr
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    (trial,) = manifest["trials"]
    run = sweep_dir / trial["run_dir"]
    task = json.loads((run / "slurm.json").read_text())
    logs = (run / "slurm.out").read_text() + (run / "slurm.err").read_text()
    assert task["requeues"] == 1, (task, logs[-3000:])  # requeued once, counted in the trial's record
    assert [s["how"] for s in task["starts"]] == ["requeued", "ended"], task
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed" and 1 <= status["resumed_from_epoch"] < 150, status  # mid-training
    log = (run / "slurm.out").read_text()
    assert "requeued (requeue 1 of 3)" in log and "(start 2, resuming)" in log
    local = api.sweep(sweep, out=tmp_path / "local", workers=1, quiet=True)
    assert metrics(run) == metrics(local.path / trial["run_dir"])  # identical to the uninterrupted run
