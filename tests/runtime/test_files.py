"""dlhw.runtime.files: the one atomic-write helper (temporary file, fsync, rename, clean up)."""

from __future__ import annotations

import errno
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from dlhw.errors import WriteError
from dlhw.runtime import files
from tests.conftest import REPO


def test_writes_bytes_text_json_and_through_a_path(tmp_path):
    files.write_bytes(tmp_path / "a.bin", b"\x00\x01")
    files.write_text(tmp_path / "b.txt", "héllo\n")
    files.write_json(tmp_path / "c.json", {"x": np.float32(0.5), "a": np.arange(3), "p": Path("p")})
    with files.replacing(tmp_path / "d.npz", keep_suffix=True) as tmp:  # np.savez adds .npz to other names
        np.savez(tmp, w=np.ones(2))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": 0.5, "a": [0, 1, 2], "p": "p"}
    assert (tmp_path / "c.json").read_text().endswith("}\n")
    assert np.load(tmp_path / "d.npz")["w"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.json", "d.npz"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    files.write_json(target, {"old": 1})

    def full(tmp, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_commit", full)
    with pytest.raises(WriteError) as info:
        files.write_json(target, {"new": 2})
    msg = str(info.value)
    assert msg.startswith(f"{target}: cannot write: No space left on device") and "--resume" in msg
    assert "\n" not in msg and info.value.reason == "No space left on device"
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_an_error_inside_the_block_is_raised_as_it_was_and_cleans_up(tmp_path):
    with pytest.raises(ValueError, match="bad data"):
        with files.replacing(tmp_path / "x.npy") as tmp:
            tmp.write_bytes(b"half")
            raise ValueError("bad data")
    with pytest.raises(WriteError, match="x.npy: cannot write: Permission denied"):
        with files.replacing(tmp_path / "x.npy") as tmp:
            tmp.write_bytes(b"half")
            raise PermissionError(errno.EACCES, "Permission denied")
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_never_collide_and_can_keep_the_suffix(tmp_path):
    names = []
    lock = threading.Lock()

    def take():
        for _ in range(200):
            p = files.temporary_path(tmp_path / "model.keras")
            with lock:
                names.append(p.name)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == len(names) == 800
    assert all(n.startswith(".model.keras.") and n.endswith(".tmp") for n in names)
    assert files.temporary_path(tmp_path / "model.keras", keep_suffix=True).name.endswith(".tmp.keras")


def test_no_hand_made_atomic_writes_elsewhere():
    """Every temporary-file-then-rename in the package goes through dlhw.runtime.files."""
    src = REPO / "src" / "dlhw"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py") if p != src / "runtime" / "files.py"
                 and re.search(r"os\.replace\(|os\.fsync\(|\.fsync\(", p.read_text(encoding="utf-8"))]
    assert offenders == []
