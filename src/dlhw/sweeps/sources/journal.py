"""A search's study journal after a crash: checked before Optuna reads it, rebuilt when it is lost.

``check_journal``: Optuna's journal (``study.journal``) is one JSON record a line, appended. A
crash in the middle of a write leaves a torn last line: it is dropped, with one warning line
naming the file (the trial it belonged to is still in its folder and is picked up again). A
damaged line anywhere else is refused: one line naming the file and the line, and how to
recover (``dlhw sweep PATH --repair``).

``rebuild_study``: the study made again from the trial folders (each holds ``trial.json``: its
number, parameters, state and value; an older folder without one is read from sweep.json's entry
and its metrics.json). It runs on ``--repair`` and by itself when the journal is missing or empty
beside finished trial folders: those trials are kept, never trained again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.errors import ConfigError
from dlhw.rundir import layout
from dlhw.rundir.records import manifest_entries, status_word
from dlhw.rundir.records.search import TRIAL_FILE, TrialRecord, trial_folders
from dlhw.rundir.states import Status

JOURNAL = "study.journal"


def _record_ok(line: bytes) -> Optional[str]:
    """None when ``line`` is a whole journal record, else what is wrong with it."""
    if not line.endswith(b"\n"):
        return "cut off (no line end)"
    try:
        data = json.loads(line)
    except ValueError as exc:
        return f"not JSON ({exc.msg})" if hasattr(exc, "msg") else "not JSON"
    if not isinstance(data, dict) or "op_code" not in data:
        return "not a study record (no op_code)"
    return None


def check_journal(path: Path, source: str, echo: Callable[[str], None]) -> bool:
    """True when ``path`` holds at least one record. A torn last record is cut off (one warning);
    a damaged one elsewhere: ConfigError naming the file, the line and ``--repair``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    if not data.strip():
        return False
    lines = data.splitlines(keepends=True)
    for i, line in enumerate(lines, start=1):
        problem = _record_ok(line)
        if problem is None:
            continue
        if i == len(lines):
            keep = len(data) - len(line)
            with open(path, "r+b") as fh:
                fh.truncate(keep)
            import sys

            print(f"warning: {path}: its last record (line {i}) was torn by a crash mid-write ({problem}); "
                 f"dropped it, the trial it belonged to is picked up from its folder", file=sys.stderr)
            return i > 1
        raise ConfigError(f"{path}: line {i}: a damaged study record ({problem}); rebuild the study from the "
                          f"trial folders with: dlhw sweep {source} --repair")
    return True


def check_params(study, keys: List[str], path: Path, source: str) -> None:
    """Every trial the study holds (waiting and failed ones aside) has every key of the space."""
    for t in study.get_trials(deepcopy=False):
        if t.state.name in ("WAITING", "FAIL"):
            continue
        missing = [k for k in keys if k not in t.params]
        if missing:
            raise ConfigError(f"{path}: trial {t.number} has no value for space.{missing[0]} (a damaged or "
                              f"foreign study); rebuild it from the trial folders with: dlhw sweep {source} --repair")


CREATE_TRIAL = 4  # Optuna's JournalOperation.CREATE_TRIAL: the n-th such record creates trial id n
ASKED_WITH = {"successive_halving": "bracket", "hyperband": "bracket", "pbt": "population"}  # sources.scheduled, .pbt


def undo_interrupted_ask(study, plan, path: Path, sweep_dir: Path) -> bool:
    """A search killed while it asked the study for a trial leaves that trial half made: running, some
    of the space's keys (or its scheduler's attribute) not yet written, no trial folder. Its records
    are taken out of the journal, so the rerun asks for it again: the same number and the same seeded
    sampler (dlhw.sweeps.sources.study.make_sampler), so the same parameters. Only the study's last
    trial can be in that state (trials are asked one at a time, by the sweep's own process). One
    warning line; True when the journal was rewritten (load the study again)."""
    trials = study.get_trials(deepcopy=False)
    if not trials:
        return False
    last = trials[-1]
    attr = ASKED_WITH.get(plan.scheduler.type)
    whole = all(k in last.params for k in plan.keys) and (attr is None or attr in last.user_attrs)
    if last.state.name != "RUNNING" or whole or last.number in trial_folders(sweep_dir):
        return False
    trial_id = last._trial_id
    lines = Path(path).read_bytes().splitlines(keepends=True)
    kept, created = [], 0
    for line in lines:
        record = json.loads(line)
        if record.get("op_code") == CREATE_TRIAL:
            created += 1
            if created - 1 == trial_id:
                continue
        if record.get("trial_id") == trial_id:
            continue
        kept.append(line)
    if created != trial_id + 1:  # not the last trial the file creates: leave it to check_params' message
        return False
    from dlhw.runtime.files import write_bytes

    write_bytes(Path(path), b"".join(kept))
    import sys

    print(f"warning: {path}: trial {last.number} was being asked for when the search stopped; asked for again",
          file=sys.stderr)
    return True


def set_aside(path: Path) -> Path:
    """Move ``path`` to ``<path>.damaged`` (``.damaged-2``, ...) and return where it went."""
    target, n = path.with_name(path.name + ".damaged"), 2
    while target.exists():
        target, n = path.with_name(f"{path.name}.damaged-{n}"), n + 1
    path.rename(target)
    return target


# ------------------------------------------------------------------ rebuilding
def _from_manifest(plan, folder: Path, entries: Dict[str, Dict[str, Any]]) -> Optional[TrialRecord]:
    """An older trial folder without trial.json: its parameters from sweep.json's entry."""
    from dlhw.sweeps.sources.study import trial_values

    e = entries.get(folder.name)
    if not e or not isinstance(e.get("varied"), dict) or e.get("number") is None:
        return None
    by_key = {p.key: p for p in plan.params}
    if set(e["varied"]) != set(by_key):
        return None
    params = {k: by_key[k].stored(v) for k, v in e["varied"].items()}
    status = status_word(folder)
    values = trial_values(plan, folder) if status == Status.COMPLETED else None
    state = {Status.COMPLETED: "complete", Status.PRUNED: "pruned", Status.FAILED: "fail",
             Status.DIVERGED: "fail", Status.PAUSED: "paused"}.get(status, "running")
    return TrialRecord(number=int(e["number"]), params=params, state=state if values or state != "complete"
                       else "fail", values=values)


def _intermediate(plan, folder: Path) -> Dict[int, float]:
    """The pruner's metric per epoch, from history.csv."""
    from dlhw.rundir.history import read_history

    if plan.multi or not (folder / layout.HISTORY).is_file():
        return {}
    out: Dict[int, float] = {}
    for row in read_history(folder / layout.HISTORY):
        v = row.get(plan.metrics[0])
        if isinstance(v, (int, float)) and math.isfinite(v) and row.get("epoch") is not None:
            out[int(row["epoch"])] = float(v)
    return out


def rebuild_study(plan, sweep_dir: Path, echo: Callable[[str], None]):
    """A new study in ``sweep_dir/study.journal`` holding every trial its folders describe, in order
    of number (a number no folder has becomes a failed trial, so the numbers stay the folders')."""
    from dlhw.sweeps.sources.study import import_optuna, new_study

    optuna = import_optuna()
    sweep_dir = Path(sweep_dir)
    journal = sweep_dir / JOURNAL
    if journal.exists() and journal.stat().st_size:
        echo(f"{journal}: set aside as {set_aside(journal).name}; rebuilding the study from the trial folders")
    elif journal.exists():
        journal.unlink()
    entries = manifest_entries(sweep_dir)
    records: Dict[int, TrialRecord] = {}
    for number, folder in trial_folders(sweep_dir).items():
        rec = TrialRecord.read(folder / TRIAL_FILE) or _from_manifest(plan, folder, entries)
        if rec is None or rec.number != number:
            echo(f"{folder.name}: neither trial.json nor a sweep.json entry names its parameters; left out of the study")
            continue
        if not rec.intermediate:
            rec.intermediate = _intermediate(plan, folder)
        records[number] = rec
    study = new_study(plan, sweep_dir)
    dists = {p.key: p.distribution() for p in plan.params}
    TS = optuna.trial.TrialState
    states = {"complete": TS.COMPLETE, "pruned": TS.PRUNED, "fail": TS.FAIL, "running": TS.RUNNING,
              "paused": TS.RUNNING}
    if plan.spec.warm_start:  # the earlier search's trials first, as when the study was made
        from dlhw.sweeps.sources.warm_start import seed_study

        seed_study(study, plan, echo)
    for number in range(len(study.get_trials(deepcopy=False)), max(records) + 1 if records else 0):
        rec = records.get(number)
        if rec is None:
            study.add_trial(optuna.trial.create_trial(state=TS.FAIL, system_attrs={"dlhw_gap": True}))
            continue
        state = states.get(rec.state, TS.RUNNING)
        values = rec.values if state == TS.COMPLETE else None
        study.add_trial(optuna.trial.create_trial(
            params={k: v for k, v in rec.params.items() if k in dists}, distributions={k: dists[k] for k in rec.params if k in dists},
            values=values, state=state, intermediate_values=rec.intermediate if state != TS.FAIL else None,
            user_attrs={"bracket": rec.lineage["bracket"]} if "bracket" in rec.lineage else None))
    echo(f"{journal}: rebuilt from {len(records)} trial folder(s)")
    return study
