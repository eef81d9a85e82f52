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
from dlhw.evaluation.direction import higher_is_better
from dlhw.reports.collect import RunRecord, available_metrics, metric_value

COLUMNS: List[Tuple[str, str]] = [
    ("train_accuracy", "train acc"), ("val_accuracy", "val acc"), ("test_accuracy", "test acc"),
    ("train_loss", "train loss"), ("val_loss", "val loss"), ("test_loss", "test loss"),
    ("test_f1_macro", "test F1"), ("params_total", "params"), ("params_trainable", "trainable"),
    ("train_seconds", "train s"), ("best_epoch", "best epoch"),
]


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
    desc = higher_is_better(metric)

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
    from dlhw.sweeps.planning.plan import format_value

    return format_value(value)


def header(rows: Sequence[Row], metric: str) -> Tuple[List[str], List[str]]:
    """(keys, titles): run, sweep, varied keys..., status, n, metrics..., diagnostics."""
    vk = varied_keys(rows)
    from dlhw.sweeps.planning.plan import key_labels

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


TEXT_MIN_WIDTH = 20  # text columns (run names, varied values, diagnostics) fold onto more lines up to this
MAX_PARTS = 2  # the terminal table folds into at most this many tables; columns beyond them are left out, with a note
PRIORITY = ("status", "sweep", "varied", "n", "metric", "val_accuracy", "test_accuracy", "train_accuracy", "val_loss",
            "test_f1_macro", "test_loss", "train_loss", "diagnostics", "params_total", "train_seconds", "best_epoch",
            "params_trainable")


def _is_text(key: str) -> bool:
    return key in ("run", "sweep", "status", "diagnostics") or key.startswith("varied:")


def _widths(key: str, name: str, rows: Sequence[Row]) -> Tuple[int, int]:
    """(least, full) cells for a column: numbers, n and status always whole; run names may fold
    down to TEXT_MIN_WIDTH, other text (varied values, diagnostics) down to its longest word."""
    from rich.cells import cell_len

    texts = [name] + [cell(r, key) for r in rows]
    full = max(cell_len(t) for t in texts)
    if not _is_text(key) or key == "status":
        return full, full
    if key == "run":
        return min(full, TEXT_MIN_WIDTH), full
    return min(full, TEXT_MIN_WIDTH, max(cell_len(w) for t in texts for w in (t.split() or [""]))), full


def terminal_layout(rows: Sequence[Row], metric: str, width: int) -> Tuple[List[List[Tuple[int, int]]], List[int]]:
    """(parts, left_out) for a terminal ``width`` cells wide: each part is one table's columns as
    (header index, width), starting with the run column, no table wider than ``width``, no number
    cut. Columns that fit in none of MAX_PARTS tables (the lowest priority first) are left out."""
    keys, names = header(rows, metric)
    sizes = [_widths(k, n, rows) for k, n in zip(keys, names)]
    cost = [least + 3 for least, _ in sizes]  # padding 2, border 1

    def rank(i: int) -> int:
        k = keys[i]
        word = "metric" if k == metric else "varied" if k.startswith("varied:") else k
        return PRIORITY.index(word) if word in PRIORITY else len(PRIORITY)

    parts: List[List[int]] = [[0]]
    used = [1 + cost[0]]  # the left edge
    left_out: List[int] = []
    for i in sorted(range(1, len(keys)), key=lambda i: (rank(i), i)):
        p = next((p for p in range(len(parts)) if used[p] + cost[i] <= width), None)
        if p is None and len(parts) < MAX_PARTS and 1 + cost[0] + cost[i] <= width:
            parts.append([0])
            used.append(1 + cost[0])
            p = len(parts) - 1
        if p is None:
            left_out.append(i)
            continue
        parts[p].append(i)
        used[p] += cost[i]
    out = []
    for part in parts:
        if len(part) == 1 and len(keys) > 1:
            continue
        part = sorted(part)
        given = {i: sizes[i][1] for i in part}
        while 1 + sum(given[i] + 3 for i in part) > width:  # fold the widest text column that still can
            i = max(part, key=lambda i: given[i] - sizes[i][0])
            if given[i] <= sizes[i][0]:
                break
            given[i] -= 1
        out.append([(i, given[i]) for i in part])
    return out, sorted(left_out)


def print_table(rows: Sequence[Row], metric: str, title: str, console=None) -> None:
    """The table on the terminal: folded into two tables when too wide, numbers never cut."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if console is None:
        console = Console(width=None if sys.stdout.isatty() else 400)  # a pipe or file: never wrap cells
    keys, names = header(rows, metric)
    parts, left_out = terminal_layout(rows, metric, console.width)
    styles = {"failed": "red", "diverged": "yellow", "stale": "magenta", "running": "cyan"}
    for n_part, part in enumerate(parts):
        table = Table(title=Text(title if n_part == 0 else f"{title} (continued)"))
        for i, w in part:
            table.add_column(Text(names[i]), justify="left" if _is_text(keys[i]) else "right", overflow="fold",
                             no_wrap=not _is_text(keys[i]), width=w)
        for r in rows:
            style = "bold green" if r.best else styles.get(r.status, "")
            table.add_row(*[Text(cell(r, keys[i])) for i, _ in part], style=style)
        console.print(table)
    if left_out:
        console.print(Text(f"not shown at {console.width} columns: {', '.join(names[i] for i in left_out)} "
                           f"(a wider terminal shows them; summary.csv and report.html have every column)"))
    for r in rows:
        if r.error:
            console.print(Text(f"{r.name} ({r.status}): {r.error}", style=styles.get(r.status, "")))


def finite(x: Optional[float]) -> bool:
    return x is not None and math.isfinite(x)


def rank_of(rows: Sequence[Row]) -> Dict[int, int]:
    """id(record) -> the position of its row (rows sorted best first): the charts' highlight order."""
    return {id(rec): i for i, r in enumerate(rows) for rec in r.runs}
