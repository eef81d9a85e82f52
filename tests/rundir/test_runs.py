"""Run folders: names that cannot escape, no overwrite, atomic status."""

from __future__ import annotations

import json
import os

import pytest

from dlhw.errors import ConfigError
from dlhw.rundir.folder import create_run_dir, sanitize_name
from dlhw.rundir.status import RunStatus, read_status
from tests.conftest import REPO


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


def test_every_file_name_is_defined_once_in_runs_layout():
    """A run-folder (sweep, report) file name is written in dlhw.rundir.layout only; every other
    module uses its constant, so a name cannot drift between the writer and its readers."""
    import ast

    from dlhw.rundir import layout

    src = REPO / "src" / "dlhw"
    names = {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)}
    names.discard(layout.WANDB_DIR)  # 'wandb/' is named by the wandb library; the word is also the key tracking.wandb
    assert {"metrics.json", "status.json", "config.yaml", "model.keras", "history.csv", "sweep.json"} <= names
    found = []
    for path in sorted(src.rglob("*.py")):
        if path == src / "rundir" / "layout.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(src)}:{node.lineno}: {node.value!r}")
    assert not found, "file names outside dlhw.rundir.layout:\n" + "\n".join(found)
