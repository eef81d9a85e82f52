"""dlhw compare A B: two run folders, groups of repeats or sweeps side by side.

A side is a run folder (one run), a folder of runs or a sweep (all its completed runs), or a group
of a sweep named as SWEEP/GROUP (the trial's runs over seeds, splits and folds; GROUP is the
trial's name without its _seed-N suffix). For each metric both sides have: n, mean and 95%
interval of each side, and the difference A - B with its interval and two-sided p-value, paired by
seed/split/fold when both sides have the same ones (reports.stats). The config diff lists the keys
whose values differ (seed, split and fold left out). No heavy imports at module level.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlhw.errors import ConfigError
from dlhw.reports.collect import RunRecord, collect, metric_value
from dlhw.sweeps.planning.plan import flatten

METRICS = ("val_accuracy", "test_accuracy", "val_loss", "test_loss", "test_f1_macro", "train_seconds")
IGNORED = ("name", "seed", "dataset.split_seed", "dataset.fold")


@dataclass
class Side:
    label: str
    runs: list[RunRecord]


@dataclass
class MetricRow:
    metric: str
    a: Any            # reports.stats.Interval
    b: Any
    diff: Any = None  # reports.stats.Difference (None: fewer than 2 runs on a side)
    note: str = ""


@dataclass
class Comparison:
    a: Side
    b: Side
    config_diff: list[tuple[str, Any, Any]] = field(default_factory=list)
    rows: list[MetricRow] = field(default_factory=list)
    paired: bool = False


def load_side(text: str) -> Side:
    """A path (run, folder of runs, sweep) or SWEEP/GROUP: its completed runs."""
    path = Path(text)
    if path.exists():
        runs = [r for r in collect([path]) if r.status == "completed"]
        label = path.name
    elif path.parent.is_dir():
        runs = [r for r in collect([path.parent]) if r.status == "completed" and r.group == path.name]
        label = f"{path.parent.name}/{path.name}"
        if not runs:
            groups = sorted({r.group for r in collect([path.parent])})
            raise ConfigError(f"{text}: no such run folder, sweep or group; the groups there: "
                              f"{', '.join(groups[:8]) or 'none'}")
    else:
        raise ConfigError(f"{text}: no such run folder, sweep or group")
    if not runs:
        raise ConfigError(f"{text}: no completed run (a completed run folder holds metrics.json)")
    return Side(label, runs)


def config_diff(a: Sequence[RunRecord], b: Sequence[RunRecord]) -> list[tuple[str, Any, Any]]:
    """(key, value in A, value in B) for each key whose value differs between the sides' first runs."""
    fa, fb = flatten(a[0].config), flatten(b[0].config)
    out = []
    for key in list(fa) + [k for k in fb if k not in fa]:
        if key in IGNORED:
            continue
        va, vb = fa.get(key, "(unset)"), fb.get(key, "(unset)")
        if json.dumps(va, sort_keys=True, default=str) != json.dumps(vb, sort_keys=True, default=str):
            out.append((key, va, vb))
    return out


def _pairs(a: Side, b: Side, metric: str) -> tuple[list[float], list[float], bool]:
    ka = {r.pair_key: metric_value(r, metric) for r in a.runs}
    kb = {r.pair_key: metric_value(r, metric) for r in b.runs}
    if len(ka) == len(a.runs) and len(kb) == len(b.runs) and set(ka) == set(kb) \
            and all(v is not None for v in list(ka.values()) + list(kb.values())):
        keys = sorted(ka)
        return [ka[k] for k in keys], [kb[k] for k in keys], True  # type: ignore[misc]
    va = [v for v in (metric_value(r, metric) for r in a.runs) if v is not None]
    vb = [v for v in (metric_value(r, metric) for r in b.runs) if v is not None]
    return va, vb, False


def compare(a_text: str, b_text: str, metrics: Sequence[str] | None = None) -> Comparison:
    from dlhw.reports.stats import difference, interval

    a, b = load_side(a_text), load_side(b_text)
    cmp = Comparison(a, b, config_diff(a.runs, b.runs))
    for m in metrics or METRICS:
        va, vb, paired = _pairs(a, b, m)
        if not va or not vb:
            continue
        row = MetricRow(m, interval(va), interval(vb))
        if len(va) >= 2 and len(vb) >= 2:
            row.diff = difference(va, vb, paired, higher=None)
            cmp.paired = cmp.paired or paired
        else:
            row.note = "one run on a side: no test (repeats: k in a sweep file gives k seeds)"
        cmp.rows.append(row)
    if not cmp.rows:
        raise ConfigError(f"{a_text}, {b_text}: no metric both sides have")
    return cmp


def curves_png(cmp: Comparison, path: Path, column: str = "val_accuracy") -> Path | None:
    """Both sides' curves on one chart (each side's mean with its 95% band)."""
    from dlhw.reports.charts import overlay

    title = f"{cmp.a.label} vs {cmp.b.label}"
    groups = {"A": cmp.a.runs, "B": cmp.b.runs}
    for side, runs in groups.items():
        for r in runs:
            r.label = f"{side}: {cmp.a.label if side == 'A' else cmp.b.label}"
    return overlay(groups, column, column.replace("val_", ""), title, column.replace("val_", ""), Path(path))
