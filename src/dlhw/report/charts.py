"""Overlay charts: the curves of every run of a sweep on one figure (S5's figures).

One chart per sweep and quantity (validation accuracy, validation loss);
repeats of a trial are drawn as their mean with a band of ± one standard
deviation; the legend names the varied values. Loose runs share one overlay.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from dlhw.report.collect import RunRecord
from dlhw.runs import sanitize_name

QUANTITIES = (("val_accuracy", "validation accuracy", "accuracy"), ("val_loss", "validation loss", "loss"))


def _series(runs: Sequence[RunRecord], column: str) -> Tuple[List[float], List[float], List[float]]:
    """(epochs, mean, std) of ``column`` over the runs, by epoch number."""
    by_epoch: Dict[float, List[float]] = {}
    for r in runs:
        for row in r.history:
            e, v = row.get("epoch"), row.get(column)
            if isinstance(e, float) and isinstance(v, float) and math.isfinite(v):
                by_epoch.setdefault(e, []).append(v)
    epochs = sorted(by_epoch)
    means = [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]
    stds = []
    for e, m in zip(epochs, means):
        vals = by_epoch[e]
        stds.append(math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0)
    return epochs, means, stds


def legend_label(runs: Sequence[RunRecord]) -> str:
    r = runs[0]
    text = r.label or (r.group if r.sweep else r.name)
    if len(runs) > 1:
        text += f" (mean of {len(runs)})"
    return text if len(text) <= 60 else text[:57] + "..."


def overlay(groups: Dict[str, List[RunRecord]], column: str, fallback: str, title: str, ylabel: str,
            path: Path) -> Optional[Path]:
    """One chart with a line per group; None when no run has that column (or its fallback)."""
    from matplotlib import colormaps

    from dlhw.evaluation.figure import figure, save

    use = column
    if not any(_series(runs, column)[0] for runs in groups.values()):
        use = fallback
        if not any(_series(runs, fallback)[0] for runs in groups.values()):
            return None
        title += f" (no validation split: training {ylabel})"
    many = len(groups) > 8
    fig = figure(10.5 if many else 8, 4.8)
    ax = fig.subplots()
    cmap = colormaps["tab10" if len(groups) <= 10 else "tab20"]
    for i, (name, runs) in enumerate(groups.items()):
        epochs, mean, std = _series(runs, use)
        if not epochs:
            continue
        color = cmap(i % cmap.N)
        ax.plot(epochs, mean, marker="o" if len(epochs) <= 30 else None, markersize=3, linewidth=1.6,
                color=color, label=legend_label(runs))
        if any(std):
            ax.fill_between(epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            color=color, alpha=0.15, linewidth=0)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if many:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ax.legend(fontsize=8, loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    save(fig, path)
    return path


def sweep_groups(records: Sequence[RunRecord]) -> Dict[str, Dict[str, List[RunRecord]]]:
    """{chart title: {group: runs}} for each sweep, plus one for the loose runs."""
    out: Dict[str, Dict[str, List[RunRecord]]] = {}
    names: Dict[str, str] = {}
    for r in records:
        if r.sweep_key:
            title = names.setdefault(r.sweep_key, _unique(r.sweep or "sweep", names.values()))
        else:
            title = "loose runs"
        out.setdefault(title, {}).setdefault(r.group if r.sweep_key else str(r.path), []).append(r)
    return out


def _unique(name: str, taken) -> str:
    taken = set(taken)
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def make_charts(records: Sequence[RunRecord], out_dir: Path) -> List[Dict[str, object]]:
    """Write the overlays to ``out_dir/charts``; returns [{sweep, quantity, path}]."""
    charts = []
    for sweep, groups in sweep_groups(records).items():
        for column, title, ylabel in QUANTITIES:
            fallback = column.replace("val_", "")
            path = out_dir / "charts" / f"{sanitize_name(sweep)}_{column}.png"
            made = overlay(groups, column, fallback, f"{sweep}: {title}", ylabel, path)
            if made:
                charts.append({"sweep": sweep, "quantity": title, "path": made})
    return charts
