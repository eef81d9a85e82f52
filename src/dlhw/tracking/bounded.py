"""Tracking that fails fast: a bounded wait per call, a store checked before it is opened,
and MLflow's own log lines kept out of the user's terminal.

A tracking service can fail slowly: MLflow retries a sqlite store it cannot open ten times
with back-off (a warning per try), an HTTP server may accept a connection and never answer.
The run folder is the record, so dlhw bounds what tracking may cost a run:

- ``preflight(uri)``: a sqlite or file store whose folder cannot be written (read-only
  filesystem, permissions) or whose path is a FIFO, device or folder is refused at once,
  before MLflow is asked (its retry loop would otherwise print a line per try);
- ``Caller``: every call of one tracker is made on one daemon thread of its own; for a
  tracking server each is waited for at most ``CALL_SECONDS`` (an artifact upload
  ``UPLOAD_SECONDS``); a call that takes longer is abandoned (the thread is left behind, a
  daemon, never joined at exit) and the tracker switches off with one line. A local store
  (sqlite, file) is local work: creating a sqlite store's tables can take tens of seconds on
  a busy machine, so it is not cut short; its failures are found by ``preflight`` at once;
- ``quiet_mlflow()``: MLflow's loggers (and alembic's, which MLflow uses to create a sqlite
  store) print warnings and errors only, and MLflow's store-retry lines not at all: dlhw says
  the one line that matters itself;
- ``artifact_root(uri)``: a sqlite store keeps its artifacts in ``mlartifacts/`` beside the
  database file the user named, never in an unasked ``./mlruns`` of the working directory.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlparse

CALL_SECONDS = 15.0    # the longest one call to a tracking server (connect, log) may keep a run waiting
UPLOAD_SECONDS = 300.0  # the longest one artifact upload (the run folder's files, the model) to a server
STORE_RETRIES = 2      # MLflow's tries to open a sqlite store (its default: 10, with back-off)
ARTIFACTS = "mlartifacts"


class TrackingTimeout(TimeoutError):
    """A tracking call that did not answer within its bound."""


class Caller:
    """Calls made one at a time on a daemon thread, each waited for at most ``timeout`` seconds
    (a sqlite connection MLflow opens on that thread is only ever used there)."""

    def __init__(self, uri: Optional[str] = None, timeout: Optional[float] = None):
        self.local = uri is None or store_path(uri) is not None  # MLflow's default store is a local sqlite file
        self.timeout = timeout
        self._jobs: "queue.Queue[Any]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None

    def _serve(self) -> None:
        while True:
            fn, args, kwargs, box, done = self._jobs.get()
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                box["error"] = exc
            finally:
                done.set()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on the tracker's thread, waited for at most the call bound."""
        return self.call_within(self.timeout if self.timeout is not None else CALL_SECONDS, fn, *args, **kwargs)

    def upload(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """As ``call``, for an artifact upload (bounded by ``UPLOAD_SECONDS``)."""
        return self.call_within(self.timeout if self.timeout is not None else UPLOAD_SECONDS, fn, *args, **kwargs)

    def call_within(self, seconds: float, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="dlhw-tracking", daemon=True)
            self._thread.start()
        box: dict = {}
        done = threading.Event()
        self._jobs.put((fn, args, kwargs, box, done))
        if not done.wait(None if self.local else seconds):
            raise TrackingTimeout(f"no answer within {seconds:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")


def store_path(uri: Optional[str]) -> Optional[Path]:
    """The local file or folder a sqlite:/file: URI (or a plain path) names; None for a server."""
    if not uri:
        return None
    if uri.startswith("sqlite:"):
        path = uri[len("sqlite:"):]
        if path.startswith("///"):  # sqlite:///relative.db, sqlite:////absolute.db
            path = path[3:]
        path = path.split("?", 1)[0]
        return Path(unquote(path)) if path and path != ":memory:" else None
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path or uri[len("file:"):]))
    if "://" not in uri:
        return Path(uri)
    return None


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def preflight(uri: Optional[str]) -> None:
    """OSError (one line's worth) when a local store cannot be written: its folder read-only or
    not writable, or its path a special file. Servers are left to the bounded calls."""
    from dlhw.runtime.files import path_kind

    path = store_path(uri)
    if path is None or uri is None:
        return
    sqlite = uri.startswith("sqlite:")
    kind = path_kind(path)
    if kind is not None and kind != ("file" if sqlite else "folder"):
        raise OSError(f"{path} is a {kind}, not a {'database file' if sqlite else 'folder'}")
    folder = path.parent if sqlite else path
    existing = _nearest_existing(folder)
    if path_kind(existing) != "folder":
        raise OSError(f"{existing} is not a folder")
    if not os.access(existing, os.W_OK) or (kind == "file" and not os.access(path, os.W_OK)):
        raise OSError(f"{existing if kind is None or not sqlite else path} cannot be written "
                      f"(read-only filesystem or no permission)")


def quiet_mlflow() -> None:
    """MLflow's INFO lines off (warnings stay), its store-retry lines and alembic's INFO off;
    MLflow's sqlite store tried ``STORE_RETRIES`` times, not ten."""
    for name, level in (("mlflow", logging.WARNING), ("alembic", logging.WARNING),
                        ("mlflow.store.db.utils", logging.ERROR)):
        log = logging.getLogger(name)
        if log.level < level:
            log.setLevel(level)
    try:
        import mlflow.store.db.utils as db_utils

        db_utils.MAX_RETRY_COUNT = min(int(getattr(db_utils, "MAX_RETRY_COUNT", STORE_RETRIES)), STORE_RETRIES)
    except Exception:  # noqa: BLE001 - another MLflow layout: its own retries stand, still bounded by Caller
        pass


def artifact_root(uri: Optional[str]) -> Optional[str]:
    """Where a new experiment of a sqlite store keeps its artifacts: ``mlartifacts/`` beside the
    database file (None: the store decides, as a server or a file store does)."""
    path = store_path(uri)
    if path is None or not uri or not uri.startswith("sqlite:"):
        return None
    return (path.absolute().parent / ARTIFACTS).as_uri()
