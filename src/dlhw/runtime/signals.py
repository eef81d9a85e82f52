"""Ctrl-C and SIGTERM during a run: stop after the current batch, keep what is saved.

While a run is active, SIGINT / SIGTERM no longer kill the process mid-write.
During training the first signal is only noted. When the epoch in progress ends
within a few seconds (judged by the last epoch's duration), it is finished, its
checkpoint is written, and training stops; otherwise :class:`InterruptCheck` stops
training after the batch in progress and the weights of that partial epoch are
dropped. Either way the last checkpoint is what ``dlhw run --resume`` continues
from: the resumed run replays the epochs after it and ends exactly like an
uninterrupted run.
Outside training (loading data, evaluating), a signal interrupts at once.
A second signal always interrupts at once; atomic writes (temporary file, then
rename) mean no result file is ever left half-written.

The run ends with status ``interrupted`` and exit code 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM",
         getattr(signal, "SIGUSR2", 12): "SIGUSR2 (Slurm's warning: preemption or time limit)"}


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int = signal.SIGINT, message: str = ""):
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(message or f"interrupted by {NAMES.get(signum, f'signal {signum}')}")

    def __reduce__(self):  # rebuilt with its signal number wherever it is unpickled
        return (type(self), (self.signum, str(self)))


class _State:
    requested: Optional[int] = None  # the first signal received, when deferred
    deferring: bool = False  # True while batches are running (InterruptCheck)
    run_dir: Optional[str] = None


STATE = _State()


def _message(signum: int, detail: str) -> str:
    where = f"; resume with: dlhw run --resume {STATE.run_dir}" if STATE.run_dir else ""
    return f"interrupted by {NAMES.get(signum, f'signal {signum}')}{detail}{where}"


def _handler(signum, frame) -> None:
    if STATE.deferring and STATE.requested is None:
        STATE.requested = signum
        import sys

        print(f"\n{NAMES.get(signum, signum)}: stopping soon, after writing a checkpoint "
              f"(press Ctrl-C again to stop at once)", file=sys.stderr, flush=True)
        return
    raise RunInterrupted(signum, _message(signum, ""))


handler = _handler  # dlhw.slurm.task installs it for SIGUSR2 too


@contextmanager
def graceful_interrupts(run_dir=None) -> Iterator[_State]:
    """Install the SIGINT / SIGTERM handlers for the duration of a run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield STATE
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    # a signal noted before the run began (note_between_runs) is kept: training stops as it starts
    STATE.deferring, STATE.run_dir = False, None if run_dir is None else str(run_dir)
    for s in previous:
        signal.signal(s, _handler)
    try:
        yield STATE
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        STATE.requested, STATE.deferring, STATE.run_dir = None, False, None


def note_between_runs(signum, frame) -> None:
    """SIGINT handler of a sweep worker between trials: only noted. The worker declines its next
    trial, or a run already starting stops as training begins (``graceful_interrupts`` keeps it)."""
    if STATE.requested is None:
        STATE.requested = signum


def raise_if_requested(detail: str = "") -> None:
    """Raise RunInterrupted when a deferred signal is waiting."""
    if STATE.requested is not None:
        signum, STATE.requested = STATE.requested, None
        STATE.deferring = False
        raise RunInterrupted(signum, _message(signum, detail))


def interrupt_check(finish_epoch=None):
    """A Keras callback: defer signals while batches run, stop after the batch in progress.

    ``finish_epoch()`` (the checkpointer's) may say the epoch in progress ends soon
    enough to finish it: training then stops at its end, once its checkpoint is written."""
    import keras

    class InterruptCheck(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._epoch = 0
            self._finishing = False

        def on_train_begin(self, logs=None):
            raise_if_requested()
            STATE.deferring = True

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch + 1
            self._finishing = False
            raise_if_requested(f" after epoch {epoch}" if epoch else f" before epoch {epoch + 1}")

        def on_train_batch_end(self, batch, logs=None):
            if STATE.requested is None or self._finishing:
                return
            if finish_epoch is not None and finish_epoch():
                self._finishing = True  # the checkpoint writer saves this epoch; on_epoch_begin stops
                return
            raise_if_requested(f" during epoch {self._epoch} (batch {batch + 1}); "
                               f"that epoch is redone on resume")

        def on_train_end(self, logs=None):
            STATE.deferring = False
            raise_if_requested(" at the end of a training stage")

    return InterruptCheck()
