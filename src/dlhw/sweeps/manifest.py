"""sweep.json (the manifest), what earlier runs left behind, and time estimates.

The manifest lists every trial of the plan with its varied values, config
hash, status, error and timings; only the parent process writes it: each
trial event appends a line to sweep.jsonl (dlhw.rundir.sweep_log, O(1) per
trial), compacted into sweep.json, atomically, when the sweep starts and ends. The run folders are the truth: ``Manifest.sync``
rebuilds each trial's status and results from its folder, when a sweep
starts and when it ends, so the two never disagree. Earlier runs under OUT (any run folder with a
config.yaml and a metrics.json) give seconds per epoch for trials of the same
shape (same config hash, seed and epochs aside) or, failing that, the same
parameter count on the same data and batch size.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.config.fingerprint import fingerprint, shape_fingerprint
from dlhw.rundir import layout
from dlhw.rundir.folder import now
from dlhw.rundir.records import (
    NO_METRICS,
    RecordError,
    SweepManifest,
    read_manifest_optional,
    read_metrics,
    settled_status,
)
from dlhw.rundir.states import Status
from dlhw.rundir.status import read_status
from dlhw.rundir.sweep_log import append_event, count_statuses, drop_log, manifest_stamp, start_log
from dlhw.runtime.files import ensure_dir
from dlhw.sweeps.planning.plan import SweepPlan, Trial, describe


def trial_entry(t: Trial) -> Dict[str, Any]:
    return {
        "name": t.name, "group": t.group, "repeat": t.repeat, "seed": t.cfg.seed,
        "varied": t.varied, "label": describe(t.varied), "source": t.source,
        "hash": t.hash, "shape": t.shape, "epochs": t.epochs,
        "status": Status.QUEUED.value, "error": None, "run_dir": t.name,
    }


class Manifest:
    """OUT/<sweep>/sweep.json, kept up to date as trials finish."""

    def __init__(self, plan: SweepPlan, sweep_dir: Path, executor: str, workers: "int | str"):
        self.path = Path(sweep_dir) / layout.SWEEP_MANIFEST
        old = _old_manifest(self.path.parent)
        self.data: Dict[str, Any] = {
            "name": plan.name, "source": plan.source, "overrides": plan.overrides,
            "created": old.get("created") or now(), "updated": now(),
            "executor": executor, "workers": workers, "repeats": plan.repeats,
            "varied_keys": plan.varied_keys,
            "varied_values": {k: _distinct([t.varied.get(k) for t in plan.trials]) for k in plan.varied_keys},
            "trials": [trial_entry(t) for t in plan.trials],
        }
        if plan.claims:
            self.data["claims"] = [c.plain() for c in plan.claims]
        self._by_name = {e["name"]: e for e in self.data["trials"]}
        self._base: Optional[List[int]] = None  # the sweep.json this object last wrote (its log extends it)
        self._log_started = False

    def update(self, name: str, **fields: Any) -> None:
        """Trial ``name``'s entry gets ``fields``: one line appended to sweep.jsonl (O(1), whatever
        the number of trials); sweep.json itself is rewritten by ``save`` (rundir.sweep_log)."""
        self._by_name[name].update(fields)
        if self._base is None:  # no sweep.json of ours yet to extend
            self.save()
            return
        if not self._log_started:
            start_log(self.path.parent, self._base)
            self._log_started = True
        append_event(self.path.parent, name, fields, now())

    def add(self, t: Trial, **fields: Any) -> None:
        """A trial the plan did not list (a search's, asked as it goes); sweep.json is rewritten."""
        entry = {**trial_entry(t), **fields}
        self.data["trials"].append(entry)
        self._by_name[t.name] = entry
        for k in self.data["varied_keys"]:
            self.data["varied_values"][k] = _distinct(self.data["varied_values"].get(k, []) + [t.varied.get(k)])
        self.save()

    def entry(self, name: str) -> Optional[Dict[str, Any]]:
        """Trial ``name``'s entry (None: not listed)."""
        return self._by_name.get(name)

    def record(self, name: str, **fields: Any) -> None:
        """Like ``update``, in memory only: the next ``save`` or ``sync`` writes it."""
        self._by_name[name].update(fields)

    def sync(self) -> None:
        """Each trial's status, error and results as its run folder says (a trial without a
        folder keeps what this sweep recorded: pending, queued or interrupted)."""
        sweep_dir = self.path.parent
        for e in self.data["trials"]:
            run_dir = sweep_dir / str(e.get("run_dir") or e["name"])
            if not (run_dir / layout.STATUS).is_file():
                continue
            status = read_status(run_dir)
            metrics = read_metrics(run_dir, tolerant=True)
            state = settled_status(status["status"], metrics is not None).value
            if state == "failed" and status["status"] is Status.COMPLETED:
                status["error"] = NO_METRICS
            e.update(status=state, error=status.get("error") if state != "completed" else None)
            if state == "pruned":  # a search's pruner stopped it (sweeps.sources.search)
                e.update(pruned_at=status.get("pruned_at"), train_seconds=status.get("train_seconds"))
            if metrics is not None and state == "completed":
                val, test = metrics.get("val") or {}, metrics.get("test") or {}
                e.update(train_seconds=metrics.get("train_seconds"), val_accuracy=val.get("accuracy"),
                         test_accuracy=test.get("accuracy"), best_epoch=metrics.get("best_epoch"),
                         params=(metrics.get("params") or {}).get("total"))
        self.save()

    def save(self) -> None:
        """sweep.json rewritten whole (the log compacted into it, then removed)."""
        self.data["updated"] = now()
        self.data["counts"] = count_statuses(self.data["trials"])
        ensure_dir(self.path.parent)
        SweepManifest.build(self.data, self.path).write(self.path)
        self._base = manifest_stamp(self.path.parent)  # a reader ignores a log naming an older base
        drop_log(self.path.parent)
        self._log_started = False


def _old_manifest(sweep_dir: Path) -> Dict[str, Any]:
    """The sweep.json an earlier run of this sweep left ({}: none, or damaged: rebuilt from the run folders)."""
    try:
        old = read_manifest_optional(sweep_dir)
    except RecordError:
        return {}
    return old.plain() if old is not None else {}


def _distinct(values: List[Any]) -> List[Any]:
    out: List[Any] = []
    for v in values:
        if all(json.dumps(v, sort_keys=True, default=str) != json.dumps(o, sort_keys=True, default=str) for o in out):
            out.append(v)
    return out


def read_config_dump(run_dir: Path) -> Optional[Dict[str, Any]]:
    import yaml

    try:
        data = yaml.safe_load((Path(run_dir) / layout.CONFIG).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Where:
    """Where a trial stands on disk: ``state`` is 'new', 'done' (completed with this config),
    'running' (a live process holds it), 'unfinished', 'changed' (completed with another config:
    results to keep) or 'damaged' (config.yaml or checkpoint unreadable); ``folder`` is its
    run folder; ``detail`` says why (the pid, the changed key, the damage)."""

    state: str
    folder: Path
    detail: str = ""
    resumable: bool = False


def trial_folders(t: Trial, sweep_dir: Path) -> List[Path]:
    """The trial's own folder, then those an earlier sweep with another config trained it into
    (``<name>-2``, ``<name>-3``...: their config.yaml carries the trial's name)."""
    sweep_dir = Path(sweep_dir)
    found = [sweep_dir / t.name] if (sweep_dir / t.name).is_dir() else []
    pattern = re.compile(re.escape(t.name) + r"-(\d+)")
    try:
        extra = [c for c in sweep_dir.iterdir() if pattern.fullmatch(c.name) and c.is_dir()]
    except OSError:
        extra = []
    extra.sort(key=lambda c: int(c.name.rsplit("-", 1)[1]))
    return found + [c for c in extra if (read_config_dump(c) or {}).get("name") == t.name]


def _state(run_dir: Path) -> Dict[str, Any]:
    from dlhw.runtime.locks import holder

    status = read_status(run_dir)
    pid = holder(run_dir)
    if pid:
        status.update(status="running", pid=pid if pid > 0 else status.get("pid"))
    return status


def checkpoint_damage(run_dir: Path) -> Optional[str]:
    """Why RUN_DIR's checkpoint cannot be resumed from, or None (none yet counts as fine)."""
    import zipfile

    path = Path(run_dir) / layout.CHECKPOINTS / layout.CHECKPOINT
    if not path.exists():
        return None
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None or "state.npy" not in z.namelist():
                return f"checkpoint {path.name} is damaged ({bad or 'no state'})"
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        return f"checkpoint {path.name} is unreadable ({type(exc).__name__})"
    return None


def config_damage(run_dir: Path) -> Optional[str]:
    """Why RUN_DIR/config.yaml cannot be read back as a config, or None (also when it is absent)."""
    from dlhw.config import load_config
    from dlhw.errors import DlhwError

    path = Path(run_dir) / layout.CONFIG
    if not path.exists():
        return None
    if read_config_dump(run_dir) is None:
        return "config.yaml is unreadable"
    try:
        load_config(path)
    except DlhwError as exc:
        return f"config.yaml is invalid ({' '.join(str(exc).split())[:160]})"
    return None


def locate(t: Trial, sweep_dir: Path) -> Where:
    """Where trial ``t`` stands (see Where). A folder holding this exact config wins; else the
    trial's own folder decides."""
    from dlhw.rundir.resume import first_difference

    own = Path(sweep_dir) / t.name
    for folder in trial_folders(t, sweep_dir):
        dump = read_config_dump(folder)
        if dump is None or fingerprint(dump) != t.hash:
            continue
        status = _state(folder)
        state = status.get("status")
        if state == "running":
            return Where("running", folder, f"pid {status.get('pid')}")
        if state == "completed" and (folder / layout.METRICS).exists():
            return Where("done", folder)
        if state in ("interrupted", "stale"):
            why = checkpoint_damage(folder)
            return Where("damaged", folder, why) if why else Where("unfinished", folder, state, resumable=True)
        return Where("unfinished", folder, str(state or "unknown"))
    if not own.is_dir():
        return Where("new", own)
    status = _state(own)
    state = status.get("status")
    if state == "running":
        return Where("running", own, f"pid {status.get('pid')}")
    dump = read_config_dump(own)
    # unreadable: nothing can be compared or resumed; invalid (still YAML): a resume fails forever
    why = config_damage(own) if dump is None or state in ("interrupted", "stale") else None
    if why:
        return Where("damaged", own, why)
    if state == "completed" and (own / layout.METRICS).exists():
        if dump is None:
            return Where("changed", own, "its config.yaml is missing")
        from dlhw.config.loader import get_path

        key = (first_difference({**dump, "name": None}, {**t.cfg.dump(), "name": None})  # what it computes
               or first_difference(dump, t.cfg.dump()) or "(top level)")  # else the name (part of the hash)
        return Where("changed", own, f"{key}: {get_path(dump, key)!r} -> {get_path(t.cfg.dump(), key)!r}")
    return Where("unfinished", own, str(state or "unknown"))


def trial_state(t: Trial, sweep_dir: Path) -> str:
    """'done', 'changed', 'running', 'unfinished', 'damaged' or 'new' (see Where)."""
    return locate(t, sweep_dir).state


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
        metrics = read_metrics(folder, tolerant=True)
        if metrics is not None:
            dump = read_config_dump(folder)
            seconds, epochs = metrics.get("train_seconds"), metrics.get("epochs_run")
            if dump and isinstance(seconds, (int, float)) and isinstance(epochs, int) and epochs > 0:
                params = (metrics.get("params") or {}).get("total")
                out.append({"shape": shape_fingerprint(dump), "params": params, "data_key": _data_key(dump),
                            "sec_per_epoch": seconds / epochs, "run_dir": str(folder)})
            continue
        if depth < max_depth:
            try:
                children = [c for c in folder.iterdir()
                            if c.is_dir() and c.name not in (layout.TENSORBOARD, layout.CHECKPOINTS)
                            and not c.name.startswith(".")]
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
    if m.type in ("cnn", "cnn1d"):
        return float(sum(getattr(b, "filters", 0) or 0 for b in m.blocks) + 1)
    return 1e9  # a backbone outweighs any small model


def longest_first(trials: List[Trial], timings: List[Dict[str, Any]]) -> List[Trial]:
    """The trials in the order a pool should start them: the longest first, so that no worker is
    left with a long trial while the others idle at the end (LPT scheduling). Estimates from
    earlier runs when every trial has one, else epochs x a model-size proxy; ties keep plan order."""
    found = [estimate_seconds(t, timings) for t in trials]
    est = [e for e in found if e is not None]
    if len(est) < len(trials):
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

