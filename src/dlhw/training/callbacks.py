"""Callbacks the trainer adds to every fit: history rows, NaN guard, checkpoints."""

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


class WeightCheckpoint(keras.callbacks.Callback):
    """Writes ``best.weights.h5`` atomically (temporary file, then rename) whenever the
    monitored value improves. The last epoch's full state lives in ``last.ckpt.npz``
    (dlhw.training.checkpoint), so it is not written twice."""

    def __init__(self, folder: Path, monitor: str = "val_loss"):
        super().__init__()
        self.folder = Path(folder)
        self.monitor = monitor
        self.best = math.inf
        self.mode_max = "acc" in monitor or "auc" in monitor

    def _save(self, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp.weights.h5"
        from dlhw.keras_saving import prime

        prime()
        try:
            self.model.save_weights(tmp)
            os.replace(tmp, self.folder / name)
        except OSError as exc:  # disk full: one line naming the file, no partial file left
            tmp.unlink(missing_ok=True)
            from dlhw.runs import write_error

            raise write_error(self.folder / name, exc) from None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss"))
        if value is None or not math.isfinite(float(value)):
            return
        score = -float(value) if self.mode_max else float(value)
        if score < self.best:
            self.best = score
            self._save("best.weights.h5")


class EpochTensorBoard(keras.callbacks.Callback):
    """TensorBoard scalars once per epoch (tb/train and tb/validation, as Keras lays them out).

    Keras 3's own TensorBoard callback also writes every batch's logs, which
    costs more than training a small model; this one writes epoch values only.
    """

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers = None

    def _get_writers(self):
        if self._writers is None:
            import tensorflow as tf

            self._writers = {
                "train": tf.summary.create_file_writer(str(self.log_dir / "train")),
                "validation": tf.summary.create_file_writer(str(self.log_dir / "validation")),
            }
        return self._writers

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        writers = self._get_writers()
        logs = dict(logs or {})
        logs.setdefault("learning_rate", current_lr(self.model))
        for key, value in logs.items():
            side, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with writers[side].as_default():
                tf.summary.scalar(f"epoch_{name}", float(value), step=epoch)

    def on_train_end(self, logs=None):
        for w in (self._writers or {}).values():
            w.flush()
