"""Callbacks the trainer adds to every fit: history rows, NaN guard, best weights, TensorBoard."""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras


def current_lr(model) -> float:
    opt = model.optimizer
    lr = opt.learning_rate
    try:
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            return float(lr(opt.iterations))
        return float(keras.ops.convert_to_numpy(lr))
    except Exception:  # pragma: no cover - exotic optimizers
        return float("nan")


class HistoryRecorder(keras.callbacks.Callback):
    """Appends one dict per epoch (stage, epoch, metrics, lr) to ``rows``."""

    def __init__(self, rows: list, stage: str, on_epoch=None):
        super().__init__()
        self.rows = rows
        self.stage = stage
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {"stage": self.stage, "epoch": epoch + 1}
        for k, v in logs.items():
            if k == "learning_rate":
                continue
            row[k] = float(v)
        row["lr"] = current_lr(self.model)
        self.rows.append(row)
        if self.on_epoch is not None:
            self.on_epoch(row)


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first NaN/inf loss and records where (status: diverged)."""

    def __init__(self):
        super().__init__()
        self.diverged_at: tuple[int, int] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = (self._epoch, batch + 1)
            self.model.stop_training = True


class BestWeights(keras.callbacks.Callback):
    """Keeps the best epoch's weights in memory (the monitored value, e.g. val_loss).

    Only the weights training can change are copied (``live()``: indices into
    ``model.weights``, the checkpointer's); frozen ones are None. The copy goes into
    each checkpoint (for --resume) and ``write`` saves it as ``best.weights.h5`` once,
    at the end of training, when it differs from the final weights. Nothing is written
    to disk per epoch.
    """

    def __init__(self, folder: Path, monitor: str = "val_loss", live=None):
        super().__init__()
        self.folder = Path(folder)
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.mode_max = "acc" in monitor or "auc" in monitor
        self._live = live
        self._tracked = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss"))
        if value is None or not math.isfinite(float(value)):
            return
        score = -float(value) if self.mode_max else float(value)
        if score < self.best:
            self.best, self.best_epoch = score, epoch + 1
            if self._tracked is None:  # (index, variable) of the weights training changes, found once
                weights = self.model.weights
                live = sorted(self._live()) if self._live is not None else range(len(weights))
                self._tracked = (len(weights), [(i, weights[i]) for i in live])
            n, tracked = self._tracked
            best = [None] * n
            for i, v in tracked:
                best[i] = keras.ops.convert_to_numpy(v)
            self.best_weights = best

    def on_train_begin(self, logs=None):
        self._tracked = None

    def write(self, last_epoch: int) -> None:
        """``best.weights.h5`` when the best epoch is not the last one (atomic; the model's
        own weights are put back afterwards)."""
        if self.best_weights is None or self.best_epoch >= last_epoch:
            return
        pairs = [(w, b) for w, b in zip(self.model.weights, self.best_weights) if b is not None]
        current = [keras.ops.convert_to_numpy(w) for w, _ in pairs]
        try:
            for w, b in pairs:
                w.assign(b)
            self._save("best.weights.h5")
        finally:
            for (w, _), c in zip(pairs, current):
                w.assign(c)

    def _save(self, name: str) -> None:
        from dlhw.keras_saving import weights_h5_bytes
        from dlhw.runs import atomic_write_bytes

        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.folder / name, weights_h5_bytes(self.model))  # a full disk: one line


class EpochTensorBoard(keras.callbacks.Callback):
    """TensorBoard scalars once per epoch (tb/train and tb/validation, as Keras lays them out).

    Keras 3's own TensorBoard callback also writes every batch's logs, which costs
    more than training a small model, and even ``tf.summary.scalar`` runs a few eager
    ops per value (~0.7 ms an epoch). Here each epoch is one protocol-buffer event per
    side handed to TensorBoard's own event-file writer (a background thread, no flush
    per epoch): ~20 us an epoch. TensorBoard shows them as ordinary scalars.
    """

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers = None

    def _get_writers(self):
        if self._writers is None:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._writers = {side: EventFileWriter(str(self.log_dir / side)) for side in ("train", "validation")}
        return self._writers

    def on_epoch_end(self, epoch, logs=None):
        import time

        from tensorboard.compat.proto import event_pb2, summary_pb2

        logs = dict(logs or {})
        logs.setdefault("learning_rate", current_lr(self.model))
        values = {"train": [], "validation": []}
        for key, value in logs.items():
            side, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            values[side].append(summary_pb2.Summary.Value(tag=f"epoch_{name}", simple_value=float(value)))
        now = time.time()
        for side, vals in values.items():
            if vals:
                self._get_writers()[side].add_event(
                    event_pb2.Event(wall_time=now, step=int(epoch), summary=summary_pb2.Summary(value=vals)))

    def on_train_end(self, logs=None):
        for w in (self._writers or {}).values():
            w.close()  # flushes; a later stage opens new files beside these
        self._writers = None
