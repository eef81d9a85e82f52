"""``dlhw sweep --dry-run``: the plan, parameter counts and time estimates, nothing trained.

Parameter counts need the model built (TensorFlow is imported, no training);
each distinct model (``model_key``: data, model section, loss) is built once,
each distinct dataset section is loaded once, and a dataset that cannot be
loaded (a missing folder, a Keras set not downloaded and no network) is tried
once, not once per trial: its trials show '? (no data)' and the dry run exits
2 with the reason in full (``data_problem``). A model that cannot be built
shows '?', its reason is printed under the table, and the dry run still
succeeds (training would report it per trial). The table lists the first
``SHOWN`` trials and counts the others; the totals cover every trial.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.errors import DataError, DlhwError
from dlhw.sweeps.manifest import estimate_seconds, past_timings, trial_state
from dlhw.sweeps.planning.plan import SweepPlan, describe


def count_params(plan: SweepPlan, device: str = "auto") -> Dict[str, Any]:
    """trial name -> total parameter count, or the DlhwError that stopped it (DataError: its data)."""
    from dlhw.data import load_dataset
    from dlhw.models import build_model
    from dlhw.runtime.tfruntime import setup_runtime
    from dlhw.training.trainer import count_params as count

    setup_runtime(device, 0)
    import keras

    datasets: Dict[str, Any] = {}  # dataset section -> Dataset, or the error loading it gave (never retried)
    built: Dict[str, Any] = {}  # model_key -> its count or error: each distinct model is built once
    out: Dict[str, Any] = {}
    for t in plan.trials:
        mkey = model_key(t.cfg.dump())
        if mkey in built:
            out[t.name] = built[mkey]
            continue
        key = json.dumps(t.cfg.dump().get("dataset"), sort_keys=True, default=str)
        if key not in datasets:
            try:
                datasets[key] = load_dataset(t.cfg)
            except DlhwError as exc:
                datasets[key] = DataError(str(exc))
        if isinstance(datasets[key], DataError):
            out[t.name] = datasets[key]
            continue
        try:
            model, _ = build_model(t.cfg, datasets[key])
            out[t.name] = count(model)["total"]
        except DlhwError as exc:
            out[t.name] = exc
        built[mkey] = out[t.name]
        keras.backend.clear_session()
    return out


def model_key(dump: Dict[str, Any]) -> str:
    """What a model's parameter count (and whether it builds) depends on: the task, the data, the
    model section, the loss and the stages' unfreezing; not the seed, optimizer, epochs or batch size.
    A 10,000-trial grid over training settings builds a handful of models, not 10,000."""
    training = dump.get("training") or {}
    stages = [(s or {}).get("unfreeze") for s in (training.get("stages") or [])]
    return json.dumps([dump.get("task"), dump.get("dataset"), dump.get("model"), training.get("loss"), stages],
                      sort_keys=True, default=str)


def plan_rows(plan: SweepPlan, out: Path, with_params: bool = True, device: str = "auto") -> List[Dict[str, Any]]:
    params = count_params(plan, device) if with_params else {}
    timings = past_timings(Path(out))
    from dlhw.sweeps.engine import sweep_folder

    sweep_dir = sweep_folder(plan, Path(out))  # OUT/<name>, or <name>-sweep beside a run folder of that name
    rows = []
    fresh = not sweep_dir.is_dir()  # no folder yet: every trial is new (no per-trial look on disk)
    for t in plan.trials:
        p = params.get(t.name)
        rows.append({
            "name": t.name, "varied": describe(t.varied) or "-", "epochs": t.epochs,
            "params": p if not isinstance(p, Exception) else None,
            "problem": p if isinstance(p, Exception) else None,
            "estimate": estimate_seconds(t, timings, p if isinstance(p, int) else None),
            "state": "new" if fresh else trial_state(t, sweep_dir), "hash": t.hash,
        })
    return rows


def data_problem(rows: List[Dict[str, Any]]) -> Optional[DataError]:
    """The error a dry run exits with (2) when some trial's dataset cannot be loaded, else None."""
    bad = [r for r in rows if isinstance(r.get("problem"), DataError)]
    if not bad:
        return None
    return DataError(f"{len(bad)} of {len(rows)} trials cannot load their dataset: {bad[0]['problem']}")


SHOWN = 50  # trials a dry run lists; the rest are counted (summed and estimated all the same)


def print_plan(plan: SweepPlan, rows: List[Dict[str, Any]], rerun: bool = False, shown: int = SHOWN) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dlhw.sweeps.manifest import format_seconds

    table = Table(title=Text(f"sweep {plan.name}: {len(rows)} trials (dry run, nothing trained)"))
    for col, right in (("#", True), ("trial", False), ("varied values", False), ("epochs", True),
                       ("params", True), ("estimate", True), ("state", False)):
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    to_run: List[Optional[float]] = []
    for i, r in enumerate(rows, 1):
        state = r["state"]
        will_skip = (state == "done" and not rerun) or state == "running"
        if not will_skip:
            to_run.append(r["estimate"])
        if i > shown:
            continue
        p = r["params"]
        table.add_row(str(i), Text(r["name"]), Text(r["varied"]), str(r["epochs"]),
                      f"{p:,}" if isinstance(p, int) else "-" if not r.get("problem")
                      else "? (no data)" if isinstance(r["problem"], DataError) else "? (see below)",
                      format_seconds(r["estimate"]),
                      "running elsewhere (left alone)" if state == "running" else "completed (skip)" if will_skip
                      else {"new": "to run", "done": "rerun"}.get(state, f"{state}: rerun"))
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(table)
    if len(rows) > shown:
        console.print(Text(f"... and {len(rows) - shown:,} more trials (the first {shown} are listed; "
                           f"the counts and the estimate below cover all {len(rows):,})"))
    known = [e for e in to_run if e is not None]
    total = f"about {format_seconds(sum(known))} of training" if known else "no estimate yet (no run of this shape so far)"
    if known and len(known) < len(to_run):
        total += f" for {len(known)} of them; the other {len(to_run) - len(known)} have no earlier run of their shape"
    console.print(Text(f"{len(to_run)} to run, {len(rows) - len(to_run)} to skip; {total}"))
    problems: Dict[str, List[str]] = {}
    for r in rows:  # a data problem is the dry run's error line instead (data_problem)
        if r.get("problem") and not isinstance(r["problem"], DataError):
            problems.setdefault(" ".join(str(r["problem"]).split()), []).append(r["name"])
    for message, names in problems.items():  # each reason once, whole
        console.print(Text(f"{', '.join(names)}: {message}", style="red"))
