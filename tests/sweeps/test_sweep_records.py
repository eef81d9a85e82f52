"""dlhw.sweeps.records: typed Job / Result records; sweep.json keeps its format."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest
import yaml

from dlhw.sweeps import build_plan
from dlhw.sweeps.engine import MANIFEST_FIELDS, run_sweep
from dlhw.sweeps.records import Job, Result
from tests.conftest import TINY

# A trial entry of sweep.json, as every dlhw so far has written it.
ENTRY_KEYS = {"name", "group", "repeat", "seed", "varied", "label", "source", "hash", "shape", "epochs", "status",
              "error", "run_dir", "skipped", "train_seconds", "seconds", "val_accuracy", "test_accuracy", "params",
              "best_epoch", "pid", "resumed"}


def test_jobs_are_frozen_and_cross_processes_pickled(tmp_path):
    job = Job(name="t", raw={"name": "t"}, source="s.yaml", out=str(tmp_path))
    assert job.run_dir == tmp_path / "t" and job.replace(folder="t-2").run_dir == tmp_path / "t-2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.threads = 2
    assert pickle.loads(pickle.dumps(job.replace(threads=2))) == job.replace(threads=2)
    res = Result("t", "completed", val_accuracy=0.5, archive=b"tar")
    back = pickle.loads(pickle.dumps(res))
    assert back == res and back.archive == b"tar" and back.ok and not Result("t", "diverged").ok


def test_results_to_and_from_sweep_json():
    res = Result("t", "completed", error=None, pid=7, seconds=1.5, train_seconds=1.0, best_epoch=2,
                 val_accuracy=0.5, test_accuracy=0.25, val_loss=0.9, params=10, resumed=True, archive=b"x")
    data = res.to_dict()
    assert "archive" not in data and set(MANIFEST_FIELDS) <= set(data)
    assert json.loads(json.dumps(data)) == data
    assert Result.from_dict({**data, "group": "g", "run_dir": "t"}) == res.replace(archive=None)


def test_a_sweep_writes_the_same_sweep_json(tmp_path):
    """Through a real (tiny) sweep: typed results, sweep.json entries with the keys they always had."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.layers.0.units": [4, 6]}}))
    plan = build_plan(tmp_path / "grid.yaml")
    lines = []
    outcome = run_sweep(plan, tmp_path / "runs", workers=1, device="cpu", echo=lines.append)
    assert [type(r) for r in outcome.results] == [Result, Result] and outcome.exit_code == 0
    assert [r.status for r in outcome.results] == ["completed", "completed"], lines
    entries = json.loads((outcome.sweep_dir / "sweep.json").read_text())["trials"]
    assert [set(e) for e in entries] == [ENTRY_KEYS, ENTRY_KEYS]
    for e, r in zip(entries, outcome.results):
        assert Result.from_dict(e).replace(val_loss=r.val_loss) == r
    again = run_sweep(plan, tmp_path / "runs", workers=1, device="cpu", echo=lines.append)
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    skipped = ENTRY_KEYS - {"pid", "seconds", "resumed"}  # a skipped trial: what its run folder says
    assert [set(e) for e in json.loads((again.sweep_dir / "sweep.json").read_text())["trials"]] == [skipped] * 2
