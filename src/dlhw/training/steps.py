"""Per-step curves (``training.log_steps``): one row per training batch in history_steps.csv.

Keras hands its batch hooks the *running* means of the epoch so far, not the
batch's own values: the loss is a mean weighted by each batch's sample count, and
the accuracy / MAE metrics are means over samples. Both are recorded here:

- ``loss``, ``accuracy`` (or ``mae``): the batch's own value, what a per-step
  curve of batch vs mini-batch gradient descent shows (S3). It is derived from two
  successive running means and the batch sizes: with ``m_k`` the running mean after
  batch k and ``S_k`` the samples seen so far, batch k's value is
  ``(S_k * m_k - S_(k-1) * m_(k-1)) / n_k`` (float64; the running means are float32,
  so a value carries an error of about ``k * 1e-7`` times the mean);
- ``running_loss``, ``running_accuracy``: Keras' running means as logged (the
  progress bar's numbers; the last step of an epoch equals history.csv's value).

Batch k of an epoch holds ``min(batch_size, n - k * batch_size)`` samples on both
training paths (``Model.fit`` on the seeded image pipeline and ``fit_arrays``, whose
batch hooks run after the epoch's compiled call). ``global_step`` counts batches
over all epochs and stages. Rows are appended to the file at each epoch's end (and
when training stops mid-epoch, e.g. at a NaN loss), so a resumed run keeps the rows
of the epochs its checkpoint holds and replays the rest identically.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Dict, List, Optional

import keras

FIXED = ["stage", "epoch", "step", "global_step"]


class StepLog:
    """history_steps.csv of one run: started afresh, or cut back to a checkpoint's epochs on resume."""

    def __init__(self, path: Path, samples: int, batch_size: int, keep_epochs: Optional[int] = None):
        self.path = Path(path)
        self.samples, self.batch_size = int(samples), int(batch_size)
        self.steps = max(1, math.ceil(self.samples / self.batch_size))
        self.columns: Optional[List[str]] = None
        if keep_epochs is None:
            self.path.unlink(missing_ok=True)
        else:
            self._keep(keep_epochs)

    def _keep(self, epochs: int) -> None:
        if not self.path.exists():
            return
        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            self.columns = list(reader.fieldnames or [])
            rows = [r for r in reader if _int(r.get("epoch")) <= epochs]
        from dlhw.runtime.files import write_text

        write_text(self.path, _csv(self.columns, rows, header=True))

    def batch_size_of(self, step: int) -> int:
        """Samples in 0-based batch ``step`` of an epoch."""
        return max(0, min(self.batch_size, self.samples - step * self.batch_size))

    def append(self, rows: List[Dict[str, object]]) -> None:
        if not rows:
            return
        header = self.columns is None or not self.path.exists()
        if self.columns is None:
            keys = sorted((k for k in rows[0] if k not in FIXED and not k.startswith("running_")),
                          key=lambda k: (k != "loss", k))
            self.columns = FIXED + keys + [f"running_{k}" for k in keys]
        from dlhw.runtime.files import open_append, write_error

        try:
            with open_append(self.path, newline="") as fh:  # never through a link
                fh.write(_csv(self.columns, rows, header=header))
        except OSError as exc:  # a full disk: one line naming the file
            raise write_error(self.path, exc) from None


class StepRecorder(keras.callbacks.Callback):
    """Collects each batch's row (its own values and the running means) and appends an epoch's rows."""

    def __init__(self, log: StepLog, stage: str):
        super().__init__()
        self.log = log
        self.stage = stage
        self._rows: List[Dict[str, object]] = []
        self._epoch = 0
        self._seen = 0
        self._prev: Dict[str, float] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._flush()
        self._epoch, self._seen, self._prev = epoch + 1, 0, {}

    def on_train_batch_end(self, batch, logs=None):
        n = self.log.batch_size_of(batch)
        before, self._seen = self._seen, self._seen + n
        row: Dict[str, object] = {"stage": self.stage, "epoch": self._epoch, "step": batch + 1,
                                  "global_step": (self._epoch - 1) * self.log.steps + batch + 1}
        running: Dict[str, float] = {}
        for key, value in (logs or {}).items():
            if key == "learning_rate":
                continue
            try:
                mean = float(value)
            except (TypeError, ValueError):
                continue
            prev = self._prev.get(key, 0.0)
            row[key] = (self._seen * mean - before * prev) / n if n else math.nan
            running[f"running_{key}"] = mean
            self._prev[key] = mean
        row.update(running)
        self._rows.append(row)

    def on_epoch_end(self, epoch, logs=None):
        self._flush()

    def on_train_end(self, logs=None):
        self._flush()  # an epoch cut short (a NaN loss) still shows its steps

    def _flush(self) -> None:
        rows, self._rows = self._rows, []
        self.log.append(rows)


def _int(value) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _csv(columns: List[str], rows: List[Dict[str, object]], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    for r in rows:
        writer.writerow({k: _fmt(r.get(k, "")) for k in columns})
    return buf.getvalue()


def _fmt(value) -> object:
    if isinstance(value, float):
        return repr(value)
    return value
