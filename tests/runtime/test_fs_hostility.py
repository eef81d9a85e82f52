"""A hostile filesystem: links, FIFOs, devices, folders where files belong and files that change
between check and use, at each place dlhw reads or writes (issue 27, classes 1 and 2).

What holds: dlhw never writes through a link planted where it writes (the link's target is left
byte for byte as it was, and the refusal names the path), and it never opens a FIFO or device a
path names (refused by kind, in one line, without hanging)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.errors import ConfigError, DataError, WriteError
from dlhw.runtime import files, locks
from tests.conftest import TINY

runner = CliRunner()
VICTIM_BYTES = b"precious: the first bytes of a file dlhw must never touch\n"


@pytest.fixture
def victim(tmp_path) -> Path:
    p = tmp_path / "elsewhere" / "victim.txt"
    p.parent.mkdir()
    p.write_bytes(VICTIM_BYTES)
    return p


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def invoke_bounded(args, seconds: float = 60):
    """CliRunner.invoke in a thread: a command that blocks on a FIFO fails the test, never hangs it."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", runner.invoke(app, args)), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"dlhw {' '.join(map(str, args))} still running after {seconds} s (blocked on a FIFO?)"
    return box["r"]


def one_line_refusal(r, *words):
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# ------------------------------------------------------------------- writes: links
@pytest.mark.parametrize("writer", ["text", "json", "bytes"])
def test_a_link_at_the_target_is_replaced_never_written_through(tmp_path, victim, writer):
    target = tmp_path / "status.json"
    target.symlink_to(victim)
    {"text": lambda: files.write_text(target, "new\n"), "json": lambda: files.write_json(target, {"a": 1}),
     "bytes": lambda: files.write_bytes(target, b"new\n")}[writer]()
    assert victim.read_bytes() == VICTIM_BYTES
    assert not target.is_symlink() and target.is_file()


def test_a_link_planted_at_the_temporary_name_is_refused(tmp_path, victim, monkeypatch):
    planted = tmp_path / ".metrics.json.planted.tmp"
    planted.symlink_to(victim)
    monkeypatch.setattr(files, "temporary_path", lambda path, keep_suffix=False: planted)
    with pytest.raises(WriteError, match="metrics.json"):
        files.write_json(tmp_path / "metrics.json", {"x": 1})
    assert victim.read_bytes() == VICTIM_BYTES
    assert planted.is_symlink()  # not ours: left alone
    assert not (tmp_path / "metrics.json").exists()


def test_a_writer_that_swaps_its_temporary_file_for_a_link_is_refused(tmp_path, victim):
    with pytest.raises(WriteError, match="model.keras"):
        with files.replacing(tmp_path / "model.keras") as tmp:
            tmp.unlink()
            tmp.symlink_to(victim)
    assert victim.read_bytes() == VICTIM_BYTES and not (tmp_path / "model.keras").exists()


@pytest.mark.parametrize("planted", ["symlink", "fifo", "hardlink", "device"])
def test_a_lock_file_that_is_not_ours_is_refused_by_name(tmp_path, victim, planted):
    folder = tmp_path / "sweep"
    folder.mkdir()
    lock = folder / locks.LOCK_FILE
    if planted == "symlink":
        lock.symlink_to(victim)
    elif planted == "fifo":
        fifo(lock)
    elif planted == "hardlink":
        os.link(victim, lock)
    else:
        lock.symlink_to("/dev/null")
    with pytest.raises(WriteError) as err:
        locks.acquire(folder, "sweep folder")
    assert str(lock) in str(err.value) and "\n" not in str(err.value)
    assert victim.read_bytes() == VICTIM_BYTES
    assert locks.holder(folder) is None  # a reader's probe neither hangs nor misreads it
    assert locks.read_pid(folder, wait=0) is None


@pytest.mark.parametrize("planted", ["symlink", "file"])
def test_a_folder_dlhw_makes_is_never_a_planted_link_or_file(tmp_path, victim, planted):
    tb = tmp_path / "run" / "tb"
    tb.parent.mkdir()
    if planted == "symlink":
        tb.symlink_to(victim.parent, target_is_directory=True)
    else:
        tb.write_text("x")
    with pytest.raises(WriteError, match=str(tb)):
        files.ensure_dir(tb)
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_appends_refuse_a_link_sweep_log_and_step_log(tmp_path, victim):
    from dlhw.rundir import layout
    from dlhw.rundir.sweep_log import append_event

    (tmp_path / layout.SWEEP_LOG).symlink_to(victim)
    with pytest.raises(WriteError, match=layout.SWEEP_LOG):
        append_event(tmp_path, "t1", {"status": "completed"}, "now")
    with pytest.raises(WriteError, match="history_steps.csv"):
        (tmp_path / "history_steps.csv").symlink_to(victim)
        with files.open_append(tmp_path / "history_steps.csv") as fh:
            fh.write("x")
    assert victim.read_bytes() == VICTIM_BYTES


def test_a_sweep_folder_planted_as_a_link_is_refused(tmp_path, victim):
    base = tmp_path / "s.yaml"
    base.write_text(yaml.safe_dump({**TINY, "name": "s", "grid": {"seed": [0, 1]}}))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "s").symlink_to(victim.parent, target_is_directory=True)
    r = invoke_bounded(["sweep", str(base), "--out", str(tmp_path / "out"), "--workers", "1"])
    one_line_refusal(r, str(tmp_path / "out" / "s"), "link")
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_a_report_never_writes_through_a_planted_summary_csv(tmp_path, victim):
    from dlhw.rundir import layout

    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "status.json").write_text(json.dumps({"status": "completed", "name": "r"}))
    (run_dir / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5}, "val": {"accuracy": 0.5}}))
    (run_dir / "config.yaml").write_text(yaml.safe_dump(TINY))
    out = tmp_path / "report"
    out.mkdir()
    (out / layout.SUMMARY_CSV).symlink_to(victim)
    r = invoke_bounded(["report", str(run_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert victim.read_bytes() == VICTIM_BYTES and not (out / layout.SUMMARY_CSV).is_symlink()


# ------------------------------------------------------------- reads: kinds, FIFOs
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dev-null", "folder"])
def test_validate_refuses_a_special_config_path_by_name(tmp_path, kind):
    path = {"fifo": lambda: fifo(tmp_path / "c.yaml"), "dev-zero": lambda: Path("/dev/zero"),
            "dev-null": lambda: Path("/dev/null"), "folder": lambda: tmp_path}[kind]()
    line = one_line_refusal(invoke_bounded(["validate", str(path)]), str(path))
    assert "not found" not in line


@pytest.mark.parametrize("target", ["fifo.yaml", "/dev/zero", "secrets.txt", "creds.yaml", "nothing.yaml"])
def test_a_base_that_is_not_a_config_is_refused_without_its_content(tmp_path, target):
    fifo(tmp_path / "fifo.yaml")
    (tmp_path / "secrets.txt").write_text("SECRET_TOKEN=abc123\n")
    (tmp_path / "creds.yaml").write_text("aws_secret_access_key: SECRET_TOKEN_abc123\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"base: {target}\nname: x\n")
    line = one_line_refusal(invoke_bounded(["validate", str(cfg)]))
    assert "SECRET_TOKEN" not in line and "abc123" not in line and "aws_secret" not in line
    assert ("not found" in line) == (target == "nothing.yaml")


def test_a_yaml_error_does_not_echo_the_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text('name: x\n*SECRET_ALIAS_hunter2\n')
    line = one_line_refusal(invoke_bounded(["validate", str(cfg)]), str(cfg))
    assert "hunter2" not in line


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_dataset_path_of_the_wrong_kind_is_refused_by_name(tmp_path, kind):
    path = {"fifo": lambda: fifo(tmp_path / "d.csv"), "device": lambda: Path("/dev/zero"),
            "folder": lambda: tmp_path}[kind]()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"name": "x", "dataset": {"source": "csv", "path": str(path), "target": "y"},
                                   "model": {"type": "mlp"}}))
    line = one_line_refusal(invoke_bounded(["validate", str(cfg)]), str(path), "dataset.path")
    assert "not found" not in line


def test_resume_refuses_a_run_folder_whose_config_is_a_fifo(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    fifo(run_dir / "config.yaml")
    (run_dir / "status.json").write_text(json.dumps({"status": "interrupted"}))
    line = one_line_refusal(invoke_bounded(["run", "--resume", str(run_dir)]), "config.yaml", "FIFO")
    assert "not found" not in line


def test_init_from_and_weights_of_the_wrong_kind_are_named(tmp_path):
    from dlhw.runtime.safeload import load_keras_model

    fifo(tmp_path / "model.keras")
    with pytest.raises(ConfigError, match="FIFO"):
        load_keras_model(tmp_path / "model.keras", "model.init_from")
    with pytest.raises(ConfigError, match="not found"):
        load_keras_model(tmp_path / "none.keras", "model.init_from")


def test_a_file_swapped_for_a_fifo_between_check_and_use_is_refused(tmp_path, monkeypatch):
    """The kind is checked again on the open descriptor: a race between the check and the open
    ends in a refusal, not a hang."""
    from dlhw.config import loader

    path = fifo(tmp_path / "c.yaml")
    monkeypatch.setattr(files, "path_kind", lambda p, follow=True: "file")  # the check saw a file
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("e", pytest.raises(ConfigError, loader.read_yaml, path)),
                         daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert "FIFO" in str(box["e"].value)


def test_out_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "out").write_text("x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    r = invoke_bounded(["run", str(cfg), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert str(tmp_path / "out") in r.output


def test_data_error_names_a_special_labels_file(tmp_path):
    from dlhw.config import validate
    from dlhw.data.sources import check_data_paths

    fifo(tmp_path / "labels.npy")
    (tmp_path / "x.npy").write_bytes(b"")
    cfg = validate({"name": "x", "dataset": {"source": "sequences", "path": str(tmp_path / "x.npy"),
                                             "labels": str(tmp_path / "labels.npy")}, "model": {"type": "mlp"}})
    with pytest.raises(DataError, match="labels.npy is a FIFO"):
        check_data_paths(cfg.dataset)
