"""Folders written by the release before records (no schema_version: version 0) still load,
through the records, the Python API (dlhw.load), the report and --resume. The fixtures were
written by that release (tests/fixtures/folders/sweep_v0/lr_sweep.yaml says how)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import dlhw
from dlhw.errors import ConfigError
from dlhw.rundir.records import (
    EnvRecord,
    MetricsRecord,
    PreprocessingRecord,
    StatusRecord,
    SweepManifest,
    read_manifest,
    read_status,
)
from dlhw.rundir.states import Status
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "folders"
RUN, SWEEP = FIXTURES / "run_v0", FIXTURES / "sweep_v0"
TRIALS = ("learning_rate-0.001", "learning_rate-0.01")


def _raw(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_fixtures_are_version_0_and_small():
    files = [p for p in FIXTURES.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 100_000
    assert {p.suffix for p in files} <= {".json", ".csv", ".yaml"}
    assert all("schema_version" not in _raw(p) for p in files if p.suffix == ".json")


@pytest.mark.parametrize("record", [StatusRecord, MetricsRecord, EnvRecord, PreprocessingRecord])
def test_each_run_file_of_version_0_reads_with_every_value_kept(record):
    path = RUN / record.FILE
    rec = record.read(path)
    assert rec.schema_version == 1
    assert rec.as_dict() == _raw(path)  # the migration keeps every key and value


def test_the_run_reads_as_completed_with_its_figures():
    status = read_status(RUN)
    assert status.status is Status.COMPLETED and status.epochs_run == 2 and status.name == "quickstart"
    metrics = MetricsRecord.read(RUN / "metrics.json")
    assert metrics.best_epoch == 2 and metrics.params["total"] == 153354 and 0.9 < metrics.test["accuracy"] <= 1
    assert EnvRecord.read(RUN / "env.json").seed == 0


def test_the_sweep_manifest_of_version_0_reads_with_its_trials():
    manifest = read_manifest(SWEEP)
    assert isinstance(manifest, SweepManifest) and manifest.schema_version == 1
    assert [t.name for t in manifest.trials] == list(TRIALS)
    assert all(t.status is Status.COMPLETED and t.epochs == 1 for t in manifest.trials)
    assert manifest.varied_keys == ["training.optimizer.learning_rate"] and manifest.counts == {"completed": 2}
    raw = _raw(SWEEP / "sweep.json")
    assert manifest.plain() == raw
    for name in TRIALS:
        assert read_status(SWEEP / name).status is Status.COMPLETED


def test_dlhw_load_reads_both_folders():
    run = dlhw.load(RUN)
    assert run.status == "completed" and run.error is None
    assert run.metrics == _raw(RUN / "metrics.json")
    assert list(run.history["epoch"]) == [1, 2]
    assert run.config.name == "quickstart" and run.config.training.epochs == 2
    sweep = dlhw.load(SWEEP)
    assert [r["name"] for r in sweep.results] == list(TRIALS) and sweep.failed == []
    assert {r["status"] for r in sweep.results} == {"completed"}
    table = sweep.table()
    assert len(table) == 2 and set(table["status"]) == {"completed"}


def test_the_report_reads_both_folders(tmp_path):
    out = tmp_path / "report"
    dlhw.report([RUN, SWEEP], out=out)
    assert (out / "report.html").is_file()
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["run"] for r in rows) == sorted(["run_v0", *TRIALS])  # a run is named by its folder
    assert {r["status"] for r in rows} == {"completed"}
    raw = _raw(RUN / "metrics.json")
    quick = next(r for r in rows if r["run"] == "run_v0")
    assert float(quick["val_accuracy"]) == pytest.approx(raw["val"]["accuracy"], abs=1e-4)


def test_a_rewritten_version_0_status_gets_its_version_and_keeps_its_keys(tmp_path):
    from dlhw.rundir.status import RunStatus

    run = Path(shutil.copytree(RUN, tmp_path / "run"))
    before = _raw(run / "status.json")
    RunStatus(run).heartbeat(min_interval=0, epoch=2)
    after = _raw(run / "status.json")
    assert after["schema_version"] == 1
    assert {k: v for k, v in after.items() if k not in ("schema_version", "heartbeat")} == \
        {k: v for k, v in before.items() if k != "heartbeat"}


def test_resume_reads_a_version_0_folder_and_refuses_a_completed_run(tmp_path):
    from dlhw.config import load_config
    from dlhw.rundir.resume import prepare_resume

    run = Path(shutil.copytree(RUN, tmp_path / "run"))
    with pytest.raises(ConfigError, match="already completed; nothing to resume"):
        prepare_resume(run, load_config(run / "config.yaml"))
    (run / "status.json").write_text(json.dumps({**_raw(RUN / "status.json"), "status": "bogus"}))
    with pytest.raises(ConfigError, match="has status 'unknown'; expected one of: paused, failed, interrupted, stale"):
        prepare_resume(run, load_config(run / "config.yaml"))
