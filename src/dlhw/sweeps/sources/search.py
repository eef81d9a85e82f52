"""``dlhw sweep SEARCH.yaml``: an Optuna study (dlhw.sweeps.sources.study) asked for trials as workers free up.

Only this process asks and tells. The study lives in the sweep folder (``study.journal``, Optuna's JournalFileStorage: a file, no
server). Each trial is an ordinary run folder, ``<number>_<values>``, listed in sweep.json with its
status, its parameters and its value. ``--workers N`` keeps N trials training (sweeps.executors.pool, fed
one trial at a time: a worker that finishes gets the next trial at once, no batches); ``--executor
ray`` does the same with Ray tasks, the study on the driver and each epoch reported through a Ray
actor beside it. A trial reports its metric every epoch to the pruner (``StudyReporter``: the
journal file itself, from any process on this machine); a pruned trial ends with status
``pruned``, neither failed nor completed.

Resume: run the same command again. Completed, pruned and failed trials are kept; a trial the
study still shows running (the sweep was killed) continues from its checkpoint with the same
parameters and number; the study never holds more than ``trials`` trials in all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.errors import ConfigError
from dlhw.sweeps.records import Job, Result
from dlhw.sweeps.sources.study import JOURNAL, StudyReporter, import_optuna, make_sampler, trial_values
from dlhw.sweeps.sources.study_open import open_study
from dlhw.sweeps.planning.space import SearchPlan
from dlhw.sweeps.sources.study_records import TRIAL_FILE


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


class SearchLoop:
    def __init__(self, plan: SearchPlan, sweep_dir: Path, workers, executor: str, address: Optional[str],
                 device: str, echo: Callable[[str], None], debug: bool, repair: bool = False,
                 new_study: bool = False):
        self.plan, self.sweep_dir, self.workers, self.executor = plan, Path(sweep_dir), workers, executor
        self.address, self.device, self.echo, self.debug = address, device, echo, debug
        self.optuna = import_optuna()
        self.study = open_study(plan, sweep_dir, echo, repair=repair, fresh=new_study)
        self.numbers: Dict[str, int] = {}
        self.trials: Dict[int, Any] = {}  # number -> its Trial (config, name)
        self.lineage: Dict[int, Dict[str, Any]] = {}  # number -> trial.json's lineage (a scheduler's rungs)
        self.scheduled = plan.scheduler.type != "none"
        self.resume_jobs: List[Job] = []
        self.actor = None
        self.done = 0
        from dlhw.tracking.hparams import HParamsLog

        self.tracking = None  # tracking.mlflow: the search's parent MLflow run (started by run)
        self.hparams = HParamsLog.for_search(plan, sweep_dir)  # TensorBoard's HParams table of the trials

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

    def _reporter(self, number: int):
        plan = self.plan
        if plan.multi or plan.pruner.type == "none" or self.scheduled:
            return None
        if self.executor == "ray":
            if self.actor is None:
                import ray
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
                self.actor = ray.remote(StudyActor).options(num_cpus=0, scheduling_strategy=here).remote(
                    str(self.sweep_dir / JOURNAL), plan.name, plan.pruner.model_dump(), plan.epochs, plan.metrics[0])
            return ActorReporter(self.actor, number, plan.metrics[0])
        return StudyReporter(str(self.sweep_dir / JOURNAL), plan.name, plan.pruner.model_dump(), plan.epochs,
                             number, plan.metrics[0])

    def _job(self, t, number: int, resume: bool = False, folder: str = "") -> Job:
        return Job(name=t.name, folder=folder or t.name, raw=t.raw, source=f"{t.source} (trial {number})",
                   out=str(self.sweep_dir), resume=resume, device=self.device, report=self._reporter(number),
                   mlflow_parent=self.tracking.parent_id if self.tracking is not None else None)

    def scheduled_job(self, number: int, resume: bool, report) -> Job:
        """A scheduler's job for trial ``number``: from its checkpoint (``resume``) to the rung ``report`` pauses at."""
        t = self.trials[number]
        return self._job(t, number, resume, self.manifest._by_name[t.name].get("run_dir") or t.name).replace(
            report=report)

    def _add(self, t, ft, **fields: Any) -> None:
        self.numbers[t.name] = ft.number
        self.trials[ft.number] = t
        self.manifest.add(t, number=ft.number, **fields)
        self.hparams.add(t)

    def _told(self, number: int, values=None, state=None) -> None:
        """study.tell; the grid sampler's "grid exhausted" stop (meant for study.optimize) is not an
        error here: the budget (SearchPlan.budget, at most the grid's size) ends the search."""
        try:
            self.study.tell(number, values, state=state)
        except RuntimeError as exc:
            if "Study.stop" not in str(exc):
                raise

    def _record(self, number: int, name: str) -> None:
        """trial.json in the trial's folder: what rebuilding the study needs (dlhw.sweeps.sources.journal)."""
        from dlhw.sweeps.sources.study_records import TRIAL_FILE, TrialRecord

        ft = self.study._storage.get_trial(self.study._storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number))
        folder = self.sweep_dir / (self.manifest._by_name[name].get("run_dir") or name)
        if folder.is_dir():
            status = (read_status_of(folder) or {}).get("status")
            TrialRecord(number=number, params=dict(ft.params), state="paused" if status == "paused"
                        else ft.state.name.lower(), values=ft.values,
                        intermediate={int(k): float(v) for k, v in ft.intermediate_values.items()},
                        lineage=self.lineage.get(number, {})).write(folder / TRIAL_FILE)

    def _tell(self, number: int, name: str, res: Result) -> Optional[List[float]]:
        TS = self.optuna.trial.TrialState
        values = None
        if res.status in ("completed", "skipped"):
            values = trial_values(self.plan, self.sweep_dir / self.manifest._by_name[name]["run_dir"])
            if values is None:
                self._told(number, state=TS.FAIL)
                self.manifest.update(name, error=f"search.metric: {', '.join(self.plan.metrics)} not in its metrics.json")
                return None
            self._told(number, values if self.plan.multi else values[0])
        elif res.status == "pruned":
            self._told(number, state=TS.PRUNED)
        elif res.status in ("failed", "diverged"):
            self._told(number, state=TS.FAIL)
        return values  # interrupted / running elsewhere: the study keeps it running, the next run resumes it

    # ------------------------------------------------------------ resume
    def _adopt(self, outcome) -> None:
        """Trials a previous run of this search left: kept (finished) or resumed (still running)."""
        from dlhw.sweeps.manifest import locate
        from dlhw.sweeps.engine import _done_result, _place
        from dlhw.sweeps.sources.warm_start import WARM

        TS = self.optuna.trial.TrialState
        for ft in self.study.get_trials(deepcopy=False):
            if ft.state == TS.WAITING or ft.system_attrs.get("dlhw_gap") or WARM in ft.system_attrs:
                continue  # enqueued; a number a rebuilt study had no folder for; an earlier search's trial
            try:
                t = self.plan.trial(ft.number, ft.params)
            except ConfigError as exc:  # the base config changed under an old trial
                self.echo(f"trial {ft.number}: {exc}")
                continue
            state = ft.state.name.lower()
            self._add(t, ft, value=ft.values if self.plan.multi else ft.value, state=state)
            from dlhw.sweeps.sources.study_records import TrialRecord

            kept = TrialRecord.read(self.sweep_dir / t.name / TRIAL_FILE) if (self.sweep_dir / t.name).is_dir() else None
            if kept is not None and kept.lineage:
                self.lineage[ft.number] = kept.lineage
            if ft.state != TS.RUNNING:
                if not (self.sweep_dir / t.name / TRIAL_FILE).is_file():  # an older release's folder
                    self._record(ft.number, t.name)
                continue
            where = locate(t, self.sweep_dir)
            status = (read_status_of(where.folder) or {}).get("status")
            if where.state == "done":
                res = _done_result(t.name, where.folder)
                self._tell(ft.number, t.name, res)
                self._record(ft.number, t.name)
                outcome.results.append(res)
            elif status in ("pruned", "failed", "diverged"):
                self._told(ft.number, state=TS.PRUNED if status == "pruned" else TS.FAIL)
                self._record(ft.number, t.name)
            elif self.scheduled:
                continue  # paused at a rung or cut short: the scheduler decides whether it goes on
            elif where.state == "running":
                self.echo(f"{t.name}: being trained by another process ({where.detail}); left alone")
            else:
                job = _place(t, where, self.sweep_dir, False, list(self.numbers), self.echo, self.device)
                self.resume_jobs.append(self._job(t, ft.number, job.resume, job.folder))

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

    def _schedule(self, dispatch):
        """search.scheduler's rounds: promotion (sources.scheduled) or PBT (sources.pbt)."""
        if self.plan.scheduler.type == "pbt":
            from dlhw.sweeps.sources.pbt import PBTSchedule

            return PBTSchedule(self, dispatch)
        from dlhw.sweeps.sources.scheduled import Schedule

        return Schedule(self, dispatch)

    @staticmethod
    def _ok(outcome) -> int:
        return sum(1 for r in outcome.results if r.status in ("completed", "skipped", "pruned"))

    @staticmethod
    def _failed(outcome) -> int:
        return sum(1 for r in outcome.results if r.status in ("failed", "diverged"))

    # ------------------------------------------------------------ the run
    def run(self):
        from dlhw.rundir.folder import folder_bytes
        from dlhw.sweeps.executors import resources
        from dlhw.sweeps.feed import Feed
        from dlhw.sweeps.manifest import Manifest
        from dlhw.sweeps.engine import MANIFEST_FIELDS, SweepOutcome

        from dlhw.tracking.sweep_run import SweepRun

        plan = self.plan
        self.tracking = SweepRun.start(plan.base, plan.name, self.sweep_dir, {
            "search.trials": plan.budget, "search.sampler": plan.spec.sampler, "search.metric": plan.metrics,
            "search.space": {p.key: p.describe() for p in plan.params}, "sweep.source": plan.source})
        from dlhw.sweeps.sources.warm_start import WARM

        fresh = not any(WARM not in t.system_attrs for t in self.study.get_trials(deepcopy=False))
        if fresh:
            for point in plan.spec.enqueue:
                by_key = {p.key: p for p in plan.params}
                self.study.enqueue_trial({k: by_key[k].stored(v) for k, v in point.items()})
        workers = self.workers
        gpus = resources.visible_gpus() if self.device != "cpu" else []
        auto = workers == "auto"
        if auto and self.executor != "ray":
            workers = resources.auto_workers(plan.budget, gpus)
        self.manifest = Manifest(plan.as_sweep_plan([]), self.sweep_dir, self.executor, workers)
        self.manifest.data.update(search=plan.summary(), metric=plan.metrics[0], study=JOURNAL)
        outcome = SweepOutcome(self.sweep_dir)
        self._adopt(outcome)
        self.manifest.sync()
        held = self._count()
        to_run = len(self.resume_jobs) + max(0, plan.budget - held)
        pruner = f"{plan.pruner.type} pruner" if not self.scheduled else f"{plan.scheduler.type} scheduler"
        if self.scheduled:
            self.resume_jobs = []
            to_run = 1  # rounds of rungs: the scheduler knows what is left
            self.echo(f"{plan.scheduler.type}: {self._schedule(lambda jobs: None).describe()}")
        where = "via Ray" if self.executor == "ray" else f"on {workers} worker{'s' if workers != 1 else ''}"
        self.echo(f"search {plan.name}: {plan.spec.sampler} sampler, {pruner}, {plan.budget} trials "
                  f"({held} in the study, {len(self.resume_jobs)} to resume, {max(0, plan.budget - held)} to ask) "
                  + (where if to_run else "; nothing to train"))
        start = time.time()

        def on_result(res: Result) -> None:
            self.done += 1
            number = self.numbers[res.name]
            values = self._tell(number, res.name, res)
            self._record(number, res.name)
            fields = res.to_dict()
            state = {"completed": "complete", "pruned": "pruned", "failed": "fail", "diverged": "fail",
                     "paused": "paused"}.get(res.status, "running")
            self.manifest.update(res.name, **{k: fields[k] for k in MANIFEST_FIELDS}, pruned_at=res.pruned_at,
                                 state=state, value=values if plan.multi or values is None else values[0],
                                 **({"lineage": self.lineage[number]} if number in self.lineage else {}))
            outcome.results[:] = [r for r in outcome.results if r.name != res.name] + [res]  # a rung's newest
            self.hparams.trial(res.name, self.sweep_dir / (self.manifest._by_name[res.name].get("run_dir") or res.name),
                               res.status)
            shown = ", ".join(f"{m} {v:.4f}" for m, v in zip(plan.metrics, values)) if values else (res.error or "")
            self.echo(f"[{self.done}] {res.name}: {res.status} ({res.seconds or 0:.1f}s) {shown}".rstrip())

        def dispatch(feed, n: int) -> None:
            if not n:
                return
            if self.executor == "ray":
                from dlhw.sweeps.executors import ray as ray_exec

                ray_exec.run_ray(feed, self.workers, self.address, on_result, echo=self.echo, debug=self.debug,
                                 sweep_dir=self.sweep_dir)
            elif workers == 1 or n == 1:
                from dlhw.sweeps.executors.serial import run_serial

                run_serial(feed, on_result)
            else:
                from dlhw.sweeps.executors.pool import run_pool

                run_pool(feed, min(workers, n), gpus, on_result)

        try:
            if self.scheduled:
                self._schedule(lambda jobs: dispatch(Feed(jobs), len(jobs))).run()
            else:
                dispatch(Feed(make=self._next, limit=to_run), to_run)
        except KeyboardInterrupt:
            if self.tracking is not None:
                self.tracking.finish(self.sweep_dir, ok=self._ok(outcome), failed=self._failed(outcome),
                                     interrupted=True)
                self.tracking = None
            raise
        finally:
            outcome.disk_bytes = folder_bytes(self.sweep_dir)
            self.manifest.data["disk_bytes"] = outcome.disk_bytes
            self.manifest.sync()
            if self.tracking is not None:
                self.tracking.finish(self.sweep_dir, ok=self._ok(outcome), failed=self._failed(outcome))
        outcome.seconds = time.time() - start
        seen = {r.name for r in outcome.results}
        for e in self.manifest.data["trials"]:  # trials an earlier run finished: in the closing table too
            if e["name"] not in seen:
                from dlhw.sweeps.records import Result as R

                outcome.results.append(R.from_dict({**e, "status": "skipped" if e.get("status") == "completed"
                                                    else e.get("status")}))
        order = dict(self.numbers)
        outcome.results.sort(key=lambda r: order.get(r.name, 0))
        return outcome


def run_search(plan: SearchPlan, out: Path, workers: "int | str" = "auto", executor: str = "local",
               address: Optional[str] = None, device: str = "auto", rerun: bool = False,
               echo: Callable[[str], None] = print, debug: bool = False, repair: bool = False,
               new_study: bool = False):
    from dlhw.sweeps.executors import ray as ray_exec
    from dlhw.sweeps.executors import resources
    from dlhw.sweeps.engine import EXECUTORS, sweep_folder

    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected local or ray; received '{executor}'")
    workers = resources.parse_workers(workers)
    if address and executor != "ray":
        raise ConfigError("--address: only used with --executor ray")
    if rerun:
        raise ConfigError("--rerun: a search keeps its study and its trials; to start afresh, give another --out "
                          "or remove the sweep folder")
    make_sampler(plan)  # Optuna (and the sampler's own package) present: said before anything runs
    from dlhw.tracking.mlflow import require_mlflow, settings

    if settings(plan.base) is not None:
        require_mlflow()  # tracking.mlflow without the package: exit 2 with the pip line, before any folder
    if executor == "ray":
        ray_exec.check_address(address)
    sweep_dir = sweep_folder(plan, out)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {sweep_dir}: {exc.strerror}") from None
    from dlhw.runtime.locks import acquire

    with acquire(sweep_dir, "sweep folder"):
        return SearchLoop(plan, sweep_dir, workers, executor, address, device, echo, debug, repair=repair,
                          new_study=new_study).run()


def read_status_of(folder: Path) -> Optional[Dict[str, Any]]:
    from dlhw.rundir import layout
    from dlhw.rundir.status import read_status

    return read_status(folder) if (Path(folder) / layout.STATUS).is_file() else None
