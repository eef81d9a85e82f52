"""Callbacks the trainer adds to every fit: history rows, NaN guard, best weights, TensorBoard."""

from __future__ import annotations

import errno
import math
from pathlib import Path

import keras

from dlhw.evaluation.direction import higher_is_better


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

    Used for ``evaluation.weights: best`` (the run evaluates and saves those weights).
    Only the weights training can change are copied (``live()``: indices into
    ``model.weights``, the checkpointer's); frozen ones are None. The copy goes into
    each checkpoint (for --resume); nothing is written to disk per epoch.

    ``carry(previous)`` continues an earlier stage's record (``evaluation.weights: best``
    picks the best epoch over all stages): the weights a later stage unfreezes are copied
    as they are when it begins, which is what they were at the earlier best epoch.
    When the monitored value is not logged (no validation split), the training-side value
    (``val_accuracy`` -> ``accuracy``) or the loss is used.
    """

    def __init__(self, folder: Path, monitor: str = "val_loss", live=None):
        super().__init__()
        self.folder = Path(folder)
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.maximize = higher_is_better(monitor)  # of the value last used (saved in checkpoints)
        self.monitored = None  # the logged key used: the monitor, or its stand-in without a validation split
        self._live = live
        self._tracked = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        key = next((k for k in (self.monitor, self.monitor.removeprefix("val_"), "loss") if k in logs), None)
        value = logs.get(key)
        if value is None or not math.isfinite(float(value)):
            return
        maximize = higher_is_better(key)
        score = -float(value) if maximize else float(value)
        if score < self.best:
            self.best, self.best_epoch, self.maximize, self.monitored = score, epoch + 1, maximize, key
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
        if self.best_weights is not None:  # carried from an earlier stage: add what this stage unfreezes
            from dlhw.runtime.keras_internals import live_positions

            for i in live_positions(self.model):
                if self.best_weights[i] is None:
                    self.best_weights[i] = keras.ops.convert_to_numpy(self.model.weights[i])

    def carry(self, previous: "BestWeights") -> None:
        """Start from ``previous``'s best (an earlier stage, same monitor)."""
        self.best, self.best_epoch = previous.best, previous.best_epoch
        self.maximize, self.monitored = previous.maximize, previous.monitored
        self.best_weights = None if previous.best_weights is None else list(previous.best_weights)

    def restore(self) -> bool:
        """Put the best epoch's weights into the model; False when there are none."""
        if self.best_weights is None:
            return False
        for w, b in zip(self.model.weights, self.best_weights):
            if b is not None:
                w.assign(b)
        return True


class EpochTensorBoard(keras.callbacks.Callback):
    """TensorBoard scalars once per epoch (tb/train and tb/validation, as Keras lays them out).

    Keras 3's own TensorBoard callback also writes every batch's logs, which costs
    more than training a small model, and even ``tf.summary.scalar`` runs a few eager
    ops per value (~0.7 ms an epoch). Here each epoch is one protocol-buffer event per
    side written to the run's event files (dlhw.training.event_file: no thread, flushed
    every 2 s and at the stage's end): ~0.1 ms an epoch. TensorBoard shows them as
    ordinary scalars.

    ``histograms=N`` (``training.tensorboard: {histograms: N}``, Keras' ``histogram_freq``)
    adds, every N epochs from the first, a histogram of every weight of the model being
    trained (tb/train, tag ``<weight path>/histogram``, step = 0-based epoch), in
    TensorBoard's own histogram format (30 equal-width buckets; non-finite values left out).
    """

    def __init__(self, log_dir: Path, histograms: int = 0):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.histograms = int(histograms or 0)
        self._writers = None

    def _get_writers(self):
        if self._writers is None:
            from dlhw.training.event_file import EventFile

            with self._named_errors():
                self._writers = {side: EventFile(self.log_dir / side) for side in ("train", "validation")}
        return self._writers

    def _named_errors(self):
        """A failed log write (a full disk) becomes one line naming the log folder, like every
        other file of the run, instead of TensorFlow's ResourceExhaustedError."""
        from contextlib import contextmanager

        @contextmanager
        def named():
            try:
                yield
            except Exception as exc:  # noqa: BLE001 - TensorFlow's file errors are not OSErrors
                from dlhw.runtime.files import write_error

                if not isinstance(exc, OSError):
                    text = str(exc)
                    exc = OSError(errno.ENOSPC if "No space" in text else None,
                                  "No space left on device" if "No space" in text else text.split(";")[-1].strip())
                raise write_error(self.log_dir, exc) from None

        return named()

    def on_epoch_end(self, epoch, logs=None):
        import time

        from tensorboard.compat.proto import event_pb2, summary_pb2

        logs = dict(logs or {})
        if "learning_rate" not in logs:
            logs["learning_rate"] = current_lr(self.model)
        values = {"train": [], "validation": []}
        for key, value in logs.items():
            side, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            values[side].append(summary_pb2.Summary.Value(tag=f"epoch_{name}", simple_value=float(value)))
        if self.histograms and epoch % self.histograms == 0:
            values["train"].extend(weight_histograms(self.model))
        now = time.time()
        for side, vals in values.items():
            if vals:
                writer = self._get_writers()[side]
                with self._named_errors():
                    writer.write(
                        event_pb2.Event(wall_time=now, step=int(epoch), summary=summary_pb2.Summary(value=vals)))

    def on_train_end(self, logs=None):
        writers, self._writers = self._writers or {}, None
        with self._named_errors():
            for w in writers.values():
                w.close()  # flushes; a later stage opens new files beside these


def weight_histograms(model, buckets: int = 30) -> list:
    """One TensorBoard histogram summary value per weight of ``model`` (as the histogram
    plugin's ``histogram_pb`` lays them out: a [buckets, 3] tensor of left edge, right edge,
    count), binned with np.histogram, which needs no (samples x buckets) temporary."""
    import numpy as np
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.histogram import metadata
    from tensorboard.util import tensor_util

    meta = metadata.create_summary_metadata(display_name=None, description=None)
    out, seen = [], set()
    for w in model.weights:
        tag = f"{w.path}/histogram"
        if tag in seen:
            continue
        seen.add(tag)
        data = np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float64).ravel()
        data = data[np.isfinite(data)]
        if data.size == 0:
            table = np.zeros((buckets, 3))
        elif data.min() == data.max():  # one value: every edge there, all counts in the last bucket
            table = np.zeros((buckets, 3))
            table[:, :2] = data[0]
            table[-1, 2] = data.size
        else:
            counts, edges = np.histogram(data, bins=buckets)
            table = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
        out.append(summary_pb2.Summary.Value(tag=tag, metadata=meta,
                                             tensor=tensor_util.make_tensor_proto(table, dtype=np.float64)))
    return out
