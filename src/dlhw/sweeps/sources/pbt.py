"""Population-based training (``search.scheduler: pbt``; Jaderberg et al. 2017).

``search.trials`` trials (the population) are asked from the study once and train together, in
generations of ``interval`` epochs: every trial trains to the generation's epoch and pauses there
(its checkpoint kept). Then the population is ranked on ``search.metric`` at that epoch; each trial
of the bottom ``quantile`` copies the checkpoint of a trial of the top quantile (exploit), takes that
trial's parameters and multiplies each numeric one named in ``keys`` by a factor drawn from
``perturb`` (explore), clipped to the space's range. It continues from the copied checkpoint with
its new config, so its history.csv goes on from the copied epoch. dlhw.rundir.resume accepts exactly
this change of config: the exploit is recorded last in the trial's trial.json lineage with the
hashes of the new config and of the copied checkpoint.

Resume: every generation's decision (values, exploits) is written to ``pbt.json`` in the sweep
folder before it is applied; a rerun replays the recorded decisions (an exploit is applied once:
its trial's lineage says so) and trains only what is missing. The choices are drawn from a
``random.Random`` seeded with (search.seed, generation), so a search never stopped decides alike.
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.rundir import layout
from dlhw.rundir.records.search import PbtState
from dlhw.sweeps.records import Job
from dlhw.sweeps.sources.scheduled import RungPause, Schedule, history_values

STATE_FILE = PbtState.FILE


def perturbed(param, value: float, factor: float) -> Any:
    """``value * factor`` clipped to the parameter's range (an int rounded, a step kept)."""
    new = min(max(float(value) * factor, param.low), param.high)
    if param.step:
        new = param.low + round((new - param.low) / param.step) * param.step
        new = min(max(new, param.low), param.high)
    return int(round(new)) if param.kind == "int" else float(round(new, 12))


class PBTSchedule(Schedule):
    """The generations of one PBT search; ``loop`` is the SearchSource (study, trials, jobs)."""

    def __init__(self, loop, dispatch: Callable[[List[Job]], None]):
        from dlhw.sweeps.planning.space import pbt_keys

        self.loop, self.dispatch = loop, dispatch
        plan = loop.plan
        self.spec = plan.scheduler
        self.maximize = plan.directions[0] == "maximize"
        self.metric = plan.metrics[0]
        self.keys = pbt_keys(self.spec, plan.params, plan.source)
        n = math.ceil(plan.epochs / self.spec.interval)
        self.epochs = [min(plan.epochs, (g + 1) * self.spec.interval) for g in range(n)]
        self.path = Path(loop.sweep_dir) / STATE_FILE
        saved = PbtState.read(self.path)
        self.state: Dict[str, Any] = {"generations": dict(saved.generations) if saved is not None else {}}

    def jobs(self) -> int:
        """Jobs at most: each trial of the population once a generation."""
        return self.loop.plan.budget * len(self.epochs)

    def describe(self) -> str:
        keys = ", ".join(p.key for p in self.keys) or "nothing"
        factors = " / x".join(f"{f:g}" for f in self.spec.perturb)
        return (f"population of {self.loop.plan.budget}, {len(self.epochs)} generation(s) of {self.spec.interval} "
                f"epoch(s); the bottom {self.spec.quantile:g} copies the top {self.spec.quantile:g} and perturbs "
                f"{keys} by x{factors}")

    # ------------------------------------------------------------ trials
    def population(self) -> List[int]:
        loop = self.loop
        held = sorted(ft.number for ft in loop.study.get_trials(deepcopy=False)
                      if ft.user_attrs.get("population") and not ft.system_attrs.get("dlhw_gap"))
        while len(held) < loop.plan.budget:
            number = loop.ask_one(population=True)
            if number is None:
                break
            held.append(number)
        return held

    def params(self, number: int, upto: Optional[int] = None) -> Dict[str, Any]:
        """Trial ``number``'s parameters (as the study stores them) after the exploits of the
        generations before ``upto`` (None: all recorded)."""
        ft = self.loop.study._storage.get_trial(self.loop.study._storage.get_trial_id_from_study_id_trial_number(
            self.loop.study._study_id, number))
        params = dict(ft.params)
        for g in sorted(self.state["generations"], key=int):
            if upto is not None and int(g) >= upto:
                break
            for x in self.state["generations"][g]["exploits"]:
                if x["trial"] == number:
                    params = dict(x["params"])
        return params

    def config(self, number: int) -> Dict[str, Any]:
        """The trial's config with its current parameters; its name stays its folder's."""
        t = self.loop.trials[number]
        raw = self.loop.plan.trial(number, self.params(number)).raw
        raw["name"] = t.name
        return raw

    # ------------------------------------------------------------ generations
    def run(self) -> None:
        members = self.population()
        for g, epochs in enumerate(self.epochs):
            jobs = [job for job in (self.job(n, epochs) for n in members) if job is not None]
            if jobs:
                self.dispatch(jobs)
            values = {n: self.value(n, epochs) for n in members}
            for n in members:
                self.note_generation(n, g, epochs, values.get(n))
            if g == len(self.epochs) - 1:
                break
            if str(g) not in self.state["generations"]:
                self.decide(g, epochs, values)
            for x in self.state["generations"][str(g)]["exploits"]:
                self.exploit(g, x)

    def value(self, number: int, epochs: int) -> Optional[float]:
        folder = self.folder(number)
        return history_values(folder, self.metric).get(epochs) if folder is not None else None

    def where(self, number: int) -> Path:
        folder = self.folder(number)
        assert folder is not None, f"trial {number} has no folder"  # asked and listed before it trained
        return folder

    def job(self, number: int, epochs: int) -> Optional[Job]:
        loop = self.loop
        got = self.reached(number)
        if got < 0 or got >= epochs:
            return None
        t = loop.trials[number]
        last = epochs >= loop.plan.epochs
        return loop._job(t, number, got > 0, loop.folder_of(t.name).name).replace(raw=self.config(number),
                                                            report=None if last else RungPause(epochs))

    def decide(self, g: int, epochs: int, values: Dict[int, Optional[float]]) -> None:
        """Generation ``g``'s exploits, written to pbt.json before any is applied."""
        known = sorted(((n, v) for n, v in values.items() if v is not None and math.isfinite(v)),
                       key=lambda nv: ((-nv[1] if self.maximize else nv[1]), nv[0]))
        k = min(len(known) // 2, max(1, int(round(len(known) * self.spec.quantile))))
        top, bottom = [n for n, _ in known[:k]], sorted(n for n, _ in known[len(known) - k:]) if k else []
        rng = random.Random(f"{self.loop.plan.spec.seed}:pbt:{g}")
        by_key = {p.key: p for p in self.keys}
        exploits = []
        for n in bottom:
            donor = rng.choice(top)
            params = self.params(donor, upto=g + 1)
            factors = {key: rng.choice(self.spec.perturb) for key in by_key if key in params}
            new = {**params, **{key: perturbed(by_key[key], params[key], f) for key, f in factors.items()}}
            exploits.append({"trial": n, "from_trial": donor, "epoch": epochs, "params_before": self.params(n, g + 1),
                             "donor_params": params, "params": new, "perturb": factors})
        self.state["generations"][str(g)] = {"epoch": epochs, "values": {str(n): v for n, v in values.items()},
                                             "exploits": exploits}
        PbtState.build(self.state, self.path).write(self.path)

    def exploit(self, g: int, x: Dict[str, Any]) -> None:
        """Copy the donor's checkpoint into the trial's folder; record it last in the trial's lineage."""
        from dlhw.config import validate
        from dlhw.config.fingerprint import fingerprint
        from dlhw.rundir.checkpoint_file import load_checkpoint
        from dlhw.runtime.files import ensure_dir, replacing

        number, donor = x["trial"], x["from_trial"]
        lineage = self.loop.lineage.setdefault(number, {})
        if any(e.get("generation") == g for e in lineage.get("exploits", [])):
            return  # applied by an earlier run
        src = self.where(donor) / layout.CHECKPOINTS / layout.CHECKPOINT
        dst_dir = self.where(number) / layout.CHECKPOINTS
        ensure_dir(dst_dir)
        with replacing(dst_dir / layout.CHECKPOINT, keep_suffix=True) as tmp:  # no link followed, never half a file
            shutil.copyfile(src, tmp)
        raw = self.config(number)
        entry = {"generation": g, "epoch": x["epoch"], "from_trial": donor,
                 "checkpoint": f"{self.where(donor).name}/{layout.CHECKPOINTS}/{layout.CHECKPOINT}",
                 "perturb": x["perturb"], "params_before": x["params_before"], "params": x["params"],
                 "checkpoint_hash": load_checkpoint(src).get("config_hash"),
                 "config_hash": fingerprint(validate(raw, self.loop.plan.source))}
        lineage.setdefault("exploits", []).append(entry)
        self.save(number)
        self.loop.echo(f"pbt: trial {number} copies trial {donor}'s checkpoint at epoch {x['epoch']}; "
                       + ", ".join(f"{k} x{f:g}" for k, f in x["perturb"].items()))

    def note_generation(self, number: int, g: int, epochs: int, value: Optional[float]) -> None:
        """The trial's lineage: its value at each generation's epoch."""
        lineage = self.loop.lineage.setdefault(number, {})
        lineage.setdefault("pbt", {"interval": self.spec.interval, "population": self.loop.plan.budget})
        gens: List[Dict[str, Any]] = lineage.setdefault("generations", [])
        entry = next((e for e in gens if e["generation"] == g), None)
        if entry is None:
            entry = {"generation": g, "epochs": epochs}
            gens.append(entry)
        if value is not None and "value" not in entry:  # an exploit later rewrites the rows before its epoch
            entry["value"] = value
            self.save(number)

    def save(self, number: int) -> None:
        self.loop.keep_lineage(number)  # trial.json and sweep.json
