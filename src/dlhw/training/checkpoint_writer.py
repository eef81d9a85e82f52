"""When checkpoints are written, and writing them without making training wait.

``training.checkpoint`` chooses the policy:

- ``auto`` (the default): a checkpoint when at least ``AUTO_SECONDS`` of training
  passed since the last one *and* at least ``AUTO_COST_FACTOR`` times the last write's
  own duration (so writing costs at most ~5% of training on any model size); always
  at the end of each stage, on Ctrl-C / SIGTERM and at the end of training.
- ``every_epoch``: after every epoch (the old behaviour).
- ``{every_seconds: S}``: when S seconds of training passed since the last one (and at
  stage ends, on a signal and at the end).
- ``off``: never (``dlhw run --resume`` then restarts from epoch 1).

A checkpoint is taken at an epoch's end as host arrays (on CPU these are views that
cost nothing until the optimizer next updates a variable) and written by one
background thread: temporary file, fsync, rename. Training never waits for the disk
except when a new checkpoint is due while the previous one is still being written.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

AUTO_SECONDS = 30.0
AUTO_COST_FACTOR = 20.0  # the write may take at most 1/20 of the training between two writes


@dataclass(frozen=True)
class CheckpointPolicy:
    mode: str  # auto | every_epoch | seconds | off
    seconds: float = 0.0

    @classmethod
    def from_config(cls, value) -> "CheckpointPolicy":
        if value is True:
            return cls("auto")
        if value is False or value is None:
            return cls("off")
        if isinstance(value, str):
            return cls(value)
        seconds = getattr(value, "every_seconds", None)
        if seconds is None and isinstance(value, dict):
            seconds = value.get("every_seconds")
        return cls("seconds", float(seconds))

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def interval(self, last_cost: float) -> float:
        """Seconds of training between two checkpoints (0: every epoch)."""
        if self.mode == "every_epoch":
            return 0.0
        if self.mode == "seconds":
            return self.seconds
        return max(AUTO_SECONDS, AUTO_COST_FACTOR * last_cost)

    def describe(self) -> str:
        return {"auto": f"auto (at most every {AUTO_SECONDS:.0f} s, and at stage ends)",
                "every_epoch": "every epoch", "off": "off"}.get(self.mode, f"every {self.seconds:g} s")


class BackgroundWriter:
    """One writer thread, at most one write in flight: ``submit`` waits for the previous one.

    An error in the thread (a full disk...) is kept and raised by the next ``submit`` or
    by ``wait``; the temporary file is removed, the previous checkpoint stays as it was.
    """

    def __init__(self):
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self.last_seconds = 0.0  # how long the last write took (in its thread)
        self.writes = 0

    def submit(self, job: Callable[[], None], wait: bool = False) -> None:
        self.wait()

        def work():
            start = time.perf_counter()
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the training thread
                self._error = exc
            finally:
                self.last_seconds = time.perf_counter() - start
                self.writes += 1

        self._thread = threading.Thread(target=work, name="dlhw-checkpoint", daemon=True)
        self._thread.start()
        if wait:
            self.wait()

    def wait(self, raise_errors: bool = True) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            if raise_errors:
                raise err


def write_npz_atomic(path: Path, arrays: dict) -> None:
    """``np.savez`` straight into a temporary file, then fsync and rename (dlhw.runtime.files);
    on any failure the temporary file is removed and a one-line WriteError names ``path``."""
    import numpy as np

    from dlhw.runtime.files import ensure_dir, replacing

    ensure_dir(path.parent)
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
