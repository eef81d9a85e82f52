"""Read a run's history for the signs S3 discusses: a bad learning rate, over- and underfitting.

``diagnose(history)`` takes the per-epoch rows of history.csv (stage, epoch,
loss, accuracy, val_loss, val_accuracy, lr) and returns a list of findings,
each ``{"kind": ..., "message": ..., "epoch": ...}`` (``epoch`` only where one
epoch marks the finding). Kinds and the thresholds that trigger them:

- ``diverged``: a loss (train or val) is NaN or infinite, or the trainer stopped
  the run for a NaN loss. Epoch: the first bad epoch.
- ``lr_too_high``: within one stage of at least 3 epochs, the training loss
  *rises* (its last value is more than ``RISE_RATIO`` = 1.10 times its first) or
  *oscillates* (at least ``OSCILLATION_MIN_UPS`` = 2 epoch-to-epoch increases,
  each of more than ``UP_TOLERANCE`` = 2 %, and they make up at least
  ``OSCILLATION_FRACTION`` = 1/3 of the steps). Epoch: the first increase.
- ``lr_too_low``: within one stage of at least ``SLOW_MIN_EPOCHS`` = 5 epochs,
  the training loss fell by less than ``SLOW_DROP`` = 10 % of its first value,
  while the model is not already fitted (final training accuracy below
  ``FITTED_ACCURACY`` = 0.95 and final loss above ``FITTED_LOSS`` = 0.05).
- ``overfitting``: the validation loss turned up: its last value is more than
  ``VAL_RISE`` = 10 % above its minimum, at least ``VAL_RISE_EPOCHS`` = 2 epochs
  after that minimum, while the training loss kept falling; or, at the end,
  training accuracy exceeds validation accuracy by more than ``GAP`` = 0.10
  while the training accuracy itself is at least 0.70 (a model that fits
  nothing does not overfit). Epoch: the epoch with the lowest validation loss.
- ``underfitting``: the best training accuracy and the best validation
  accuracy of the run are both below ``UNDERFIT_ACCURACY`` = 0.70 (accuracy
  tasks only).

Diagnostics never stop a run; they are written to metrics.json (``diagnostics``),
or to status.json for a run that diverged, and printed at the end of ``dlhw run``.
No heavy imports here.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

RISE_RATIO = 1.10
UP_TOLERANCE = 0.02
OSCILLATION_MIN_UPS = 2
OSCILLATION_FRACTION = 1 / 3
SLOW_MIN_EPOCHS = 5
SLOW_DROP = 0.10
FITTED_ACCURACY = 0.95
FITTED_LOSS = 0.05
VAL_RISE = 0.10
VAL_RISE_EPOCHS = 2
GAP = 0.10
UNDERFIT_ACCURACY = 0.70

KINDS = ("diverged", "lr_too_high", "lr_too_low", "overfitting", "underfitting")


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
        out.append(_finding("lr_too_low", f"training loss fell only {100 * drop:.1f}% in {len(loss)} epochs "
                                          f"({loss[0]:.4g} -> {loss[-1]:.4g}){label}: the learning rate is probably "
                                          f"too low (or the model too small); try it 10x higher"))
    return out


def _overfitting(history: Sequence[dict]) -> Optional[Dict[str, Any]]:
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
    tr, va = _num(history[-1].get("accuracy")), _num(history[-1].get("val_accuracy"))
    if math.isfinite(tr) and math.isfinite(va) and tr - va > GAP and tr >= UNDERFIT_ACCURACY:
        reasons.append(f"final train accuracy {tr:.3f} vs validation {va:.3f} (gap {tr - va:.3f})")
    if not reasons:
        return None
    return _finding("overfitting", "; ".join(reasons) + ": the model overfits; add dropout / data augmentation, "
                                   "stop earlier or use a smaller model", best_epoch)


def _underfitting(history: Sequence[dict]) -> Optional[Dict[str, Any]]:
    tr = _finite([_num(r.get("accuracy")) for r in history])
    va = _finite([_num(r.get("val_accuracy")) for r in history])
    if not tr or not va:
        return None
    if max(tr) < UNDERFIT_ACCURACY and max(va) < UNDERFIT_ACCURACY:
        return _finding("underfitting", f"best train accuracy {max(tr):.3f} and best validation accuracy "
                                        f"{max(va):.3f} are both below {UNDERFIT_ACCURACY:.2f}: the model underfits; "
                                        f"train longer, raise the learning rate or use a larger model")
    return None


def diagnose(history: Sequence[dict], diverged_at: Optional[tuple] = None) -> List[Dict[str, Any]]:
    """Findings for one run's history rows (see the module docstring for the rules)."""
    history = [r for r in history if r.get("epoch") not in (None, "")]
    if not history and not diverged_at:
        return []
    found = _diverged(history, diverged_at)
    if found:
        return [found]
    out: List[Dict[str, Any]] = []
    stages = _stages(history)
    for rows in stages:
        label = f" in stage '{rows[0].get('stage')}'" if len(stages) > 1 else ""
        out.extend(_lr_findings(rows, label))
    for check in (_overfitting, _underfitting):
        f = check(history)
        if f:
            out.append(f)
    return out


def format_findings(findings: Sequence[dict]) -> List[str]:
    """One line per finding, for the terminal."""
    return [f"{f['kind']}: {f['message']}" for f in findings]
