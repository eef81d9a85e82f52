"""Run folders: safe names, no accidental overwrite, clearing (the files they hold are read and
written as records: dlhw.rundir.records; other writes: dlhw.runtime.files).

Layout (../shared/CONFIG.md): config.yaml, status.json, metrics.json,
history.csv, curves.png, confusion_matrix.png/.csv, roc.png, summary.txt,
model.keras, env.json, tb/ (plus checkpoints/ for --resume).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
from pathlib import Path

from dlhw.errors import ConfigError
from dlhw.rundir import layout


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def sanitize_name(name: str) -> str:
    """A folder name that cannot leave its parent: letters, digits, '.', '_', '-' only."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._-")
    clean = re.sub(r"\.{2,}", ".", clean)
    if not clean:
        raise ConfigError(f"name: '{name}' has no usable characters for a folder name")
    return clean[:120]


def create_run_dir(out: Path, name: str, overwrite: bool = False, lock: bool = False) -> Path:
    """A new folder ``out/name`` (``name-2``, ``name-3``... if taken, unless overwrite).

    ``lock``: the folder is locked for this process (dlhw.runtime.locks) before anything is written
    into it. Overwriting a folder another process holds is refused (FolderBusy, exit 2)."""
    from dlhw.runtime import locks

    out = Path(out)
    safe = sanitize_name(name)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create output folder {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out: output folder {out} is not writable")
    candidate = out / safe
    if overwrite and candidate.is_dir() and not candidate.is_symlink():
        held = locks.acquire(candidate) if lock else None
        if held is None and locks.holder(candidate):
            raise locks.FolderBusy(candidate, locks.holder(candidate), "run folder")
        try:
            clear_folder(candidate)
        except OSError as exc:
            if held is not None:
                held.release()
            raise ConfigError(f"--overwrite: cannot empty {candidate}: {exc.strerror}") from None
        return candidate
    n = 2
    while True:
        try:
            candidate.mkdir()
            break
        except FileExistsError:
            candidate = out / f"{safe}-{n}"
            n += 1
        except OSError as exc:
            raise ConfigError(f"--out: cannot create run folder {candidate}: {exc.strerror}") from None
    if candidate.resolve().parent != out.resolve():  # belt and braces: never leave --out
        raise ConfigError(f"name: '{name}' would leave the output folder")
    if lock:
        locks.acquire(candidate)
    return candidate


def clear_folder(folder: Path) -> None:
    """Remove everything in ``folder`` but its lock file (which the caller may hold)."""
    from dlhw.runtime.locks import LOCK_FILE

    for child in Path(folder).iterdir():
        if child.name == LOCK_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def discard_results(run_dir: Path) -> None:
    """Remove the files that mark a finished run (a run that ends badly must not look finished)."""
    for name in layout.RESULT_FILES:
        try:
            (Path(run_dir) / name).unlink(missing_ok=True)
        except OSError:
            pass


def drop_checkpoints(run_dir: Path) -> None:
    """A completed run's resume checkpoint folder, removed (``training.keep_checkpoints: false``):
    model.keras already holds the weights the run evaluated, and a completed run is never resumed.
    A folder that cannot be removed stays (the run is still complete)."""
    shutil.rmtree(Path(run_dir) / layout.CHECKPOINTS, ignore_errors=True)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total
