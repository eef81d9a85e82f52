"""The comparison table: one row per run (repeats of a trial folded into mean ± std).

Sorted by the chosen metric (accuracies, F1, AUC, R2 descending; losses,
errors, seconds and epochs ascending); the best row is marked. The same rows
go to summary.csv (numbers, with *_std columns), summary.md and the terminal.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlhw.errors import ConfigError, did_you_mean
from dlhw.report.collect import RunRecord, available_metrics, metric_value

COLUMNS: List[Tuple[str, str]] = [
    ("train_accuracy", "train acc"), ("val_accuracy", "val acc"), ("test_accuracy", "test acc"),
    ("train_loss", "train loss"), ("val_loss", "val loss"), ("test_loss", "test loss"),
    ("test_f1_macro", "test F1"), ("params_total", "params"), ("params_trainable", "trainable"),
    ("train_seconds", "train s"), ("best_epoch", "best epoch"),
]
ASCENDING = ("loss", "mse", "mae", "rmse", "seconds", "epoch", "params")


@dataclass
class Row:
    name: str
    sweep: Optional[str]
    varied: Dict[str, Any]
    status: str
    runs: List[RunRecord]
    values: Dict[str, Tuple[Optional[float], Optional[float]]] = field(default_factory=dict)  # mean, std
    error: Optional[str] = None
    diagnostics: List[str] = field(default_factory=list)
    best: bool = False

    @property
    def n(self) -> int:
        return len(self.runs)


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in ASCENDING)


def check_metric(metric: str, records: Sequence[RunRecord]) -> str:
    choices = available_metrics(records) or [c for c, _ in COLUMNS]
    aliases = {"val_acc": "val_accuracy", "test_acc": "test_accuracy", "test_f1": "test_f1_macro",
               "val_f1": "val_f1_macro", "params": "params_total"}
    metric = aliases.get(metric, metric)
    known = set(choices) | {c for c, _ in COLUMNS}
    if metric not in known:
        raise ConfigError(f"--metric: unknown metric '{metric}'{did_you_mean(metric, sorted(known))}; "
                          f"choose one of: {', '.join(choices)}")
    return metric


def build_rows(records: Sequence[RunRecord], metric: str) -> List[Row]:
    groups: Dict[Tuple[Any, str], List[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.sweep_key or f"loose:{r.path}", r.group if r.sweep_key else r.name), []).append(r)
    keys = [c for c, _ in COLUMNS] + ([metric] if metric not in [c for c, _ in COLUMNS] else [])
    rows: List[Row] = []
    for (_, group), runs in groups.items():
        done = [r for r in runs if r.status == "completed"]
        if len(runs) == 1:
            status = runs[0].status
        else:
            status = "completed" if len(done) == len(runs) else f"{len(done)}/{len(runs)} completed"
        row = Row(name=group if len(runs) > 1 else runs[0].name, sweep=runs[0].sweep, varied=runs[0].varied,
                  status=status, runs=runs)
        for k in keys:
            vals = [v for v in (metric_value(r, k) for r in (done or runs)) if v is not None]
            if not vals:
                row.values[k] = (None, None)
            else:
                row.values[k] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None)
        errors = [f"{r.name}: {r.error}" if len(runs) > 1 else str(r.error) for r in runs
                  if r.error and r.status != "completed"]
        row.error = "; ".join(errors) or None
        kinds: List[str] = []
        for r in runs:
            kinds += [d["kind"] for d in r.diagnostics if d["kind"] not in kinds]
        row.diagnostics = kinds
        rows.append(row)
    desc = not lower_is_better(metric)

    def key(row: Row):
        v = row.values.get(metric, (None, None))[0]
        return (v is None, -(v or 0) if desc else (v or 0), row.sweep or "", row.name)

    rows.sort(key=key)
    if rows and rows[0].values.get(metric, (None, None))[0] is not None:
        rows[0].best = True
    return rows


def varied_keys(rows: Sequence[Row]) -> List[str]:
    keys: List[str] = []
    for r in rows:
        keys += [k for k in r.varied if k not in keys]
    return keys


def fmt(value: Tuple[Optional[float], Optional[float]], key: str) -> str:
    mean, std = value
    if mean is None:
        return "-"
    if key.startswith("params"):
        return f"{mean:,.0f}" + (f" ± {std:,.0f}" if std else "")
    if key in ("best_epoch", "epochs_run"):
        return f"{mean:.0f}" if std is None else f"{mean:.1f} ± {std:.1f}"
    if key == "train_seconds":
        return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "")
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def format_varied(value: Any) -> str:
    from dlhw.sweep.plan import format_value

    return format_value(value)


def header(rows: Sequence[Row], metric: str) -> Tuple[List[str], List[str]]:
    """(keys, titles): run, sweep, varied keys..., status, n, metrics..., diagnostics."""
    vk = varied_keys(rows)
    from dlhw.sweep.plan import key_labels

    labels = key_labels(vk)
    cols = [c for c, _ in COLUMNS] + ([metric] if metric not in [c for c, _ in COLUMNS] else [])
    titles = dict(COLUMNS)
    show_sweep = len({r.sweep for r in rows}) > 1
    show_n = any(r.n > 1 for r in rows)
    keys = ["run"] + (["sweep"] if show_sweep else []) + [f"varied:{k}" for k in vk] + ["status"] + \
        (["n"] if show_n else []) + cols
    names = ["run"] + (["sweep"] if show_sweep else []) + [labels[k] for k in vk] + ["status"] + \
        (["n"] if show_n else []) + [titles.get(c, c) for c in cols]
    if any(r.diagnostics for r in rows):
        keys.append("diagnostics")
        names.append("diagnostics")
    return keys, names


def cell(row: Row, key: str) -> str:
    if key == "run":
        return row.name
    if key == "sweep":
        return row.sweep or "(loose)"
    if key.startswith("varied:"):
        k = key.split(":", 1)[1]
        return format_varied(row.varied[k]) if k in row.varied else ""
    if key == "status":
        return row.status
    if key == "n":
        return str(row.n)
    if key == "diagnostics":
        return ", ".join(row.diagnostics)
    return fmt(row.values.get(key, (None, None)), key)


def to_csv(rows: Sequence[Row], metric: str) -> str:
    keys, names = header(rows, metric)
    num_keys = [k for k in keys if k not in ("run", "sweep", "status", "n", "diagnostics") and not k.startswith("varied:")]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([n for k, n in zip(keys, names) if k not in num_keys] + [c for k in num_keys for c in (k, f"{k}_std")]
               + ["best", "error"])
    for r in rows:
        out = [cell(r, k) for k in keys if k not in num_keys]
        for k in num_keys:
            mean, std = r.values.get(k, (None, None))
            out += ["" if mean is None else repr(mean), "" if std is None else repr(std)]
        w.writerow(out + [int(r.best), r.error or ""])
    return buf.getvalue()


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(rows: Sequence[Row], metric: str) -> str:
    keys, names = header(rows, metric)
    lines = ["| " + " | ".join(_md(n) for n in names) + " |", "|" + "|".join(" --- " for _ in names) + "|"]
    for r in rows:
        cells = [_md(cell(r, k)) for k in keys]
        if r.best:
            cells = [f"**{c}**" if c not in ("", "-") else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    problems = [r for r in rows if r.error]
    if problems:
        lines += ["", "Runs that did not complete:", ""]
        lines += [f"- {_md(r.name)} ({_md(r.status)}): {_md(r.error or '')}" for r in problems]
    return "\n".join(lines) + "\n"


def print_table(rows: Sequence[Row], metric: str, title: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    keys, names = header(rows, metric)
    table = Table(title=Text(title))
    for k, n in zip(keys, names):
        right = k not in ("run", "sweep", "status", "diagnostics") and not k.startswith("varied:")
        table.add_column(Text(n), justify="right" if right else "left", overflow="fold",
                         no_wrap=right or k in ("run", "diagnostics"))
    styles = {"failed": "red", "diverged": "yellow", "stale": "magenta", "running": "cyan"}
    for r in rows:
        style = "bold green" if r.best else styles.get(r.status, "")
        table.add_row(*[Text(cell(r, k)) for k in keys], style=style)
    console = Console(width=None if sys.stdout.isatty() else 400)  # a pipe or file: never wrap cells
    console.print(table)
    for r in rows:
        if r.error:
            console.print(Text(f"{r.name} ({r.status}): {r.error}", style=styles.get(r.status, "")))


def finite(x: Optional[float]) -> bool:
    return x is not None and math.isfinite(x)
