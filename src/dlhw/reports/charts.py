"""Overlay charts: the curves of every run of a sweep on one figure (S5's figures).

One chart per sweep and quantity (validation accuracy, validation loss);
repeats of a trial (runs whose configs differ only in seed, split or fold) are
drawn as their mean with a band of the mean's 95% confidence interval (Student's t); the legend names the varied values. Loose runs share one overlay.
A crowded overlay (a 1,000-trial sweep) draws the best ``HIGHLIGHT`` runs in
colour, by the report's metric, and every other run as a thin grey line.

``curves`` (``dlhw report --curves val_loss,loss``) picks the quantities instead:
any history.csv column per epoch (``loss``, ``accuracy``, ``val_loss``, ``lr``, ...)
or, with a ``step_`` prefix, a history_steps.csv column per training step
(``step_loss``: each batch's own loss; ``step_running_loss``: Keras' running mean),
for runs made with ``training.log_steps``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlhw.reports.collect import RunRecord
from dlhw.rundir import layout
from dlhw.rundir.folder import sanitize_name

QUANTITIES = (("val_accuracy", "validation accuracy", "accuracy"), ("val_loss", "validation loss", "loss"))


STEP = "step_"
HIGHLIGHT = 10  # an overlay draws at most this many runs in colour (the best by the report's metric)


def step_rows(r: RunRecord) -> List[Dict[str, Any]]:
    """A run's history_steps.csv rows ([] without one), read again only when the file changed."""
    from dlhw.rundir.history import read_history
    from dlhw.runtime.memo import held

    seen: Dict[Path, Tuple[Any, List[Dict[str, Any]]]] = held("step_histories", dict)
    path = r.path / layout.HISTORY_STEPS
    try:
        st = path.stat()
        stamp: Any = (st.st_mtime_ns, st.st_size)
    except OSError:
        return []
    if path not in seen or seen[path][0] != stamp:
        seen[path] = (stamp, read_history(path))
    return seen[path][1]


def _series(runs: Sequence[RunRecord], column: str) -> Tuple[List[float], List[float], List[float]]:
    """(epochs, mean, half-width of the mean's 95% t interval) of ``column`` over the runs, by epoch
    number; a ``step_`` column by global training step, from history_steps.csv."""
    by_epoch: Dict[float, List[float]] = {}
    steps = column.startswith(STEP)
    x_key, column = ("global_step", column[len(STEP):]) if steps else ("epoch", column)
    for r in runs:
        for row in (step_rows(r) if steps else r.history):
            e, v = row.get(x_key), row.get(column)
            if isinstance(e, float) and isinstance(v, float) and math.isfinite(v):
                by_epoch.setdefault(e, []).append(v)
    epochs = sorted(by_epoch)
    means = [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]
    stds = []
    for e, m in zip(epochs, means):
        vals = by_epoch[e]
        if len(vals) > 1:
            from dlhw.reports.stats import t_quantile

            sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
            stds.append(t_quantile(len(vals) - 1) * sd / math.sqrt(len(vals)))
        else:
            stds.append(0.0)
    return epochs, means, stds


def legend_label(runs: Sequence[RunRecord]) -> str:
    r = runs[0]
    text = r.label or (r.group if r.sweep else r.name)
    if len(runs) > 1:
        text += f" (mean of {len(runs)})"
    return text if len(text) <= 60 else text[:57] + "..."


def overlay(groups: Dict[str, List[RunRecord]], column: str, fallback: str, title: str, ylabel: str,
            path: Path, rank: Optional[Dict[int, int]] = None) -> Optional[Path]:
    """One chart with a line per group; None when no run has that column (or its fallback).
    More than ``HIGHLIGHT`` groups: the best ``HIGHLIGHT`` by ``rank`` (id(record) -> row position,
    best first) are drawn in colour with a legend, the others as thin grey lines."""
    from matplotlib.collections import LineCollection

    from dlhw.evaluation.figure import figure, save
    from dlhw.reports import palette

    use = column
    if not any(_series(runs, column)[0] for runs in groups.values()):
        use = fallback
        if not any(_series(runs, fallback)[0] for runs in groups.values()):
            return None
        title += f" (no validation split: training {ylabel})"
    others: Dict[str, List[RunRecord]] = {}
    if rank:  # the table's order, best first: each run's colour is its position's (as on report.html)
        groups = {g: groups[g] for g in sorted(groups, key=lambda g: min(rank.get(id(r), 10 ** 9) for r in groups[g]))}
    if len(groups) > HIGHLIGHT:
        best = list(groups)[:HIGHLIGHT]
        others = {g: runs for g, runs in groups.items() if g not in set(best)}
        groups = {g: groups[g] for g in best}
    many = len(groups) > 8
    fig = figure(10.5 if many else 8, 4.8)
    ax = fig.subplots()
    if others:
        lines = [list(zip(*_series(runs, use)[:2])) for runs in others.values()]
        lines = [ln for ln in lines if ln]
        ax.add_collection(LineCollection(lines, colors=palette.OTHERS, linewidths=0.6, alpha=0.6,
                                         label=f"{len(others)} other runs (grey)"))
        ax.autoscale_view()
    for i, (_name, runs) in enumerate(groups.items()):
        epochs, mean, std = _series(runs, use)
        if not epochs:
            continue
        color = palette.run_colour(i)
        ax.plot(epochs, mean, marker="o" if len(epochs) <= 30 else None, markersize=3, linewidth=1.6,
                color=color, label=legend_label(runs))
        if any(std):
            ax.fill_between(epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            color=color, alpha=0.15, linewidth=0)
    ax.set_title(title)
    ax.set_xlabel("training step (batch)" if use.startswith(STEP) else "epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if many:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ax.legend(fontsize=8, loc="best")
    from dlhw.runtime.files import ensure_dir

    ensure_dir(path.parent)
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
        key = f"{r.group}\0{r.repeat_key}" if r.sweep_key else str(r.path)  # repeats: equal configs only
        out.setdefault(title, {}).setdefault(key, []).append(r)
    return out


def _unique(name: str, taken) -> str:
    taken = set(taken)
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def describe(column: str) -> Tuple[str, str]:
    """(chart title, y label) of a curve name: 'val_loss' -> ('validation loss', 'loss')."""
    if column.startswith(STEP):
        name = column[len(STEP):]
        if name.startswith("running_"):
            return f"training {name[8:]} per step (running mean of the epoch)", name[8:]
        return f"training {name} per step (each batch)", name
    for prefix, word in (("val_", "validation"), ("test_", "test")):
        if column.startswith(prefix):
            return f"{word} {column[len(prefix):]}", column[len(prefix):]
    if column == "lr":
        return "learning rate", "learning rate"
    return f"training {column}", column


def available_curves(records: Sequence[RunRecord]) -> List[str]:
    """Curve names the runs can draw: history.csv columns, then step_ + history_steps.csv columns."""
    names: Dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(k for row in r.history[:1] for k in row if k not in ("stage", "epoch")))
    for r in records:
        names.update(dict.fromkeys(STEP + k for row in step_rows(r)[:1] for k in row
                                   if k not in ("stage", "epoch", "step", "global_step")))
    return list(names)


def check_curves(curves: Sequence[str], records: Sequence[RunRecord]) -> List[str]:
    """The requested curve names, each drawn by at least one run; else one ConfigError line."""
    from dlhw.errors import ConfigError, did_you_mean

    names = [c.strip() for c in curves if c.strip()]
    if not names:
        raise ConfigError("--curves: give one or more names separated by commas, e.g. val_loss,loss")
    have = available_curves(records)
    for name in names:
        if name not in have:
            raise ConfigError(f"--curves: no run has a '{name}' curve{did_you_mean(name, have)}; "
                              f"available: {', '.join(have) or 'none (no history.csv)'}")
    return list(dict.fromkeys(names))


def make_charts(records: Sequence[RunRecord], out_dir: Path, curves: Optional[Sequence[str]] = None,
                rank: Optional[Dict[int, int]] = None) -> List[Dict[str, object]]:
    """Write the overlays to ``out_dir/charts``; returns [{sweep, quantity, path}].
    ``curves``: these quantities (see ``check_curves``) instead of validation accuracy and loss.
    ``rank``: id(record) -> its row's position in the table (best first): which runs a crowded
    overlay draws in colour (``HIGHLIGHT``)."""
    charts = []
    if curves:
        for sweep, groups in sweep_groups(records).items():
            for column in curves:
                title, ylabel = describe(column)
                path = out_dir / layout.CHARTS / f"{sanitize_name(sweep)}_{sanitize_name(column)}.png"
                made = overlay(groups, column, column, f"{sweep}: {title}", ylabel, path, rank)
                if made:
                    charts.append({"sweep": sweep, "quantity": title, "path": made})
        return charts
    for sweep, groups in sweep_groups(records).items():
        for column, title, ylabel in QUANTITIES:
            fallback = column.replace("val_", "")
            path = out_dir / layout.CHARTS / f"{sanitize_name(sweep)}_{column}.png"
            made = overlay(groups, column, fallback, f"{sweep}: {title}", ylabel, path, rank)
            if made:
                charts.append({"sweep": sweep, "quantity": title, "path": made})
    return charts
