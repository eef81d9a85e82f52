"""sweep.json (the manifest), what earlier runs left behind, and time estimates.

The manifest lists every trial of the plan with its varied values, config
hash, status, error and timings; only the parent process writes it, after
each trial, atomically. Earlier runs under OUT (any run folder with a
config.yaml and a metrics.json) give seconds per epoch for trials of the same
shape (same config hash, seed and epochs aside) or, failing that, the same
parameter count on the same data and batch size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.runs import now, read_json, read_status, write_json
from dlhw.sweep.plan import SweepPlan, Trial, config_hash, describe, shape_hash

MANIFEST = "sweep.json"


def trial_entry(t: Trial) -> Dict[str, Any]:
    return {
        "name": t.name, "group": t.group, "repeat": t.repeat, "seed": t.cfg.seed,
        "varied": t.varied, "label": describe(t.varied), "source": t.source,
        "hash": t.hash, "shape": t.shape, "epochs": t.epochs,
        "status": "pending", "error": None, "run_dir": t.name,
    }


class Manifest:
    """OUT/<sweep>/sweep.json, kept up to date as trials finish."""

    def __init__(self, plan: SweepPlan, sweep_dir: Path, executor: str, workers: int):
        self.path = Path(sweep_dir) / MANIFEST
        old = read_json(self.path) or {}
        self.data: Dict[str, Any] = {
            "name": plan.name, "source": plan.source, "overrides": plan.overrides,
            "created": old.get("created") or now(), "updated": now(),
            "executor": executor, "workers": workers, "repeats": plan.repeats,
            "varied_keys": plan.varied_keys,
            "varied_values": {k: _distinct([t.varied.get(k) for t in plan.trials]) for k in plan.varied_keys},
            "trials": [trial_entry(t) for t in plan.trials],
        }
        self._by_name = {e["name"]: e for e in self.data["trials"]}

    def update(self, name: str, **fields: Any) -> None:
        self._by_name[name].update(fields)
        self.save()

    def save(self) -> None:
        self.data["updated"] = now()
        counts: Dict[str, int] = {}
        for e in self.data["trials"]:
            counts[e["status"]] = counts.get(e["status"], 0) + 1
        self.data["counts"] = counts
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.data)


def _distinct(values: List[Any]) -> List[Any]:
    out: List[Any] = []
    for v in values:
        if all(json.dumps(v, sort_keys=True, default=str) != json.dumps(o, sort_keys=True, default=str) for o in out):
            out.append(v)
    return out


def read_config_dump(run_dir: Path) -> Optional[Dict[str, Any]]:
    import yaml

    try:
        data = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def trial_state(t: Trial, sweep_dir: Path) -> str:
    """'done' (completed, same config hash), 'changed' (completed, other config), 'running' (elsewhere),
    'unfinished' or 'new'."""
    run_dir = Path(sweep_dir) / t.name
    if not run_dir.is_dir():
        return "new"
    status = read_status(run_dir).get("status")
    dump = read_config_dump(run_dir)
    same = dump is not None and config_hash(dump) == t.hash
    if status == "completed" and (run_dir / "metrics.json").exists():
        return "done" if same else "changed"
    if status == "running":  # its process is alive: another sweep or `dlhw run` is training it now
        return "running"
    return "unfinished"


# ------------------------------------------------------------------ estimates
def past_timings(root: Path, max_depth: int = 3) -> List[Dict[str, Any]]:
    """Seconds per epoch of every completed run under ``root``, with what it ran."""
    out: List[Dict[str, Any]] = []
    root = Path(root)
    if not root.is_dir():
        return out
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").exists() else None
        if metrics is not None:
            dump = read_config_dump(folder)
            seconds, epochs = metrics.get("train_seconds"), metrics.get("epochs_run")
            if dump and isinstance(seconds, (int, float)) and isinstance(epochs, int) and epochs > 0:
                params = (metrics.get("params") or {}).get("total")
                out.append({"shape": shape_hash(dump), "params": params, "data_key": _data_key(dump),
                            "sec_per_epoch": seconds / epochs, "run_dir": str(folder)})
            continue
        if depth < max_depth:
            try:
                children = [c for c in folder.iterdir() if c.is_dir() and c.name not in ("tb", "checkpoints")]
            except OSError:
                continue
            stack.extend((c, depth + 1) for c in children)
    return out


def _data_key(dump: Dict[str, Any]) -> str:
    return json.dumps([dump.get("dataset"), (dump.get("training") or {}).get("batch_size")], sort_keys=True, default=str)


def estimate_seconds(t: Trial, timings: List[Dict[str, Any]], params: Optional[int] = None) -> Optional[float]:
    """Estimated training seconds (upper bound: early stopping may end sooner), or None if nothing alike ran."""
    same = [x["sec_per_epoch"] for x in timings if x["shape"] == t.shape]
    if not same and params is not None:
        key = _data_key(t.cfg.dump())
        same = [x["sec_per_epoch"] for x in timings if x["params"] == params and x["data_key"] == key]
    if not same:
        return None
    same.sort()
    return same[len(same) // 2] * t.epochs


def _size_proxy(cfg) -> float:
    """A rough, TensorFlow-free measure of a model's work per sample, to rank trials of one sweep."""
    m = cfg.model
    if m.type == "mlp":
        units = [layer.units for layer in m.layers]
        return float(sum(units) + sum(a * b for a, b in zip(units, units[1:])))
    if m.type == "cnn":
        return float(sum(getattr(b, "filters", 0) or 0 for b in m.blocks) + 1)
    return 1e9  # a backbone outweighs any small model


def longest_first(trials: List[Trial], timings: List[Dict[str, Any]]) -> List[Trial]:
    """The trials in the order a pool should start them: the longest first, so that no worker is
    left with a long trial while the others idle at the end (LPT scheduling). Estimates from
    earlier runs when every trial has one, else epochs x a model-size proxy; ties keep plan order."""
    est = [estimate_seconds(t, timings) for t in trials]
    if any(e is None for e in est):
        est = [t.epochs * _size_proxy(t.cfg) for t in trials]
    order = sorted(range(len(trials)), key=lambda i: (-est[i], i))
    return [trials[i] for i in order]


def format_seconds(s: Optional[float]) -> str:
    if s is None:
        return "-"
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.1f}min"
    return f"{s / 3600:.1f}h"

