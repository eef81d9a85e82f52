"""A search on Slurm: trials submitted as the sampler proposes them, at most --workers in the queue."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.slurm.slurm_helpers import TRIAL, dlhw, slurm_cluster  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("slurm_cluster")
def test_a_small_search_on_slurm(tmp_path):
    pytest.importorskip("optuna")
    spec = {"name": "tiny", **TRIAL, "executor": "slurm",  # the executor from the sweep file
            "search": {"trials": 3, "sampler": "random", "metric": "val_accuracy", "pruner": {"type": "none"},
                       "seed": 0},
            "space": {"training.optimizer.learning_rate": {"log_uniform": [1.0e-3, 1.0e-1]}}}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    res = dlhw("sweep", str(path), "--out", str(tmp_path / "runs"), "--workers", "2")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "via Slurm, at most 2 at once" in res.stdout, res.stdout
    lines = res.stdout.splitlines()
    submits = [i for i, line in enumerate(lines) if line.startswith("slurm: submitted 1 trial(s)")]
    first_done = next(i for i, line in enumerate(lines) if line.startswith("[1/3]"))
    assert len(submits) == 3 and submits[1] < first_done < submits[2], res.stdout  # never more than 2 queued
    sweep_dir = tmp_path / "runs" / "search"
    record = json.loads((sweep_dir / "slurm.json").read_text())["trials"]
    assert len(record) == 3 and len({e["task"] for e in record.values()}) == 3  # one job per proposed trial
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert sorted(t["status"] for t in manifest["trials"]) == ["completed"] * 3
    assert all(isinstance(t.get("value"), float) for t in manifest["trials"])  # told to the study
