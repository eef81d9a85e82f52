"""A search with ``search.scheduler`` (successive_halving, hyperband): rungs run as rounds of jobs.

Each bracket (dlhw.sweeps.sources.promotion) asks its trials from the study, then trains them
rung by rung: every trial of a rung trains until the rung's epochs and pauses there (status
``paused``, its checkpoint kept); the best continue *from that checkpoint* to the next rung's
epochs, so a trial's history.csv numbers its epochs 1, 2, ... across rungs, never from 1 again.
The trials of one rung train at once on the executor's workers (a process pool, Ray).

Resume: which trials a bracket holds is a user attribute of each study trial (``bracket``);
how far a trial got is its folder's history.csv. A rerun recomputes the same rungs and
promotions and trains only what is missing. Each trial's lineage (its bracket, each rung's
epochs and value, the checkpoint each rung started from) is in its trial.json and sweep.json.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.rundir import layout
from dlhw.rundir.records import status_word
from dlhw.rundir.states import Status
from dlhw.sweeps.records import Job
from dlhw.sweeps.sources.promotion import Bracket, brackets, promote

PAUSE = "pause"  # dlhw.training.pruning.PAUSE (not imported here: it imports Keras)


class RungPause:
    """A trial's ``report(epoch, logs)``: pause when it reaches its rung's epochs."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def __call__(self, epoch: int, logs: Dict[str, Any]) -> Any:
        return PAUSE if epoch >= self.epochs else False


def history_values(folder: Path, metric: str) -> Dict[int, float]:
    """epoch -> ``metric`` of a trial folder's history.csv (the last stage's row for an epoch)."""
    from dlhw.rundir.history import read_history

    out: Dict[int, float] = {}
    for row in read_history(folder / layout.HISTORY) if (folder / layout.HISTORY).is_file() else []:
        v, e = row.get(metric), row.get("epoch")
        if isinstance(v, (int, float)) and math.isfinite(v) and isinstance(e, (int, float)) and math.isfinite(e):
            out[int(e)] = float(v)
    return out


class Schedule:
    """The rounds of one scheduled search; ``loop`` is the SearchSource (study, trials, jobs)."""

    def __init__(self, loop, dispatch: Callable[[List[Job]], None]):
        self.loop, self.dispatch = loop, dispatch
        plan = loop.plan
        s = plan.scheduler
        self.brackets: List[Bracket] = brackets(s.type, plan.budget, s.min_epochs, plan.epochs, s.reduction_factor)
        self.maximize = plan.directions[0] == "maximize"
        self.metric = plan.metrics[0]

    def jobs(self) -> int:
        """Jobs at most: each trial of each rung once."""
        return sum(sum(b.sizes) for b in self.brackets)

    def describe(self) -> str:
        return "; ".join(f"bracket {b.index}: {b.lines()}" for b in self.brackets) + " (trials x epochs per rung)"

    # ------------------------------------------------------------ trials
    def members(self, b: Bracket) -> List[int]:
        """The bracket's trial numbers: those the study holds for it, then new ones asked."""
        loop = self.loop
        held = sorted(ft.number for ft in loop.study.get_trials(deepcopy=False)
                      if ft.user_attrs.get("bracket") == b.index and not ft.system_attrs.get("dlhw_gap"))
        while len(held) < b.trials:
            number = loop.ask_one(bracket=b.index)
            if number is None:
                break
            held.append(number)
        return held[: b.trials]

    def folder(self, number: int) -> Optional[Path]:
        name = next((n for n, k in self.loop.numbers.items() if k == number), None)
        return None if name is None else self.loop.folder_of(name)

    def reached(self, number: int) -> int:
        """Epochs the trial's folder holds (0: none); a completed trial: all of them."""
        folder = self.folder(number)
        if folder is None or not folder.is_dir():
            return 0
        status = status_word(folder)
        if status in (Status.COMPLETED, Status.FAILED, Status.DIVERGED, Status.PRUNED):
            return 10 ** 9 if status == Status.COMPLETED else -1
        return max(history_values(folder, self.metric), default=0)

    # ------------------------------------------------------------ rounds
    def value_at(self, number: int, epochs: int) -> Optional[float]:
        """The trial's metric at ``epochs`` (None: no folder, or not reached)."""
        folder = self.folder(number)
        return history_values(folder, self.metric).get(epochs) if folder is not None else None

    def run(self) -> None:
        for b in self.brackets:
            members = self.members(b)
            for i, epochs in enumerate(b.epochs):
                jobs = [job for job in (self.rung_job(n, b, i) for n in members) if job is not None]
                if jobs:
                    self.dispatch(jobs)
                values = {n: self.value_at(n, epochs) for n in members}
                for n in members:
                    self.note(n, b, i, values)
                if i == len(b.epochs) - 1:
                    break
                members = promote(values, b.sizes[i + 1], self.maximize)
                for n in members:
                    self.note(n, b, i + 1, {})

    def rung_job(self, number: int, b: Bracket, i: int) -> Optional[Job]:
        """The job that brings trial ``number`` to rung ``i`` (None: it is there already, or failed)."""
        loop, epochs = self.loop, b.epochs[i]
        got = self.reached(number)
        if got < 0 or got >= epochs:
            return None
        self.note(number, b, i, {})
        last = epochs >= loop.plan.epochs
        return loop.scheduled_job(number, resume=got > 0, report=None if last else RungPause(epochs))

    def note(self, number: int, b: Bracket, rung: int, values: Dict[int, Optional[float]]) -> None:
        """The trial's lineage: its bracket and, per rung, its epochs, the value it reached and the
        checkpoint it started from."""
        lineage = self.loop.lineage.setdefault(number, {"bracket": b.index, "rungs": []})
        rungs: List[Dict[str, Any]] = lineage["rungs"]
        if not any(r["rung"] == rung for r in rungs):
            start = b.epochs[rung - 1] if rung > 0 else 0
            rungs.append({"rung": rung, "epochs": b.epochs[rung], "from_epoch": start,
                          "from_checkpoint": f"{layout.CHECKPOINTS}/{layout.CHECKPOINT} at epoch {start}"
                          if start else None})
        entry = next(r for r in rungs if r["rung"] == rung)
        if values.get(number) is not None and entry.get("value") != values[number]:
            entry["value"] = values[number]
            self.loop.keep_lineage(number)  # trial.json: the rung's value, whether promoted or paused
