"""Read a run's history for the signs S3 discusses: a bad learning rate, over- and underfitting.

``diagnose(history, diverged_at, evaluated)`` takes the per-epoch rows of
history.csv (stage, epoch, loss, accuracy, val_loss, val_accuracy, lr) and,
for a finished run, ``evaluated``: the figures of metrics.json (``{"train":
{"loss", "accuracy"}, "val": {...}}``), the final model evaluated in inference
mode on each split, the same numbers as the run's table and ``dlhw report``.
It returns a list of findings, each ``{"kind": ..., "message": ..., "epoch":
...}`` (``epoch`` only where one epoch marks the finding). Kinds and the
thresholds that trigger them:

- ``diverged``: a loss (train or val) is NaN or infinite, or the trainer stopped
  the run for a NaN loss. Epoch: the first bad epoch.
- ``lr_too_high``: the training loss *exploded*: within one stage it went above
  ``EXPLODE_RATIO`` = 10 times its first epoch's value, or (accuracy tasks, whose
  losses stay near ln(classes) at chance) above ``EXPLODE_LOSS`` = 1000 at all;
  the run's only finding then (accuracy figures of an exploded model say nothing
  about fitting). Epoch: the highest loss. Or, within one stage of at least 3
  epochs, the training loss *rises* (its last value is more than ``RISE_RATIO`` =
  1.10 times its first) or *oscillates* (at least ``OSCILLATION_MIN_UPS`` = 2
  epoch-to-epoch increases, each of more than ``UP_TOLERANCE`` = 2 %, and they
  make up at least ``OSCILLATION_FRACTION`` = 1/3 of the steps). Epoch: the first
  increase.
- ``lr_too_low``: within one stage of at least ``SLOW_MIN_EPOCHS`` = 5 epochs,
  the training loss fell by less than ``SLOW_DROP`` = 10 % of its first value (or
  rose, by less than the rise above), while the model is not already fitted
  (final training accuracy below ``FITTED_ACCURACY`` = 0.95 and final loss above
  ``FITTED_LOSS`` = 0.05).
- ``mode_gap``: the history's training accuracy (measured in training mode,
  while the weights change, with dropout and BatchNorm batch statistics) and the
  evaluated train accuracy (inference mode: BatchNorm moving averages, no
  dropout) differ by more than ``MODE_GAP`` = 0.15, at the epoch whose
  validation loss matches the evaluated one (the weights that were kept).
- ``overfitting``: the validation loss turned up: its last value is more than
  ``VAL_RISE`` = 10 % above its minimum, at least ``VAL_RISE_EPOCHS`` = 2 epochs
  after that minimum, while the training loss kept falling; or the evaluated
  train accuracy exceeds the evaluated validation accuracy by more than ``GAP`` =
  0.10 while the train accuracy itself is at least 0.70 (a model that fits
  nothing does not overfit). Without ``evaluated``, the last history row's
  accuracies stand in. Epoch: the epoch with the lowest validation loss.
- ``underfitting``: the evaluated train and validation accuracies (without
  ``evaluated``: the best of the history) are both below ``UNDERFIT_ACCURACY`` =
  0.70 (accuracy tasks only), unless a ``lr_too_high`` or ``mode_gap`` finding
  explains it (then the advice would mislead).

Diagnostics never stop a run; they are written to metrics.json (``diagnostics``),
or to status.json for a run that diverged, and printed at the end of ``dlhw run``.
No heavy imports here.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

RISE_RATIO = 1.10
UP_TOLERANCE = 0.02
OSCILLATION_MIN_UPS = 2
OSCILLATION_FRACTION = 1 / 3
EXPLODE_RATIO = 10.0
EXPLODE_LOSS = 1000.0
SLOW_MIN_EPOCHS = 5
SLOW_DROP = 0.10
FITTED_ACCURACY = 0.95
FITTED_LOSS = 0.05
MODE_GAP = 0.15
VAL_RISE = 0.10
VAL_RISE_EPOCHS = 2
GAP = 0.10
UNDERFIT_ACCURACY = 0.70

KINDS = ("diverged", "lr_too_high", "lr_too_low", "mode_gap", "overfitting", "underfitting")


def _num(value: Any) -> float:
    """A float from a history cell ('' and None are NaN)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _finite(values: Sequence[float]) -> List[float]:
    return [v for v in values if math.isfinite(v)]


def _finding(kind: str, message: str, epoch: Optional[int] = None) -> Dict[str, Any]:
    out: Dict[str, Any] = {"kind": kind, "message": message}
    if epoch is not None:
        out["epoch"] = int(epoch)
    return out


def _stages(history: Sequence[dict]) -> List[List[dict]]:
    out: List[List[dict]] = []
    for row in history:
        if not out or out[-1][0].get("stage") != row.get("stage"):
            out.append([])
        out[-1].append(row)
    return out


def _evaluated(evaluated: Optional[Mapping[str, Any]], split: str, key: str) -> float:
    """One evaluated figure (metrics.json[split][key]), NaN when not known."""
    if not isinstance(evaluated, Mapping) or not isinstance(evaluated.get(split), Mapping):
        return math.nan
    return _num(evaluated[split].get(key))


def _diverged(history: Sequence[dict], diverged_at: Optional[tuple]) -> Optional[Dict[str, Any]]:
    for row in history:
        for key in ("loss", "val_loss"):
            v = row.get(key)
            if v is not None and v != "" and not math.isfinite(_num(v)):
                return _finding("diverged", f"{key} became NaN/inf at epoch {row['epoch']}: the learning rate is "
                                            f"far too high (or the data holds NaN); lower it 10x", row["epoch"])
    if diverged_at:
        epoch, batch = diverged_at
        return _finding("diverged", f"the loss became NaN/inf at epoch {epoch}, batch {batch}; "
                                    f"lower the learning rate 10x", epoch)
    return None


def _exploded(rows: List[dict], label: str) -> Optional[Dict[str, Any]]:
    """The training loss far above its start (or absurd for an accuracy task): lr_too_high."""
    loss = [_num(r.get("loss")) for r in rows]
    if not loss or len(_finite(loss)) != len(loss):
        return None
    top = max(range(len(loss)), key=lambda i: loss[i])
    accuracy_task = bool(_finite([_num(r.get("accuracy")) for r in rows]))
    if top > 0 and loss[top] > EXPLODE_RATIO * loss[0] and loss[0] > 0:
        what = f"exploded from {loss[0]:.4g} to {loss[top]:.4g} (epoch {rows[top]['epoch']})"
    elif accuracy_task and loss[top] > EXPLODE_LOSS:
        what = (f"exploded to {loss[top]:.4g} at epoch {rows[top]['epoch']} (a classifier at chance scores "
                f"about ln(classes), 0.7-5)")
    else:
        return None
    return _finding("lr_too_high", f"training loss {what}{label}: the learning rate is far too high (or the inputs "
                                   f"are not scaled); lower it 10-100x", rows[top]["epoch"])


def _lr_findings(rows: List[dict], label: str) -> List[Dict[str, Any]]:
    loss = [_num(r.get("loss")) for r in rows]
    if len(loss) < 3 or len(_finite(loss)) != len(loss):
        return []
    out = []
    epochs = [int(r["epoch"]) for r in rows]
    ups = [i for i in range(1, len(loss)) if loss[i] > loss[i - 1] * (1 + UP_TOLERANCE)]
    rising = loss[-1] > loss[0] * RISE_RATIO
    oscillating = len(ups) >= OSCILLATION_MIN_UPS and len(ups) >= OSCILLATION_FRACTION * (len(loss) - 1)
    if rising or oscillating:
        what = (f"rose from {loss[0]:.4g} to {loss[-1]:.4g}" if rising
                else f"went up in {len(ups)} of {len(loss) - 1} epochs")
        out.append(_finding("lr_too_high", f"training loss {what}{label}: the learning rate is probably too high; "
                                           f"try it 3-10x lower", epochs[ups[0]] if ups else epochs[-1]))
        return out
    acc = _finite([_num(r.get("accuracy")) for r in rows])
    fitted = (acc and acc[-1] >= FITTED_ACCURACY) or loss[-1] <= FITTED_LOSS
    drop = (loss[0] - loss[-1]) / abs(loss[0]) if loss[0] else 0.0
    if len(loss) >= SLOW_MIN_EPOCHS and drop < SLOW_DROP and not fitted:
        moved = f"fell only {100 * drop:.1f}%" if drop >= 0 else f"did not fall: it rose {-100 * drop:.1f}%"
        out.append(_finding("lr_too_low", f"training loss {moved} in {len(loss)} epochs "
                                          f"({loss[0]:.4g} -> {loss[-1]:.4g}){label}: the learning rate is probably "
                                          f"too low (or the model too small); try it 10x higher"))
    return out


def _kept_row(history: Sequence[dict], evaluated: Optional[Mapping[str, Any]]) -> dict:
    """The history row of the weights that were evaluated: the epoch whose val_loss is closest to the
    evaluated one (early stopping may have restored an earlier epoch), else the last row."""
    ev = _evaluated(evaluated, "val", "loss")
    with_val = [r for r in history if math.isfinite(_num(r.get("val_loss")))]
    if not math.isfinite(ev) or not with_val:
        return history[-1]
    best = min(abs(_num(r.get("val_loss")) - ev) for r in with_val)
    return [r for r in with_val if abs(_num(r.get("val_loss")) - ev) == best][-1]


def _mode_gap(history: Sequence[dict], evaluated: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    ev = _evaluated(evaluated, "train", "accuracy")
    row = _kept_row(history, evaluated)
    hist = _num(row.get("accuracy"))
    if not (math.isfinite(ev) and math.isfinite(hist)) or abs(hist - ev) <= MODE_GAP:
        return None
    if hist > ev:
        why = ("BatchNorm's moving averages, used in inference mode, lag behind the batch statistics of training "
               "(few steps, small batches); train more epochs or with larger batches, or drop batch_norm")
    else:
        why = "dropout (and augmentation) act in training mode only; the evaluated figures are the ones to read"
    return _finding("mode_gap", f"train accuracy {hist:.3f} in training mode (epoch {row['epoch']}) but "
                                f"{ev:.3f} evaluated in inference mode on the same split: {why}", row["epoch"])


def _overfitting(history: Sequence[dict], evaluated: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    val = [_num(r.get("val_loss")) for r in history]
    loss = [_num(r.get("loss")) for r in history]
    epochs = [int(r["epoch"]) for r in history]
    reasons = []
    best_epoch = None
    if len(_finite(val)) == len(val) and len(val) >= 3:
        b = min(range(len(val)), key=lambda i: val[i])
        after = len(val) - 1 - b
        if after >= VAL_RISE_EPOCHS and val[-1] > val[b] * (1 + VAL_RISE) and loss[-1] < loss[b]:
            best_epoch = epochs[b]
            reasons.append(f"validation loss turned up after epoch {epochs[b]} ({val[b]:.4g} -> {val[-1]:.4g}) "
                           f"while training loss kept falling")
    tr, va = _evaluated(evaluated, "train", "accuracy"), _evaluated(evaluated, "val", "accuracy")
    which = "evaluated"
    if not (math.isfinite(tr) and math.isfinite(va)):
        tr, va = _num(history[-1].get("accuracy")), _num(history[-1].get("val_accuracy"))
        which = "final"
    if math.isfinite(tr) and math.isfinite(va) and tr - va > GAP and tr >= UNDERFIT_ACCURACY:
        reasons.append(f"{which} train accuracy {tr:.3f} vs validation {va:.3f} (gap {tr - va:.3f})")
    if not reasons:
        return None
    return _finding("overfitting", "; ".join(reasons) + ": the model overfits; add dropout / data augmentation, "
                                   "stop earlier or use a smaller model", best_epoch)


def _underfitting(history: Sequence[dict], evaluated: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    tr, va = _evaluated(evaluated, "train", "accuracy"), _evaluated(evaluated, "val", "accuracy")
    if math.isfinite(tr) and math.isfinite(va):
        what = f"train accuracy {tr:.3f} and validation accuracy {va:.3f} (evaluated)"
    else:
        trs = _finite([_num(r.get("accuracy")) for r in history])
        vas = _finite([_num(r.get("val_accuracy")) for r in history])
        if not trs or not vas:
            return None
        tr, va = max(trs), max(vas)
        what = f"best train accuracy {tr:.3f} and best validation accuracy {va:.3f}"
    if tr < UNDERFIT_ACCURACY and va < UNDERFIT_ACCURACY:
        return _finding("underfitting", f"{what} are both below {UNDERFIT_ACCURACY:.2f}: the model underfits; "
                                        f"train longer, raise the learning rate or use a larger model")
    return None


def diagnose(history: Sequence[dict], diverged_at: Optional[tuple] = None,
             evaluated: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Findings for one run's history rows and evaluated figures (see the module docstring for the rules)."""
    history = [r for r in history if r.get("epoch") not in (None, "")]
    if not history and not diverged_at:
        return []
    found = _diverged(history, diverged_at)
    if found:
        return [found]
    stages = _stages(history)
    labels = [f" in stage '{rows[0].get('stage')}'" if len(stages) > 1 else "" for rows in stages]
    for rows, label in zip(stages, labels):
        found = _exploded(rows, label)
        if found:
            return [found]
    out: List[Dict[str, Any]] = []
    for rows, label in zip(stages, labels):
        out.extend(_lr_findings(rows, label))
    gap = _mode_gap(history, evaluated)
    if gap:
        out.append(gap)
    f = _overfitting(history, evaluated)
    if f:
        out.append(f)
    explained = any(x["kind"] in ("lr_too_high", "mode_gap") for x in out)
    f = None if explained else _underfitting(history, evaluated)
    if f:
        out.append(f)
    return out


def format_findings(findings: Sequence[dict]) -> List[str]:
    """One line per finding, for the terminal."""
    return [f"{f['kind']}: {f['message']}" for f in findings]
