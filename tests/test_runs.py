"""Run folders: names that cannot escape, no overwrite, atomic status."""

from __future__ import annotations

import json
import os

import pytest

from dlhw.errors import ConfigError
from dlhw.runs.folder import create_run_dir, sanitize_name
from dlhw.runs.status import RunStatus, read_status


@pytest.mark.parametrize("name, clean", [("../../etc", "etc"), ("a/b", "a_b"), ("run 1", "run_1"), ("..", None), ("ok-1.x", "ok-1.x")])
def test_names_cannot_leave_out(name, clean, tmp_path):
    if clean is None:
        with pytest.raises(ConfigError, match="no usable characters"):
            sanitize_name(name)
        return
    assert sanitize_name(name) == clean
    run = create_run_dir(tmp_path / "runs", name)
    assert run.parent == tmp_path / "runs"


def test_existing_folder_gets_suffix(tmp_path):
    a = create_run_dir(tmp_path, "x")
    (a / "keep.txt").write_text("results")
    b = create_run_dir(tmp_path, "x")
    assert b.name == "x-2" and (a / "keep.txt").exists()


def test_unwritable_out(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(ConfigError, match="not writable"):
            create_run_dir(ro, "x")
    finally:
        os.chmod(ro, 0o700)


def test_status_running_then_stale(tmp_path):
    st = RunStatus(tmp_path)
    st.set("running")
    assert read_status(tmp_path)["status"] == "running"
    data = json.loads((tmp_path / "status.json").read_text())
    data["pid"] = 2 ** 22 + 12345  # no such process
    (tmp_path / "status.json").write_text(json.dumps(data))
    assert read_status(tmp_path)["status"] == "stale"
    st.set("completed")
    assert read_status(tmp_path)["status"] == "completed"
    assert not list(tmp_path.glob(".*tmp"))
