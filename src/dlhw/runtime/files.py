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

No write follows a link planted where dlhw writes (issue 27): temporary files
are created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` (a link or any existing file at
that name is refused), ``os.replace`` replaces a link at the target instead of
writing through it, ``open_append`` / ``open_lock`` open with ``O_NOFOLLOW``
and accept only a regular file with one name (no FIFO, device or hard link),
and ``ensure_dir`` refuses a folder dlhw creates that turns out to be a link.
The folder the user names (``--out``) is taken as given; what dlhw makes
inside it is checked. Each refusal is a one-line ``WriteError`` naming the path.
``path_kind`` / ``read_small`` read without following a FIFO or device into a hang.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import stat
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


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_KINDS = ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symbolic link"),
          (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def kind_of(mode: int) -> str:
    """'file', 'folder', 'symbolic link', 'FIFO (named pipe)', 'character device'... for an st_mode."""
    return next((name for test, name in _KINDS if test(mode)), "special file")


def path_kind(path: "str | Path", follow: bool = True) -> "str | None":
    """What is at ``path`` without opening it: None (nothing), 'file', 'folder' or a special kind.
    ``follow=False``: a link is reported as 'symbolic link' instead of what it points to."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError as exc:
        return "symbolic link loop" if exc.errno == errno.ELOOP else None
    except ValueError:  # a NUL in the path: nothing can be there
        return None
    return kind_of(st.st_mode)


def kind_problem(path: "str | Path", want: str = "file") -> "str | None":
    """None when ``path`` is a ``want`` ('file' or 'folder', links followed); else what is wrong,
    for a message: 'not found', 'is a folder, not a file', 'is a FIFO (named pipe), not a file;
    special files are never read'. Nothing is opened, so a FIFO or device cannot hang the check."""
    kind = path_kind(path)
    if kind is None:
        return "not found"
    if kind == want:
        return None
    special = "" if kind in ("file", "folder") else "; special files are never read"
    return f"is a {kind}, not a {want}{special}"


def link_refused(path: Path, what: str = "a symbolic link") -> WriteError:
    err = WriteError(f"{path}: is {what}; dlhw never writes through a link or into a special file "
                     f"planted where it writes (remove it, or choose another folder)")
    err.reason = f"is {what}"
    return err


def _check_own_file(fd: int, path: Path) -> None:
    """``fd`` (opened with O_NOFOLLOW) must be a regular file with a single name."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise link_refused(path, f"a {kind_of(st.st_mode)}")
    if st.st_nlink > 1:
        os.close(fd)
        raise link_refused(path, f"a hard link ({st.st_nlink} names for one file)")


def _open_checked(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open with O_NOFOLLOW|O_NONBLOCK (a FIFO never blocks the open), then kind-checked;
    a link at ``path`` is a WriteError naming it."""
    path = Path(path)
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and os.path.islink(path)):
            raise link_refused(path) from None
        raise
    _check_own_file(fd, path)
    if _NONBLOCK:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_NONBLOCK)
    return fd


def open_lock(path: Path) -> int:
    """A read-write descriptor on the lock file ``path`` (created 0644), never through a link."""
    return _open_checked(path, os.O_RDWR | os.O_CREAT)


def open_append(path: Path, encoding: str = "utf-8", newline: "str | None" = None):
    """A text file opened for appending (created if missing), never through a link; OSError
    (a link included) is a WriteError naming ``path``."""
    try:
        fd = _open_checked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except OSError as exc:
        raise write_error(path, exc) from None
    return os.fdopen(fd, "a", encoding=encoding, newline=newline)


def append_fd(path: Path) -> int:
    """A write-only descriptor appending to ``path`` (created 0644), never through a link (a log
    a process points its stdout at)."""
    return _open_checked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)


def create_new(path: Path, mode: int = 0o644) -> int:
    """A descriptor on a file created here and now (O_EXCL: nothing, not even a link, was there)."""
    return _open_checked(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)


def read_small(path: "str | Path", limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path`` (a link to one is followed: reading is
    not writing); a FIFO, device or folder is refused by kind (OSError naming it), never read."""
    fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"is a {kind_of(st.st_mode)}, not a regular file")
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> Path:
    """``path`` as a folder (made with its parents if missing); a link or non-folder at ``path``
    itself is refused with a WriteError naming it, so nothing is written through it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise write_error(path, exc) from None
    if stat.S_ISLNK(st.st_mode):
        raise link_refused(path)
    if not stat.S_ISDIR(st.st_mode):
        raise link_refused(path, f"a {kind_of(st.st_mode)} where a folder belongs")
    return path


def _commit(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to the disk and rename it to ``path``."""
    fd = os.open(tmp, os.O_RDWR | _NOFOLLOW)  # a writer that swapped its file for a link is refused
    try:
        _check_tmp(fd, tmp)
        os.fsync(fd)
    finally:
        os.close(fd)
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder")
    os.replace(tmp, path)  # a link at ``path`` is replaced, never written through


def _check_tmp(fd: int, tmp: Path) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        raise link_refused(tmp, f"a {kind_of(st.st_mode)} with {st.st_nlink} names")


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
    made = False
    try:
        os.close(create_new(tmp))  # ours, empty: a link planted at the temporary name is refused
        made = True
        yield tmp
        _commit(tmp, path)
    except BaseException as exc:
        if made:
            _discard(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | _NOFOLLOW)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)


def write_text(path: Path, text: str) -> None:
    """UTF-8 text; credentials in any URI it holds are masked first (dlhw.tracking.redact): a
    config.yaml, report or record dlhw writes never stores a tracking password or token."""
    from dlhw.tracking.redact import redact

    write_bytes(path, redact(text).encode("utf-8"))


def write_json(path: Path, data: Any, indent: "int | None" = 2) -> None:
    """JSON (NumPy numbers and arrays, and paths, as plain values), with a final newline
    (secrets in URIs masked, as by write_text)."""
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
