"""Figures a person reads: learning curves, confusion matrix, ROC, predicted vs true.

Uses Matplotlib's object API with the Agg canvas (no pyplot state, no display),
so it is safe in worker processes and threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from dlhw.evaluation.figure import figure as _figure
from dlhw.evaluation.figure import save as _save


def stage_boundaries(history: Sequence[dict]) -> List[tuple]:
    """(epoch where a stage ends, next stage name) for every stage change."""
    out = []
    for prev, row in zip(history, history[1:]):
        if row["stage"] != prev["stage"]:
            out.append((prev["epoch"] + 0.5, row["stage"]))
    return out


def plot_curves(history: Sequence[dict], path: Path, title: str, metric: str = "accuracy") -> None:
    """Loss and ``metric`` per epoch, train and val, stage boundaries dashed."""
    fig = _figure(11, 4.2, left=0.065)
    axes = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in history]
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], metric, metric)):
        for prefix, style, name in (("", "-", "train"), ("val_", "--", "val")):
            values = [r.get(prefix + key, np.nan) for r in history]
            if not np.all(np.isnan(np.asarray(values, dtype=float))):
                ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None, ms=3, label=name)
        for x, stage in stage_boundaries(history):
            ax.axvline(x, color="grey", ls=":", lw=1)
            ax.annotate(stage, (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", fontsize=8, color="grey")
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def text_colour(im, value: float) -> str:
    """Black or white, whichever reads on the colour ``im`` paints ``value`` with."""
    r, g, b, _ = im.cmap(im.norm(value))
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    """Counts with class names on both axes (numbers drawn up to 30 classes)."""
    n = len(names)
    size = min(4 + 0.45 * n, 20)
    fig = _figure(size + 1.2, size, left=0.16, bottom=0.16, top=0.93, right=0.95)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1) if cm.size else 1)  # 0 is white
    fig.colorbar(im, ax=ax, shrink=0.8, label="samples")
    ax.set_xticks(range(n), [str(s) for s in names], rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center",
                  fontsize=8 if n > 20 else 10)
    ax.set_yticks(range(n), [str(s) for s in names], fontsize=8 if n > 20 else 10)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 30:
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8 if n > 12 else 10,
                        color=text_colour(im, cm[i, j]))
    ax.set_title(title)
    _save(fig, path)


def plot_roc(y: np.ndarray, proba: np.ndarray, names: Sequence[str], path: Path, title: str) -> Optional[float]:
    """Binary ROC, or one-vs-rest curves (up to 10 named, plus the macro average)."""
    from sklearn.metrics import auc, roc_curve

    fig = _figure(6, 5.2, left=0.12, top=0.92)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance")
    result = None
    if proba.shape[1] == 2:
        fpr, tpr, _ = roc_curve(y, proba[:, 1])
        result = auc(fpr, tpr)
        ax.plot(fpr, tpr, lw=2, label=f"{names[1]} vs {names[0]} (AUC {result:.3f})")
    else:
        grid = np.linspace(0, 1, 201)
        tprs = []
        for c in range(proba.shape[1]):
            if (y == c).all() or not (y == c).any():
                continue
            fpr, tpr, _ = roc_curve(y == c, proba[:, c])
            tprs.append(np.interp(grid, fpr, tpr))
            if c < 10:
                ax.plot(fpr, tpr, lw=1, alpha=0.8, label=f"{names[c]} (AUC {auc(fpr, tpr):.3f})")
        if tprs:
            mean = np.mean(tprs, axis=0)
            result = auc(grid, mean)
            ax.plot(grid, mean, color="black", lw=2.5, label=f"macro average (AUC {result:.3f})")
        if proba.shape[1] > 10:
            ax.text(0.98, 0.02, f"first 10 of {proba.shape[1]} classes named", ha="right", transform=ax.transAxes,
                    fontsize=8, color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=7 if proba.shape[1] > 5 else 9, loc="lower right")
    ax.grid(alpha=0.3)
    _save(fig, path)
    return result


def plot_regression(y: np.ndarray, pred: np.ndarray, path: Path, title: str) -> None:
    """Predicted against true values, all targets, with the identity line."""
    fig = _figure(5.5, 5, left=0.14, top=0.92)
    ax = fig.subplots()
    y, pred = np.asarray(y, float).reshape(len(y), -1), np.asarray(pred, float).reshape(len(pred), -1)
    mask = ~np.isnan(y)
    ax.scatter(y[mask], pred[mask], s=8, alpha=0.6)
    lo, hi = np.nanmin(y), np.nanmax(y)
    ax.plot([lo, hi], [lo, hi], color="grey", ls=":")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_steps(rows: Sequence[dict], path: Path, title: str, metric: str = "accuracy") -> None:
    """Loss and ``metric`` per training step (history_steps.csv): each batch's own value, and
    Keras' running mean over the epoch; stage boundaries dotted, epoch ends ticked on top."""
    fig = _figure(11, 4.2, left=0.065)
    axes = fig.subplots(1, 2)
    steps = np.asarray([r["global_step"] for r in rows], dtype=float)
    stage_ends = [(b["global_step"] - 0.5, b["stage"]) for a, b in zip(rows, rows[1:]) if a["stage"] != b["stage"]]
    epoch_ends = [a["global_step"] + 0.5 for a, b in zip(rows, rows[1:]) if a["epoch"] != b["epoch"]]
    for ax, key in ((axes[0], "loss"), (axes[1], metric)):
        batch = np.asarray([r.get(key, np.nan) for r in rows], dtype=float)
        running = np.asarray([r.get(f"running_{key}", np.nan) for r in rows], dtype=float)
        if not np.all(np.isnan(batch)):
            ax.plot(steps, batch, "-", lw=0.8, alpha=0.55, marker="o" if len(steps) < 40 else None, ms=2.5,
                    label="each batch")
        if not np.all(np.isnan(running)):
            ax.plot(steps, running, "-", lw=1.6, label="running mean of the epoch")
        for x, stage in stage_ends:
            ax.axvline(x, color="grey", ls=":", lw=1)
            ax.annotate(stage, (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", fontsize=8, color="grey")
        if 0 < len(epoch_ends) <= 60:
            ax.plot(epoch_ends, [1.0] * len(epoch_ends), "|", color="grey", ms=6, clip_on=False,
                    transform=ax.get_xaxis_transform())
        ax.set_xlabel("training step (batch)")
        ax.set_ylabel(key)
        ax.set_title(f"{key} per step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, path)
