"""A grid on a real (single-node) Slurm: one job array, results equal to the same grid trained locally."""

from __future__ import annotations

import json

import pytest

from tests.slurm.slurm_helpers import dlhw, metrics, slurm_cluster, write_sweep  # noqa: F401 (the fixture)


@pytest.mark.usefixtures("slurm_cluster")
def test_a_four_trial_grid_via_slurm_equals_workers_1_locally(tmp_path):
    import dlhw as api

    sweep = write_sweep(tmp_path / "grid.yaml", {"model.layers.0.units": [8, 16],
                                                 "training.optimizer.learning_rate": [0.001, 0.01]})
    res = dlhw("sweep", str(sweep), "--out", str(tmp_path / "slurm"), "--executor", "slurm", "--workers", "2")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "submitted 4 trial(s) as job" in res.stdout and "(array 0-3%2)" in res.stdout, res.stdout
    local = api.sweep(sweep, out=tmp_path / "local", workers=1, quiet=True)
    assert [r["status"] for r in local.results] == ["completed"] * 4
    sweep_dir = tmp_path / "slurm" / "grid"
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert sorted(t["status"] for t in manifest["trials"]) == ["completed"] * 4
    assert manifest["executor"] == "slurm"
    record = json.loads((sweep_dir / "slurm.json").read_text())["trials"]
    arrays = {e["task"].split("_")[0] for e in record.values()}
    assert len(record) == 4 and len(arrays) == 1, record  # one array, one task per trial
    for t in manifest["trials"]:
        run = sweep_dir / t["run_dir"]
        assert metrics(run) == metrics(local.path / t["run_dir"]), t["name"]
        out = (run / "slurm.out").read_text()  # the task's stdout, in its run folder
        assert f"dlhw: trial {t['name']} as Slurm task {record[t['name']]['task']}" in out
        task = json.loads((run / "slurm.json").read_text())
        assert task["requeues"] == 0 and task["starts"][-1]["how"] == "ended"
    report = dlhw("report", str(sweep_dir), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
