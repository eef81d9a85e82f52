"""``dlhw sweep SEARCH.yaml``: an Optuna study (dlhw.sweeps.sources.study) asked for trials as workers free up.

Only this process asks and tells. The study lives in the sweep folder (``study.journal``, Optuna's JournalFileStorage: a file, no
server). Each trial is an ordinary run folder, ``<number>_<values>``, listed in sweep.json with its
status, its parameters and its value. ``--workers N`` keeps N trials training (sweeps.executors.pool, fed
one trial at a time: a worker that finishes gets the next trial at once, no batches); ``--executor
ray`` does the same with Ray tasks, the study on the driver and each epoch reported through a Ray
actor beside it. A trial reports its metric every epoch to the pruner (``StudyReporter``: the
journal file itself, from any process on this machine); a pruned trial ends with status
``pruned``, neither failed nor completed.

The search is a source of trials (dlhw.sweeps.sources.base) of the one sweep engine
(dlhw.sweeps.engine), which checks, locks, dispatches and records as for a grid; this module
owns the study: what to ask, what to tell, what an earlier run left in it.

Resume: run the same command again. Completed, pruned and failed trials are kept; a trial the
study still shows running (the sweep was killed) continues from its checkpoint with the same
parameters and number; the study never holds more than ``trials`` trials in all. The sampler is
seeded per trial number, so a resumed search asks what an unbroken one would; the study is checked
against its definition and its journal repaired or rebuilt (dlhw.sweeps.sources.study_open).

``search.scheduler`` (successive_halving, hyperband: dlhw.sweeps.sources.scheduled; pbt:
dlhw.sweeps.sources.pbt) runs in rounds: each rung or generation is one batch of jobs handed to
the executor through the engine's dispatch (``run``), and the next round is planned when the
batch has ended. The barrier is here, in the source: the executors see ordinary feeds.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from dlhw.errors import ConfigError
from dlhw.rundir.records.search import TRIAL_FILE
from dlhw.sweeps.feed import Feed
from dlhw.sweeps.planning.space import SearchPlan
from dlhw.sweeps.records import Job, Result
from dlhw.sweeps.sources.base import TrialSource
from dlhw.sweeps.sources.study import JOURNAL, StudyReporter, import_optuna, make_sampler, trial_values

if TYPE_CHECKING:
    from dlhw.sweeps.context import Context, SweepOptions, SweepOutcome
    from dlhw.sweeps.manifest import Manifest


class StudyActor:
    """Ray: a trial's epochs reach the study through this actor, on the driver's node."""

    def __init__(self, journal: str, study: str, pruner: Dict[str, Any], epochs: int, metric: str):
        self.args = (journal, study, pruner, epochs)
        self.metric = metric
        self.reporters: Dict[int, StudyReporter] = {}

    def report(self, number: int, epoch: int, value: Optional[float]) -> bool:
        if number not in self.reporters:
            self.reporters[number] = StudyReporter(*self.args, number, self.metric)
        return self.reporters[number].report_value(epoch, value)


class ActorReporter:
    """A Ray trial's ``report(epoch, logs) -> prune?``: one call to the study actor per epoch."""

    def __init__(self, actor, number: int, metric: str):
        self.actor, self.number, self.metric = actor, number, metric

    def __call__(self, epoch: int, logs: Dict[str, Any]) -> bool:
        import ray

        return bool(ray.get(self.actor.report.remote(self.number, epoch, logs.get(self.metric))))


class SearchSource(TrialSource):
    """An Optuna study as a source of trials: asked for the next one only when a worker is free."""

    kind = "search"

    def __init__(self, plan: SearchPlan, repair: bool = False, new_study: bool = False):
        self.plan = plan
        self.name, self.source = plan.name, plan.source
        self.repair, self.new_study = repair, new_study  # --repair, --new-study (sources.study_open)
        self.numbers: Dict[str, int] = {}
        self.trials: Dict[int, Any] = {}  # number -> its Trial (config, name)
        self.lineage: Dict[int, Dict[str, Any]] = {}  # number -> trial.json's lineage (a scheduler's rounds)
        self.scheduled = plan.scheduler.type != "none"
        self.resume_jobs: List[Job] = []
        self.actor: Any = None
        self.optuna: Any = None
        self.study: Any = None
        self.ctx: Optional["Context"] = None
        self.held = 0

    # ------------------------------------------------------------ before anything is written
    def check(self, options: "SweepOptions", sweep_dir: Path) -> None:
        if options.rerun:
            raise ConfigError("--rerun: a search keeps its study and its trials; to start afresh, give another "
                              "--out or remove the sweep folder")
        make_sampler(self.plan)  # Optuna (and the sampler's own package) present: said before anything runs
        from dlhw.tracking.trackers import check_available

        check_available(self.plan.base)  # tracking.mlflow/wandb without the package: exit 2 with the pip line, before any folder

    def configs(self) -> Iterator[Tuple[str, Any]]:
        """The base config, then each category and both extremes of each range set into it."""
        from dlhw.config.loader import set_path, validate

        plan = self.plan
        yield plan.source, validate({**plan.base, "name": plan.name}, plan.source)
        for p in plan.params:
            for v in (p.choices if p.kind == "categorical" else [p.low, p.high]):
                data = copy.deepcopy(plan.base)
                set_path(data, p.key, copy.deepcopy(int(v) if p.kind == "int" else v))
                data["name"] = plan.name
                yield f"{plan.source} (space.{p.key}: {v!r})", validate(data, f"{plan.source}: space.{p.key}")

    def size(self) -> int:
        return self.plan.budget

    def manifest(self, sweep_dir: Path, executor: str, workers: Any) -> "Manifest":
        from dlhw.sweeps.manifest import Manifest

        manifest = Manifest(self.plan.as_sweep_plan([]), sweep_dir, executor, workers)
        manifest.data.update(search=self.plan.summary(), metric=self.plan.metrics[0], study=JOURNAL)
        return manifest

    def tracking(self) -> Tuple[Optional[Any], Dict[str, Any]]:
        plan = self.plan
        return plan.base, {"search.trials": plan.budget, "search.sampler": plan.spec.sampler,
                           "search.metric": plan.metrics, "sweep.source": plan.source,
                           "search.space": {p.key: p.describe() for p in plan.params}}

    def hparams(self, sweep_dir: Path) -> Any:
        from dlhw.tracking.hparams import HParamsLog

        return HParamsLog.for_search(self.plan, sweep_dir)  # TensorBoard's HParams table of the trials

    # ------------------------------------------------------------ bookkeeping
    def _count(self) -> int:
        """Trials the study holds, enqueued ones not yet asked aside: what the budget counts."""
        TS = self.optuna.trial.TrialState
        from dlhw.sweeps.sources.warm_start import WARM

        return sum(1 for t in self.study.get_trials(deepcopy=False) if t.state != TS.WAITING and WARM not in t.system_attrs)

    def _next_number(self) -> int:
        """The number the next ``ask`` gets: the first enqueued trial's, else the next free one."""
        TS = self.optuna.trial.TrialState
        trials = self.study.get_trials(deepcopy=False)
        waiting = [t.number for t in trials if t.state == TS.WAITING]
        return min(waiting) if waiting else len(trials)

    # what a scheduler (sources.scheduled, sources.pbt) reads of the search
    @property
    def sweep_dir(self) -> Path:
        assert self.ctx is not None
        return self.ctx.sweep_dir

    def folder_of(self, name: str) -> Path:
        assert self.ctx is not None
        return self.ctx.run_dir(name)

    def keep_lineage(self, number: int) -> None:
        """The trial's lineage written: its trial.json and its sweep.json entry."""
        assert self.ctx is not None
        name = self.trials[number].name
        self._record(number, name)
        self.ctx.manifest.record(name, lineage=self.lineage[number])

    def echo(self, line: str) -> None:
        assert self.ctx is not None
        self.ctx.echo(line)

    def _reporter(self, number: int) -> Any:
        plan, ctx = self.plan, self.ctx
        assert ctx is not None
        if plan.multi or plan.pruner.type == "none" or self.scheduled:
            return None
        if ctx.executor.name == "ray":
            if self.actor is None:
                import ray
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
                self.actor = ray.remote(StudyActor).options(num_cpus=0, scheduling_strategy=here).remote(
                    str(ctx.sweep_dir / JOURNAL), plan.name, plan.pruner.model_dump(), plan.epochs, plan.metrics[0])
            return ActorReporter(self.actor, number, plan.metrics[0])
        return StudyReporter(str(ctx.sweep_dir / JOURNAL), plan.name, plan.pruner.model_dump(), plan.epochs,
                             number, plan.metrics[0])

    def _job(self, t: Any, number: int, resume: bool = False, folder: str = "") -> Job:
        assert self.ctx is not None
        return self.ctx.job(t.name, t.raw, f"{t.source} (trial {number})", folder or t.name, resume,
                            report=self._reporter(number))

    def scheduled_job(self, number: int, resume: bool, report: Any) -> Job:
        """A scheduler's job for trial ``number``: from its checkpoint (``resume``) to the rung ``report`` pauses at."""
        assert self.ctx is not None
        t = self.trials[number]
        return self._job(t, number, resume, self.ctx.run_dir(t.name).name).replace(report=report)

    def _add(self, t: Any, ft: Any, **fields: Any) -> None:
        assert self.ctx is not None
        self.numbers[t.name] = ft.number
        self.trials[ft.number] = t
        self.ctx.manifest.add(t, number=ft.number, **fields)
        self.ctx.hparams.add(t)

    def _told(self, number: int, values: Any = None, state: Any = None) -> None:
        """study.tell; the grid sampler's "grid exhausted" stop (meant for study.optimize) is not an
        error here: the budget (SearchPlan.budget, at most the grid's size) ends the search."""
        try:
            self.study.tell(number, values, state=state)
        except RuntimeError as exc:
            if "Study.stop" not in str(exc):
                raise

    def _record(self, number: int, name: str) -> None:
        """trial.json in the trial's folder: what rebuilding the study needs (dlhw.sweeps.sources.journal)."""
        from dlhw.rundir.records.search import TrialRecord

        assert self.ctx is not None
        storage = self.study._storage
        ft = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number))
        folder = self.ctx.run_dir(name)
        if folder.is_dir():
            status = (read_status_of(folder) or {}).get("status")
            TrialRecord(number=number, params=dict(ft.params), state="paused" if status == "paused"
                        else ft.state.name.lower(), values=ft.values,
                        intermediate={int(k): float(v) for k, v in ft.intermediate_values.items()},
                        lineage=self.lineage.get(number, {})).write(folder / TRIAL_FILE)

    def _tell(self, number: int, name: str, res: Result) -> Optional[List[float]]:
        assert self.ctx is not None
        TS = self.optuna.trial.TrialState
        values = None
        if res.status in ("completed", "skipped"):
            values = trial_values(self.plan, self.ctx.run_dir(name))
            if values is None:
                self._told(number, state=TS.FAIL)
                self.ctx.manifest.update(name, error=f"search.metric: {', '.join(self.plan.metrics)} not in its "
                                                     f"metrics.json")
                return None
            self._told(number, values if self.plan.multi else values[0])
        elif res.status == "pruned":
            self._told(number, state=TS.PRUNED)
        elif res.status in ("failed", "diverged"):
            self._told(number, state=TS.FAIL)
        return values  # interrupted / running elsewhere: the study keeps it running, the next run resumes it

    # ------------------------------------------------------------ resume
    def _adopt(self, outcome: "SweepOutcome") -> None:
        """Trials a previous run of this search left: kept (finished) or resumed (still running)."""
        from dlhw.rundir.records.search import TrialRecord
        from dlhw.sweeps.sources.warm_start import WARM

        assert self.ctx is not None
        TS = self.optuna.trial.TrialState
        for ft in self.study.get_trials(deepcopy=False):
            if ft.state == TS.WAITING or ft.system_attrs.get("dlhw_gap") or WARM in ft.system_attrs:
                continue  # enqueued; a number a rebuilt study had no folder for; an earlier search's trial
            try:
                t = self.plan.trial(ft.number, ft.params)
            except ConfigError as exc:  # the base config changed under an old trial
                self.ctx.echo(f"trial {ft.number}: {exc}")
                continue
            state = ft.state.name.lower()
            self._add(t, ft, value=ft.values if self.plan.multi else ft.value, state=state)
            folder = self.ctx.sweep_dir / t.name
            kept = TrialRecord.read(folder / TRIAL_FILE) if folder.is_dir() else None
            if kept is not None and kept.lineage:
                self.lineage[ft.number] = kept.lineage
            if ft.state == TS.RUNNING:
                self._adopt_running(t, ft.number, outcome)
            elif folder.is_dir() and not (folder / TRIAL_FILE).is_file():  # an older release's folder
                self._record(ft.number, t.name)

    def _adopt_running(self, t: Any, number: int, outcome: "SweepOutcome") -> None:
        """A trial the study shows running (the last run was stopped): told, left alone or resumed
        (a scheduler's trial: left to the scheduler, which knows whether it goes on)."""
        from dlhw.sweeps.manifest import locate
        from dlhw.sweeps.resume import done_result, place

        ctx = self.ctx
        assert ctx is not None
        TS = self.optuna.trial.TrialState
        where = locate(t, ctx.sweep_dir)
        status = (read_status_of(where.folder) or {}).get("status")
        if where.state == "done":
            res = done_result(t.name, where.folder)
            self._tell(number, t.name, res)
            self._record(number, t.name)
            outcome.results.append(res)
        elif status in ("pruned", "failed", "diverged"):
            self._told(number, state=TS.PRUNED if status == "pruned" else TS.FAIL)
            self._record(number, t.name)
        elif self.scheduled:
            return  # paused at a rung or cut short: the scheduler decides whether it goes on
        elif where.state == "running" and not ctx.executor.reattaches:  # slurm: watched again by its executor
            ctx.echo(f"{t.name}: being trained by another process ({where.detail}); left alone")
        else:
            folder, resume = place(t, where, ctx.sweep_dir, False, ctx.echo)
            self.resume_jobs.append(self._job(t, number, resume, folder))

    # ------------------------------------------------------------ asking
    def ask_one(self, **attrs: Any) -> Optional[int]:
        """Ask the study for a trial (its sampler seeded for the trial's number); None when the
        budget is spent. ``attrs``: user attributes it carries (a scheduler's bracket)."""
        TS = self.optuna.trial.TrialState
        dists = {p.key: p.distribution() for p in self.plan.params}
        while self._count() < self.plan.budget:
            self.study.sampler = make_sampler(self.plan, self._next_number())  # a function of (seed, number)
            ft = self.study.ask(fixed_distributions=dists)
            for k, v in attrs.items():
                ft.set_user_attr(k, v)
            try:
                t = self.plan.trial(ft.number, ft.params)
            except ConfigError as exc:  # a combination the config refuses: the trial fails, the search goes on
                self._told(ft.number, state=TS.FAIL)
                self.echo(f"trial {ft.number}: {exc}")
                continue
            self._add(t, ft, status="queued", state="running")
            return ft.number
        return None

    def _next(self) -> Optional[Job]:
        if self.resume_jobs:
            return self.resume_jobs.pop(0)
        number = self.ask_one()
        return None if number is None else self._job(self.trials[number], number)

    def _schedule(self, dispatch: Callable[[List[Job]], None]) -> Any:
        """search.scheduler's rounds: promotion (sources.scheduled) or PBT (sources.pbt)."""
        if self.plan.scheduler.type == "pbt":
            from dlhw.sweeps.sources.pbt import PBTSchedule

            return PBTSchedule(self, dispatch)
        from dlhw.sweeps.sources.scheduled import Schedule

        return Schedule(self, dispatch)

    # ------------------------------------------------------------ the engine's calls
    def open(self, ctx: "Context") -> Feed:
        """The study (made the first time, with the enqueued points), what an earlier run left
        adopted; the feed asks the study for each next trial as a worker frees up."""
        from dlhw.sweeps.sources.study_open import open_study
        from dlhw.sweeps.sources.warm_start import WARM

        self.ctx = ctx
        self.optuna = import_optuna()
        self.study = open_study(self.plan, ctx.sweep_dir, ctx.echo, repair=self.repair, fresh=self.new_study)
        if not any(WARM not in t.system_attrs for t in self.study.get_trials(deepcopy=False)):
            by_key = {p.key: p for p in self.plan.params}
            for point in self.plan.spec.enqueue:
                self.study.enqueue_trial({k: by_key[k].stored(v) for k, v in point.items()})
        self._adopt(ctx.outcome)
        ctx.manifest.sync()
        self.held = self._count()
        if self.scheduled:  # rounds of rungs (run): the scheduler knows what is left
            self.resume_jobs = []
            schedule = self._schedule(lambda jobs: None)
            ctx.echo(f"{self.plan.scheduler.type}: {schedule.describe()}")
            return Feed(make=lambda: None, limit=schedule.jobs())
        to_run = len(self.resume_jobs) + max(0, self.plan.budget - self.held)
        return Feed(make=self._next, limit=to_run)

    def run(self, feed: Feed, dispatch: Callable[[Feed], None]) -> None:
        """Unscheduled: the feed at once. A scheduler: one round (a rung, a generation) at a time,
        each a batch of jobs handed to the executor; the next is planned when it has ended."""
        if not self.scheduled:
            dispatch(feed)
            return
        self._schedule(lambda jobs: dispatch(Feed(jobs))).run()

    def announce(self, ctx: "Context", to_run: int) -> str:
        plan = self.plan
        pruner = f"{plan.scheduler.type} scheduler" if self.scheduled else f"{plan.pruner.type} pruner"
        return (f"search {plan.name}: {plan.spec.sampler} sampler, {pruner}, {plan.budget} trials "
                f"({self.held} in the study, {len(self.resume_jobs)} to resume, "
                f"{max(0, plan.budget - self.held)} to ask)")

    def told(self, res: Result) -> Tuple[Dict[str, Any], str]:
        """The study told how the trial ended; sweep.json gets its state and value."""
        plan = self.plan
        number = self.numbers[res.name]
        values = self._tell(number, res.name, res)
        self._record(number, res.name)
        state = {"completed": "complete", "pruned": "pruned", "failed": "fail", "diverged": "fail",
                 "paused": "paused"}.get(res.status, "running")
        shown = ", ".join(f"{m} {v:.4f}" for m, v in zip(plan.metrics, values)) if values else (res.error or "")
        return {"pruned_at": res.pruned_at, "state": state,
                "value": values if plan.multi or values is None else values[0],
                **({"lineage": self.lineage[number]} if number in self.lineage else {})}, shown

    def close(self, outcome: "SweepOutcome") -> None:
        """Trials an earlier run finished join the closing table; all in study order."""
        assert self.ctx is not None
        newest = {r.name: r for r in outcome.results}  # a scheduler's trial: its last round's result
        outcome.results[:] = list(newest.values())
        seen = set(newest)
        for e in self.ctx.manifest.data["trials"]:
            if e["name"] not in seen:
                status = "skipped" if e.get("status") == "completed" else e.get("status")
                outcome.results.append(Result.from_dict({**e, "status": status}))
        outcome.results.sort(key=lambda r: self.numbers.get(r.name, 0))


def read_status_of(folder: Path) -> Optional[Dict[str, Any]]:
    from dlhw.rundir import layout
    from dlhw.rundir.status import read_status

    return read_status(folder) if (Path(folder) / layout.STATUS).is_file() else None
