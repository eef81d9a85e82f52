"""Pruning: a search (dlhw.sweeps.search) stops a trial that its pruner calls hopeless.

``PruneCallback(decide)`` hands every epoch's logs to ``decide(epoch, logs)`` (1-based epochs,
continuous over stages); when it answers True, training stops after that epoch and the run ends
with status ``pruned``, its history and curves kept up to that epoch (orchestration.experiment).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import keras

Decide = Callable[[int, Dict[str, Any]], Any]
PAUSE = "pause"  # what ``decide`` answers to park the run at this epoch (a scheduler's rung): status paused


class PruneCallback(keras.callbacks.Callback):
    """Reports each epoch to ``decide``; stops the fit when it says so and keeps the epoch in ``pruned_at``."""

    def __init__(self, decide: Decide):
        super().__init__()
        self.decide = decide
        self.pruned_at: Optional[int] = None
        self.paused = False

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        decision = self.decide(epoch + 1, logs)
        if decision:
            self.pruned_at = epoch + 1
            self.paused = decision == PAUSE
            self.model.stop_training = True
            self.model._dlhw_paused = self.paused  # the checkpoint writer: a pause is no early stop
