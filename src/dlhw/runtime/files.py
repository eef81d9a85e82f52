"""Atomic file writes: every file dlhw writes goes through here.

A file is written to a temporary name in its own folder, flushed to the disk
(fsync) and renamed over the target (``os.replace``): a reader (a report, a
resume, another sweep worker) sees the old file or the new one, never half
of one. On failure (disk full, read-only, permissions) the temporary file is
removed, the old file is left as it was, and a one-line ``WriteError`` names
the file.

``write_bytes`` / ``write_text`` / ``write_json`` for data in hand;
``replacing(path)`` for writers that want a path or a file of their own
(``np.savez``, ``np.save``, ``joblib.dump``, Keras ``model.save``, a stream of
decoded images): it yields the temporary path, then fsyncs and renames.
``_commit`` is the one place a written file reaches the disk for good
(tests simulate a full disk there).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from dlhw.errors import WriteError

_SEQ = itertools.count()  # temporary names unique per process and call: threads and workers never share one


def temporary_path(path: Path, keep_suffix: bool = False) -> Path:
    """``.<name>.<pid>-<n>.tmp`` next to ``path`` (a dot file: reports never read it as a result);
    ``keep_suffix``: ends in the target's suffix too, for writers that choose a format by it (Keras)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{next(_SEQ)}.tmp" + (path.suffix if keep_suffix else ""))


def write_error(path: Path, exc: BaseException) -> WriteError:
    """A one-line WriteError for ``exc`` raised while writing ``path``; ``.reason`` holds the OS's words."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    hint = "; free some disk space and resume with --resume" if getattr(exc, "errno", None) == errno.ENOSPC else ""
    err = WriteError(f"{path}: cannot write: {reason}{hint}")
    err.reason = reason
    return err


def _commit(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to the disk and rename it to ``path``."""
    fd = os.open(tmp, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink()
    except OSError:
        pass


@contextmanager
def replacing(path: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; write it inside the block. Then fsync and rename
    over ``path``. On any error the temporary file goes; an OSError becomes a WriteError naming
    ``path``; anything else is raised as it was."""
    path = Path(path)
    tmp = temporary_path(path, keep_suffix)
    try:
        yield tmp
        _commit(tmp, path)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any, indent: "int | None" = 2) -> None:
    """JSON (NumPy numbers and arrays, and paths, as plain values), with a final newline."""
    write_text(path, json.dumps(data, indent=indent, default=_jsonable) + "\n")


def plain_json(data: Any) -> Any:
    """``data`` as plain JSON values (what ``write_json`` would write, read back): NumPy numbers
    and arrays, paths and str enums become ints, floats, lists and strings."""
    return json.loads(json.dumps(data, default=_jsonable))


def _jsonable(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
