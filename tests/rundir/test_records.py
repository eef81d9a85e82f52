"""dlhw.rundir.records: every run-folder and sweep-folder file as a typed record: the one atomic
write, the one tolerant read, one line for a damaged or unknown file, the Status vocabulary."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlhw.errors import DataError, WriteError
from dlhw.rundir.records import (
    NO_METRICS,
    EnvRecord,
    MetricsRecord,
    RecordError,
    RecordMissing,
    StatusRecord,
    SweepManifest,
    read_manifest,
    read_metrics,
    read_status,
    settled_status,
)
from dlhw.rundir.states import Status
from dlhw.rundir.sweep_log import append_event, manifest_stamp, start_log
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "folders"


def _copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def test_a_record_round_trips_with_its_version_and_the_keys_it_does_not_declare(tmp_path):
    path = tmp_path / "status.json"
    StatusRecord.build({"status": "running", "pid": 7, "custom": {"a": [1, 2]}}).write(path)
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 1 and raw["status"] == "running" and raw["custom"] == {"a": [1, 2]}
    assert "error" not in raw  # unset fields are not written as nulls
    back = StatusRecord.read(path)
    assert back.status is Status.RUNNING and back.pid == 7 and back.as_dict() == {k: v for k, v in raw.items()
                                                                                   if k != "schema_version"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temporary file left


def test_numpy_values_and_nan_are_written_as_json_writes_them(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "metrics.json"
    MetricsRecord.build({"val": {"loss": np.float32(0.5), "auc": float("nan")}, "best_epoch": np.int64(3),
                         "confusion_matrix": np.eye(2, dtype=int)}).write(path)
    text = path.read_text()
    assert '"auc": NaN' in text and '"best_epoch": 3' in text
    values = read_metrics(tmp_path)
    assert values["val"]["loss"] == 0.5 and values["confusion_matrix"] == [[1, 0], [0, 1]]


def test_a_failed_write_leaves_the_old_file_and_names_the_new_one(tmp_path, monkeypatch):
    from dlhw.runtime import files

    path = tmp_path / "status.json"
    StatusRecord.build({"status": "running", "pid": 1}).write(path)
    before = path.read_bytes()

    def full_disk(tmp, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_commit", full_disk)
    with pytest.raises(WriteError, match=r"status\.json: cannot write: No space left on device"):
        StatusRecord.build({"status": "completed"}).write(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["status.json"]


DAMAGED = [
    (b'{"status": "completed", "pid": ', "is not valid JSON at line 1 (damaged or cut short?)"),
    (b"", "is not valid JSON at line 1"),
    (b'["completed"]', "holds a JSON list, not an object; not a status.json"),
    (b'{"status": "running", "pid": "abc"}', "pid: Input should be a valid integer"),
    (b'{"schema_version": 99, "status": "completed"}', "schema_version 99 is newer than this dlhw reads (up to 1)"),
    (b'{"schema_version": "one"}', "schema_version: must be a whole number >= 0; received 'one'"),
    (b'\xff\xfe{"status"', "is not UTF-8 text"),
]


@pytest.mark.parametrize("content, problem", DAMAGED, ids=[p.split(" (")[0][:30] for _, p in DAMAGED])
def test_a_damaged_or_unknown_file_is_one_line_naming_it(tmp_path, content, problem):
    path = tmp_path / "status.json"
    path.write_bytes(content)
    with pytest.raises(RecordError) as info:
        StatusRecord.read(path)
    line = str(info.value)
    assert line.startswith(f"{path}: ") and problem in line and "\n" not in line
    assert isinstance(info.value, DataError) and info.value.exit_code == 2 and info.value.path == path


def test_a_missing_file_is_record_missing_and_optional_reads_say_none(tmp_path):
    with pytest.raises(RecordMissing, match="no such file"):
        EnvRecord.read(tmp_path / "env.json")
    assert EnvRecord.read_optional(tmp_path / "env.json") is None
    assert read_metrics(tmp_path) is None
    (tmp_path / "env.json").mkdir()
    with pytest.raises(RecordError, match="is a folder, not a file"):
        EnvRecord.read_optional(tmp_path / "env.json")


def test_read_status_stale_unknown_and_damaged(tmp_path):
    from dlhw.rundir.status import read_status as read_status_dict

    assert read_status(tmp_path).status is Status.UNKNOWN
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    StatusRecord.build({"status": "running", "pid": int(dead.stdout)}).write(tmp_path / "status.json")
    assert read_status(tmp_path).status is Status.STALE  # its process is gone
    StatusRecord.build({"status": "running", "pid": os.getpid()}).write(tmp_path / "status.json")
    assert read_status(tmp_path).status is Status.RUNNING
    (tmp_path / "status.json").write_text('{"status": ')
    data = read_status_dict(tmp_path)
    assert data["status"] is Status.UNKNOWN and data["error"].startswith(f"{tmp_path / 'status.json'}: is not valid JSON")


def test_status_words_of_older_files_and_unknown_words():
    assert StatusRecord.from_data({"status": "partial"}).status is Status.COMPLETED
    assert StatusRecord.from_data({"status": "bogus"}).status is Status.UNKNOWN
    assert SweepManifest.from_data({"trials": [{"name": "a", "status": "pending"}]}).trials[0].status is Status.QUEUED
    for s in Status:
        assert Status.parse(s.value) is s and str(s) == s.value == f"{s}" and json.dumps(s) == f'"{s.value}"'


def test_status_properties_split_the_vocabulary():
    assert {s for s in Status if s.succeeded} == {Status.COMPLETED, Status.SKIPPED}
    assert {s for s in Status if s.failure} == {Status.FAILED, Status.DIVERGED}
    assert {s for s in Status if s.resumable} == {Status.INTERRUPTED, Status.FAILED, Status.STALE, Status.PAUSED}
    assert not any(s.ok for s in Status if s.failure)
    from dlhw.sweeps.records import Result

    assert Result("a", "pruned").ok and not Result("a", "diverged").ok and not Result("a", "interrupted").ok


def test_settled_status_is_the_one_rule_for_a_folder_state():
    assert settled_status(Status.COMPLETED, has_metrics=False) is Status.FAILED
    assert settled_status(Status.UNKNOWN, has_metrics=True) is Status.COMPLETED
    assert settled_status(Status.INTERRUPTED, has_metrics=False) is Status.INTERRUPTED
    assert "metrics.json is missing" in NO_METRICS


def test_the_manifest_replays_its_log_and_skips_torn_and_foreign_lines(tmp_path):
    sweep = _copy("sweep_v0", tmp_path)
    first = "learning_rate-0.001"
    start_log(sweep, manifest_stamp(sweep))
    append_event(sweep, first, {"status": "interrupted", "error": "stopped"}, "2030-01-01T00:00:00+00:00")
    with open(sweep / "sweep.jsonl", "a") as fh:
        fh.write('{"trial": "learning_rate-0.01", "set": {"status": "fail')  # torn: the writer was killed
    manifest = read_manifest(sweep)
    assert manifest.entry(first).status is Status.INTERRUPTED and manifest.entry(first).error == "stopped"
    assert manifest.entry("learning_rate-0.01").status is Status.COMPLETED
    assert manifest.counts == {"interrupted": 1, "completed": 1} and manifest.updated == "2030-01-01T00:00:00+00:00"
    start_log(sweep, [0, 0, 0])  # a log extending another sweep.json: already compacted, ignored
    append_event(sweep, first, {"status": "failed"}, "2031-01-01T00:00:00+00:00")
    assert read_manifest(sweep).entry(first).status is Status.COMPLETED


def test_the_report_warns_about_a_damaged_file_and_goes_on(tmp_path, caplog):
    from dlhw.reports.collect import collect

    sweep = _copy("sweep_v0", tmp_path)
    (sweep / "learning_rate-0.01" / "metrics.json").write_text('{"val": {"accuracy": 0.9')
    records = {r.name: r for r in collect([sweep])}
    damaged = records["learning_rate-0.01"]
    assert damaged.status == "failed" and damaged.metrics == {}
    assert damaged.error.endswith("metrics.json: is not valid JSON at line 1 (damaged or cut short?)")
    assert records["learning_rate-0.001"].status == "completed" and records["learning_rate-0.001"].metrics["val"]
    from tests.conftest import warned

    assert "metrics.json: is not valid JSON" in warned(caplog)


def test_no_module_parses_a_run_folder_file_outside_the_records():
    """The target of issue 25: no json.load/json.loads/read_json outside dlhw.rundir.records but
    of files that are not run-folder or sweep-folder records (named here, with what they read)."""
    other_files = {
        "config/jsonschema.py": 1,        # pydantic's schema text, in memory
        "training/feature_store.py": 1,   # the feature cache's own metadata (outside run folders)
        "training/feature_cache.py": 1,   # a cache key, in memory
        "data/image_cache.py": 1,         # the image cache's metadata (outside run folders)
        "rundir/checkpoint_file.py": 1,   # the state inside checkpoints/last.ckpt.npz (binary, not a record)
        "runtime/files.py": 1,            # plain_json: a value made plain, in memory
        "sweeps/sources/journal.py": 1,   # Optuna's own study.journal lines (its format; torn last line dropped)
    }
    src = REPO / "src" / "dlhw"
    found = {}
    for path in src.rglob("*.py"):
        rel = path.relative_to(src).as_posix()
        if rel.startswith("rundir/records/"):
            continue
        text = path.read_text(encoding="utf-8")
        n = sum(text.count(k) for k in ("json.load(", "json.loads(", "read_json("))
        if n:
            found[rel] = n
    assert set(found) <= set(other_files), {k: v for k, v in found.items() if k not in other_files}
