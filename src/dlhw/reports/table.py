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
    intervals: Dict[str, Any] = field(default_factory=dict)  # key -> reports.stats.Interval (two or more runs)
    metric: str = ""  # the sort metric: the one its ci cell shows

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


def _dedupe(runs: List[RunRecord]) -> List[RunRecord]:
    """One run per seed/split/fold: a rerun's folder (<trial>-2) with the same config replaces the
    earlier one when it completed (it is the same experiment again, not a repeat)."""
    by_pair: Dict[str, RunRecord] = {}
    order: List[str] = []
    for r in runs:
        key = r.pair_key if r.config else f"path:{r.path}"
        if key not in by_pair:
            order.append(key)
            by_pair[key] = r
        elif r.status == "completed" or by_pair[key].status != "completed":
            by_pair[key] = r
    return [by_pair[k] for k in order]


def group_runs(records: Sequence[RunRecord]) -> List[List[RunRecord]]:
    """Runs that are repeats of one another (same sweep and trial group, configs equal apart from
    seed, split and fold), each group once, in first-seen order."""
    groups: Dict[Tuple[Any, str, str], List[RunRecord]] = {}
    for r in records:
        key = (r.sweep_key or f"loose:{r.path}", r.group if r.sweep_key else r.name, r.repeat_key)
        groups.setdefault(key, []).append(r)
    return [_dedupe(runs) for runs in groups.values()]


def _row_name(runs: List[RunRecord], later: bool) -> str:
    """The group's name; a later subgroup of the same trial (another config: a changed rerun) is
    told apart by its first run's folder name."""
    if len(runs) == 1:
        return runs[0].name
    return f"{runs[0].group} ({runs[0].name})" if later else runs[0].group


def build_rows(records: Sequence[RunRecord], metric: str) -> List[Row]:
    from dlhw.reports.stats import interval

    grouped = group_runs(records)
    named: set = set()
    keys = [c for c, _ in COLUMNS] + ([metric] if metric not in [c for c, _ in COLUMNS] else [])
    rows: List[Row] = []
    for runs in grouped:
        done = [r for r in runs if r.status == "completed"]
        if len(runs) == 1:
            status = runs[0].status
        else:
            status = "completed" if len(done) == len(runs) else f"{len(done)}/{len(runs)} completed"
        later = runs[0].sweep_key is not None and (runs[0].sweep_key, runs[0].group) in named
        named.add((runs[0].sweep_key, runs[0].group))
        row = Row(name=_row_name(runs, later), sweep=runs[0].sweep, varied=runs[0].varied, status=status, runs=runs,
                  metric=metric)
        for k in keys:
            vals = [v for v in (metric_value(r, k) for r in (done or runs)) if v is not None]
            if not vals:
                row.values[k] = (None, None)
            else:
                row.values[k] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None)
                if len(vals) > 1:
                    row.intervals[k] = interval(vals)
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
        (["n", "ci"] if show_n else []) + cols
    names = ["run"] + (["sweep"] if show_sweep else []) + [labels[k] for k in vk] + ["status"] + \
        (["n", f"{titles.get(metric, metric)} 95% CI"] if show_n else []) + [titles.get(c, c) for c in cols]
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
    if key == "ci":
        return ci_text(row, row.metric)
    if key == "diagnostics":
        return ", ".join(row.diagnostics)
    return fmt(row.values.get(key, (None, None)), key)


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) behind a
    quote, as OWASP advises; numbers (-0.5, +3) and everything else unchanged."""
    if not isinstance(value, str) or not value or value[0] not in "=+-@\t\r":
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def ci_text(row: Row, metric: str) -> str:
    """'[0.9012, 0.9311] t' for the row's ``metric``; '' for a single run."""
    iv = row.intervals.get(metric)
    if iv is None or iv.low is None:
        return ""
    digits = 1 if metric == "train_seconds" else 4
    return f"[{iv.low:.{digits}f}, {iv.high:.{digits}f}] {iv.method}"


CI_NOTE = ("95% CI: the mean's confidence interval over a row's n repeats (seeds, splits, folds): t = Student's t "
           "(n < 10), bootstrap = BCa bootstrap (n >= 10).")


def to_csv(rows: Sequence[Row], metric: str) -> str:
    keys, names = header(rows, metric)
    num_keys = [k for k in keys if k not in ("run", "sweep", "status", "n", "ci", "diagnostics")
                and not k.startswith("varied:")]
    buf = io.StringIO()
    w = csv.writer(buf)
    text_keys = [k for k in keys if k not in num_keys and k != "ci"]
    w.writerow([csv_safe(n) for k, n in zip(keys, names) if k in text_keys]
               + [csv_safe(c) for k in num_keys for c in (k, f"{k}_std", f"{k}_ci_low", f"{k}_ci_high")]
               + ["ci_method", "best", "error"])
    for r in rows:
        out = [csv_safe(cell(r, k)) for k in text_keys]
        for k in num_keys:
            mean, std = r.values.get(k, (None, None))
            iv = r.intervals.get(k)
            lo, hi = (iv.low, iv.high) if iv is not None else (None, None)
            out += ["" if v is None else repr(v) for v in (mean, std, lo, hi)]
        methods = sorted({iv.method for iv in r.intervals.values() if iv.method})
        w.writerow(out + ["/".join(methods), int(r.best), csv_safe(r.error or "")])
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
    if any(r.intervals for r in rows):
        lines += ["", _md(CI_NOTE)]
    problems = [r for r in rows if r.error]
    if problems:
        lines += ["", "Runs that did not complete:", ""]
        lines += [f"- {_md(r.name)} ({_md(r.status)}): {_md(r.error or '')}" for r in problems]
    return "\n".join(lines) + "\n"


TEXT_MIN_WIDTH = 20  # text columns (run names, varied values, diagnostics) fold onto more lines up to this
MAX_PARTS = 2  # the terminal table folds into at most this many tables; columns beyond them are left out, with a note
RUN_MAX_WIDTH = 28  # longer run names are shortened in the middle on the terminal (report.html has them whole)
PRIORITY = ("status", "metric", "ci", "sweep", "varied", "n", "val_accuracy", "test_accuracy", "train_accuracy", "val_loss",
            "test_f1_macro", "test_loss", "train_loss", "diagnostics", "params_total", "train_seconds", "best_epoch",
            "params_trainable")


def short_names(names: Sequence[str], width: int = RUN_MAX_WIDTH) -> Dict[str, str]:
    """Each name at most ``width`` characters on the terminal: a long name shows where the names
    start to differ (after their common prefix, from the word before it), '…' marking cuts."""
    import os

    prefix = os.path.commonprefix(list(names)) if len(names) > 1 else ""
    out: Dict[str, str] = {}
    for name in names:
        if len(name) <= width:
            out[name] = name
            continue
        cut = max(prefix.rfind(c, 0, max(len(prefix) - 1, 0)) for c in "-_/ ") + 1  # the word where names differ
        start = min(cut, len(name) - (width - 1))
        piece = ("…" if start > 0 else "") + name[start:]
        out[name] = piece if len(piece) <= width else piece[:width - 1] + "…"
    if len(set(out.values())) < len(set(names)):  # still alike: the start and the end of each name
        head = (width - 1) // 2
        out = {n: n if len(n) <= width else f"{n[:head]}…{n[len(n) - (width - 1 - head):]}" for n in names}
    return out


def terminal_cell(row: Row, key: str, short: Optional[Dict[str, str]] = None) -> str:
    return (short or {}).get(row.name, row.name) if key == "run" else cell(row, key)


def _is_text(key: str) -> bool:
    return key in ("run", "sweep", "status", "diagnostics") or key.startswith("varied:")


def terminal_names(rows: Sequence[Row], metric: str, width: int) -> Dict[str, str]:
    """Run names as the terminal shows them: whole when the whole table fits ``width``, else short_names."""
    from rich.cells import cell_len

    keys, names = header(rows, metric)
    whole = 1 + sum(3 + max(cell_len(t) for t in [n] + [cell(r, k) for r in rows]) for k, n in zip(keys, names))
    every = [r.name for r in rows]
    return {n: n for n in every} if whole <= width else short_names(every)


def _widths(key: str, name: str, rows: Sequence[Row], short: Dict[str, str]) -> Tuple[int, int]:
    """(least, full) cells for a column: numbers, n and status always whole; run names may fold
    down to TEXT_MIN_WIDTH, other text (varied values, diagnostics) down to its longest word."""
    from rich.cells import cell_len

    texts = [name] + [terminal_cell(r, key, short) for r in rows]
    full = max(cell_len(t) for t in texts)
    if not _is_text(key) or key == "status":
        return full, full
    if key == "run":
        return full, full  # (short_names made it at most RUN_MAX_WIDTH where the table is too wide)
    return min(full, TEXT_MIN_WIDTH, max(cell_len(w) for t in texts for w in (t.split() or [""]))), full


def terminal_layout(rows: Sequence[Row], metric: str, width: int) -> Tuple[List[List[Tuple[int, int]]], List[int]]:
    """(parts, left_out) for a terminal ``width`` cells wide: each part is one table's columns as
    (header index, width), starting with the run column, no table wider than ``width``, no number
    cut. Columns that fit in none of MAX_PARTS tables (the lowest priority first) are left out."""
    keys, names = header(rows, metric)
    short = terminal_names(rows, metric, width)
    sizes = [_widths(k, n, rows, short) for k, n in zip(keys, names)]
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
    short = terminal_names(rows, metric, console.width)
    styles = {"failed": "red", "diverged": "yellow", "stale": "magenta", "running": "cyan"}
    for n_part, part in enumerate(parts):
        table = Table(title=Text(title if n_part == 0 else f"{title} (continued)"))
        for i, w in part:
            table.add_column(Text(names[i]), justify="left" if _is_text(keys[i]) else "right", overflow="fold",
                             no_wrap=not _is_text(keys[i]), width=w)
        for r in rows:
            style = "bold green" if r.best else styles.get(r.status, "")
            table.add_row(*[Text(terminal_cell(r, keys[i], short)) for i, _ in part], style=style)
        console.print(table)
    if any(r.intervals for r in rows):
        console.print(Text(CI_NOTE))
    if left_out:
        console.print(Text(f"not shown at {console.width} columns: {', '.join(names[i] for i in left_out)} "
                           f"(a wider terminal shows them; summary.csv and report.html have every column)"))
    if any(short[r.name] != r.name for r in rows):
        console.print(Text("long run names are shortened here (…); summary.csv and report.html have them whole"))
    for r in rows:
        if r.error:
            console.print(Text(f"{r.name} ({r.status}): {r.error}", style=styles.get(r.status, "")))


def finite(x: Optional[float]) -> bool:
    return x is not None and math.isfinite(x)


def rank_of(rows: Sequence[Row]) -> Dict[int, int]:
    """id(record) -> the position of its row (rows sorted best first): the charts' highlight order."""
    return {id(rec): i for i, r in enumerate(rows) for rec in r.runs}
