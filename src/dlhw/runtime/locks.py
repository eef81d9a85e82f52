"""One process per folder: an OS lock on ``FOLDER/.lock`` (fcntl.flock; msvcrt on Windows).

``dlhw run`` (and a sweep worker training a trial) holds its run folder's lock,
the ``dlhw sweep`` driver its sweep folder's, until the run ends or the process
dies: the operating system releases a dead process's lock, so a killed process
never leaves a stale one behind. A second process refuses at once (exit 2, one
line naming the folder and the pid holding it). The file holds that pid, for
the message only; the lock, not the file, is what counts. Readers (``dlhw
report``, ``--dry-run``) never take it. No heavy imports.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional

from dlhw.errors import ConfigError
from dlhw.runtime.log import get_logger

log = get_logger(__name__)

LOCK_FILE = ".lock"
_PID_BYTES = 32  # the pid is written before this offset; Windows locks the byte at it

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]


class FolderBusy(ConfigError):
    """Another live process holds the folder's lock (exit 2)."""

    def __init__(self, folder: Path, pid: Optional[int], what: str):
        self.folder, self.pid = Path(folder), pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"{folder}: this {what} is in use by another dlhw process ({who}); "
                         f"wait for it to finish or stop it first")


class FolderLock:
    """A held lock; ``release()`` (or the process ending) frees it."""

    def __init__(self, folder: Path, fd: Optional[int]):
        self.folder, self.fd, self.depth = Path(folder), fd, 1

    def release(self) -> None:
        self.depth -= 1
        if self.depth > 0:
            return
        _HELD.pop(_key(self.folder), None)
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                _unlock(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


_HELD: Dict[str, FolderLock] = {}
_NOTED = [False]


def _key(folder: Path) -> str:
    return os.path.realpath(folder)


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
    os.lseek(fd, _PID_BYTES, os.SEEK_SET)  # msvcrt locks from the current position; the pid stays readable
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            os.lseek(fd, _PID_BYTES, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except OSError:
        pass


def read_pid(folder: Path, wait: float = 0.5) -> Optional[int]:
    """The pid written in FOLDER/.lock (the holder may still be writing it: retried for ``wait`` s)."""
    from dlhw.runtime.files import read_small

    end = time.monotonic() + wait
    while True:
        try:  # never a FIFO or device planted as .lock: read by kind, a few bytes
            text = read_small(Path(folder) / LOCK_FILE, _PID_BYTES).decode("ascii", "replace").strip()
            if text.isdigit():
                return int(text)
        except OSError:
            pass
        if time.monotonic() >= end:
            return None
        time.sleep(0.02)


def acquire(folder: Path, what: str = "run folder") -> FolderLock:
    """Lock ``folder`` (which must exist) for this process, or raise FolderBusy at once.
    Re-entrant within one process: each acquire needs its release."""
    folder = Path(folder)
    held = _HELD.get(_key(folder))
    if held is not None:
        held.depth += 1
        return held
    if fcntl is None and msvcrt is None:  # pragma: no cover - no OS lock on this platform
        if not _NOTED[0]:
            _NOTED[0] = True
            log.info("note: this platform has no file locks; two dlhw processes on one folder are not prevented")
        lock = _HELD[_key(folder)] = FolderLock(folder, None)
        return lock
    from dlhw.runtime.files import open_lock

    path = folder / LOCK_FILE
    try:  # never through a link, FIFO, device or hard link planted as .lock (a WriteError names it)
        fd = open_lock(path)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot open its lock file {LOCK_FILE}: {exc.strerror}") from None
    try:
        if not _try_lock(fd):
            time.sleep(0.05)  # a reader's probe (holder()) holds it for microseconds; a real holder stays
            if not _try_lock(fd):
                raise FolderBusy(folder, read_pid(folder), what)
        os.lseek(fd, 0, os.SEEK_SET)  # fixed width, no truncation (Windows: the locked byte follows)
        os.write(fd, str(os.getpid()).ljust(_PID_BYTES - 1).encode() + b"\n")
    except BaseException:
        os.close(fd)
        raise
    lock = _HELD[_key(folder)] = FolderLock(folder, fd)
    return lock


def holder(folder: Path) -> Optional[int]:
    """The pid of the live process holding ``folder``'s lock (this one included), or None.
    Takes nothing: a free lock is released at once."""
    folder = Path(folder)
    if _key(folder) in _HELD:
        return os.getpid()
    from dlhw.runtime.files import path_kind

    if (fcntl is None and msvcrt is None) or path_kind(folder / LOCK_FILE, follow=False) != "file":
        return None
    try:  # flock needs no write access: a reader may probe a folder it cannot write
        fd = os.open(folder / LOCK_FILE, (os.O_RDONLY if fcntl is not None else os.O_RDWR)
                     | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return read_pid(folder) or -1


@contextmanager
def released_after() -> Iterator[None]:
    """Every lock taken inside the block is released when it ends (however it ends)."""
    before = set(_HELD)
    try:
        yield
    finally:
        for key in set(_HELD) - before:
            lock = _HELD.get(key)
            if lock is not None:
                lock.depth = 1
                lock.release()


def forget_inherited() -> None:
    """In a forked child: close the parent's lock descriptors without unlocking them (an unlock
    here would free the parent's lock), so the child never keeps the parent's folders locked."""
    for lock in list(_HELD.values()):
        if lock.fd is not None:
            try:
                os.close(lock.fd)
            except OSError:
                pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forget_inherited)
