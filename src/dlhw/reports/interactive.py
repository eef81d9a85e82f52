"""The data report.html's script draws from: one JSON document embedded in the page.

``page_data(rows, records, metric)`` -> a dict with

- ``runs``: one entry per run folder: its name, row, detail-section id, stage boundaries, every
  numeric history.csv column as ``[epochs, values]`` and its final per-split metrics
  (the curves' ``test`` points: history.csv has no per-epoch test columns);
- ``rows``: one per table row (repeats folded): name, legend label, status, its runs, the
  metric's value and its varied values;
- ``t975``: Student's t(0.975, df) for df = 1 .. the largest row's runs - 1 (the curves' 95% bands);
- ``groups``: one per sweep (and one for the loose runs), its rows best first and its varied
  keys with their short labels: a curves chart each, and a parallel-coordinates chart when two or
  more keys vary.

``to_script_json`` writes it so that it can sit inside ``<script type="application/json">``:
``<``, ``>`` and ``&`` are escaped (a run named ``</script>`` cannot end the element).
No heavy imports.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Sequence

from dlhw.evaluation.direction import higher_is_better
from dlhw.reports.collect import RunRecord
from dlhw.reports.table import Row, format_varied

SKIP_COLUMNS = ("stage", "epoch")
SPLITS = ("train", "val", "test")
DIGITS = 6  # significant digits kept per value: a 1,000-run report stays small


def _num(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(f"{v:.{DIGITS}g}")


def _history(rec: RunRecord) -> Dict[str, List[List[float]]]:
    """{column: [epochs, values]} for each numeric history.csv column (epochs renumbered from 1
    when a file has none)."""
    out: Dict[str, List[List[float]]] = {}
    for i, row in enumerate(rec.history, 1):
        x = _num(row.get("epoch"))
        x = float(i) if x is None else x
        for k, v in row.items():
            if k in SKIP_COLUMNS:
                continue
            y = _num(v)
            if y is None:
                continue
            xs, ys = out.setdefault(k, [[], []])
            xs.append(x)
            ys.append(y)
    return out


def _stages(rec: RunRecord) -> List[List[Any]]:
    """[[x, next stage's name], ...] halfway between a stage's last epoch and the next one's first
    (as curves.png marks them); none for a one-stage run."""
    marks: List[List[Any]] = []
    for prev, row in zip(rec.history, rec.history[1:]):
        a, b = _num(prev.get("epoch")), _num(row.get("epoch"))
        if row.get("stage") != prev.get("stage") and a is not None and b is not None:
            marks.append([(a + b) / 2, str(row.get("stage"))])
    return marks


def _final(rec: RunRecord) -> Dict[str, float]:
    """metrics.json's per-split numbers as {'test_loss': ..., 'val_accuracy': ...}."""
    out: Dict[str, float] = {}
    for split in SPLITS:
        values = rec.metrics.get(split)
        if not isinstance(values, dict) or not values.get("samples"):
            continue
        for k, v in values.items():
            y = _num(v)
            if k != "samples" and y is not None:
                out[f"{split}_{k}"] = y
    return out


def _value(v: Any) -> Any:
    """A varied value for the parallel-coordinates axes: a number stays a number, anything else
    is shown as the table shows it."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _num(v)
    return format_varied(v)


def detail_id(index: int) -> str:
    return f"run-{index}"


def page_data(rows: Sequence[Row], records: Sequence[RunRecord], metric: str) -> Dict[str, Any]:
    from dlhw.reports.charts import legend_label, sweep_groups
    from dlhw.sweeps.planning.plan import key_labels

    index = {id(rec): i for i, rec in enumerate(records)}
    title_of: Dict[int, str] = {}
    groups: Dict[str, Dict[str, Any]] = {}  # in the overlays' order: sweeps as found, then the loose runs
    for title, by_trial in sweep_groups(records).items():
        groups[title] = {"title": title, "rows": [], "keys": []}
        for runs in by_trial.values():
            title_of.update({id(r): title for r in runs})
    runs_out: List[Dict[str, Any]] = []
    for i, rec in enumerate(records):
        runs_out.append({"name": rec.name, "detail": detail_id(i), "status": rec.status, "stages": _stages(rec),
                         "h": _history(rec), "final": _final(rec), "row": None})
    rows_out: List[Dict[str, Any]] = []
    for n, r in enumerate(rows):
        ids = [index[id(rec)] for rec in r.runs if id(rec) in index]
        for i in ids:
            runs_out[i]["row"] = n
        title = title_of.get(id(r.runs[0]), "runs") if r.runs else "runs"
        rows_out.append({"name": r.name, "label": legend_label(r.runs) if r.runs else r.name, "status": r.status,
                         "best": r.best, "runs": ids, "metric": _num(r.values.get(metric, (None, None))[0]),
                         "varied": {k: _value(v) for k, v in r.varied.items()}})
        g = groups.setdefault(title, {"title": title, "rows": [], "keys": []})
        g["rows"].append(n)  # rows come best first: so do a group's
        g["keys"] += [k for k in r.varied if k not in g["keys"]]
    for g in groups.values():
        g["labels"] = key_labels(g["keys"])
    from dlhw.reports.palette import as_data

    return {"metric": metric, "higher": higher_is_better(metric), "runs": runs_out, "rows": rows_out,
            "groups": [g for g in groups.values() if g["rows"]], "palette": as_data(),
            "t975": t_quantiles(max((len(r["runs"]) for r in rows_out), default=1))}


def t_quantiles(n: int) -> List[float]:
    """Student's t(0.975, df) for df = 1 .. max(1, n - 1): the curves' 95% bands over up to ``n`` runs
    (dlhw.reports.stats.t_quantile, as curves.png's bands; beyond them, the page uses the last one)."""
    from dlhw.reports.stats import t_quantile

    return [round(t_quantile(df), 6) for df in range(1, max(2, n))]


def to_script_json(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
