"""Results per named output (``model.outputs``): metrics.json figures, curves, predicted vs true.

For a model with several outputs each split's entry in metrics.json gets
``outputs: {name: {...}}``: the output's own (unweighted) loss, and

- for mse / mae / masked_mse / masked_euclidean: mse, mae and rmse over the target
  cells present (missing cells ignored), r2 over the rows with every target present,
  and for masked_euclidean the mean distance over the points present;
- for the cross-entropies: accuracy (binary: each 0/1 target at 0.5, or 0 for logits;
  categorical: the argmax).

``curves_outputs.png`` draws each output's loss and metric per epoch, train and val
(history.csv's ``<name>_loss``, ``val_<name>_loss``...); ``predicted_vs_true.png``
one panel per regression output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from dlhw.evaluation.figure import figure as _figure
from dlhw.evaluation.figure import save as _save


def _heads(spec) -> List[Dict[str, Any]]:
    from dlhw.models.heads import head_list

    return head_list(spec)


def metric_kind(head: Dict[str, Any]) -> str:
    return "accuracy" if head["loss"].endswith("crossentropy") else "mae"


def curve_metric(spec) -> str:
    """The history column curves.png draws beside the total loss: the first output's metric."""
    h = _heads(spec)[0]
    return f"{h['name']}_{metric_kind(h)}"


def _columns(y: np.ndarray, raw: np.ndarray, h: Dict[str, Any]):
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, list(h["columns"])]
    p = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)[:, h["start"]:h["start"] + h["units"]]
    return y, p


def head_metrics(y: np.ndarray, raw: np.ndarray, spec) -> Dict[str, Dict[str, Any]]:
    """{output name: its figures} for one split (see the module notes)."""
    from sklearn import metrics as skm

    from dlhw.models.multi_output import loss_values

    out: Dict[str, Dict[str, Any]] = {}
    for h in _heads(spec):
        t, p = _columns(y, raw, h)
        loss = np.asarray(loss_values(h["loss"], t.astype(np.float32), p.astype(np.float32), bool(h["from_logits"])))
        m: Dict[str, Any] = {"loss": float(np.mean(loss)), "loss_weight": h["loss_weight"]}
        mask = ~np.isnan(t)
        m["missing_targets"] = int((~mask).sum())
        if metric_kind(h) == "accuracy":
            if h["loss"] == "categorical_crossentropy":
                m["accuracy"] = float(np.mean(t.argmax(axis=1) == p.argmax(axis=1)))
            else:
                m["accuracy"] = float(np.mean((p > (0.0 if h["from_logits"] else 0.5)) == (t > 0.5)))
        else:
            err = (p - np.nan_to_num(t))[mask]
            m["mse"] = float(np.mean(err ** 2)) if err.size else None
            m["mae"] = float(np.mean(np.abs(err))) if err.size else None
            m["rmse"] = float(np.sqrt(m["mse"])) if err.size else None
            full = mask.all(axis=1)
            m["r2"] = float(skm.r2_score(t[full], p[full])) if full.sum() > 1 else None
            if h["loss"] == "masked_euclidean":
                tt, pp = t.reshape(len(t), -1, 2), p.reshape(len(p), -1, 2)
                ok = ~np.isnan(tt).any(axis=2)
                d = np.sqrt(((np.nan_to_num(tt) - pp) ** 2).sum(axis=2))[ok]
                m["mean_distance"] = float(d.mean()) if d.size else None
        out[h["name"]] = m
    return out


def plot_output_curves(history: Sequence[dict], path: Path, title: str, spec) -> None:
    """One row per output: its loss and its metric per epoch, train and val."""
    from matplotlib.ticker import MaxNLocator

    from dlhw.evaluation.plots import stage_boundaries

    heads = _heads(spec)
    fig = _figure(11, 3.6 * len(heads) + 0.6, left=0.07, top=1 - 0.6 / (3.6 * len(heads) + 0.6), hspace=0.45)
    axes = np.atleast_2d(fig.subplots(len(heads), 2))
    epochs = [r["epoch"] for r in history]
    for row, h in zip(axes, heads):
        for ax, key in ((row[0], f"{h['name']}_loss"), (row[1], f"{h['name']}_{metric_kind(h)}")):
            for prefix, style, name in (("", "-", "train"), ("val_", "--", "val")):
                values = np.asarray([r.get(prefix + key, np.nan) for r in history], dtype=float)
                if not np.all(np.isnan(values)):
                    ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None, ms=3, label=name)
            for x, _stage in stage_boundaries(history):
                ax.axvline(x, color="grey", ls=":", lw=1)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.set_title(f"{key} ({h['loss']}, weight {h['loss_weight']:g})" if key.endswith("_loss") else key)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def plot_outputs_vs_true(y: np.ndarray, raw: np.ndarray, spec, path: Path, title: str) -> bool:
    """Predicted against true values, one panel per regression output; False when there is none."""
    heads = [h for h in _heads(spec) if metric_kind(h) == "mae"]
    if not heads or not len(y):
        return False
    fig = _figure(4.6 * len(heads), 4.6, left=0.1 / len(heads) + 0.02, top=0.86, wspace=0.3)
    axes = np.atleast_1d(fig.subplots(1, len(heads)))
    for ax, h in zip(axes, heads):
        t, p = _columns(y, raw, h)
        mask = ~np.isnan(t)
        ax.scatter(t[mask], p[mask], s=8, alpha=0.6)
        if mask.any():
            lo, hi = float(np.min(t[mask])), float(np.max(t[mask]))
            ax.plot([lo, hi], [lo, hi], color="grey", ls=":")
        ax.set_xlabel("true value")
        ax.set_ylabel("predicted value")
        ax.set_title(f"{h['name']} ({int((~mask).sum())} missing cells left out)")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    _save(fig, path)
    return True


def write_head_results(history: Sequence[dict], test_y: np.ndarray, test_raw: np.ndarray, spec, run_dir: Path,
                       split: str) -> None:
    """curves_outputs.png and predicted_vs_true.png of a run with named outputs."""
    from dlhw.rundir import layout

    run_dir = Path(run_dir)
    plot_output_curves(history, run_dir / layout.CURVES_OUTPUTS, f"{run_dir.name}: curves per output", spec)
    plot_outputs_vs_true(test_y, test_raw, spec, run_dir / layout.PREDICTED_VS_TRUE,
                         f"{run_dir.name}: predicted vs true ({split} split)")
