"""A fixed list of trials as a source: a grid, a folder of configs, a random subset of a grid,
repeats and folds, all expanded, named and validated up front by :func:`build_plan` (grid points
and random subsets: :mod:`dlhw.sweeps.sources.grid`; repeats and folds:
:mod:`dlhw.sweeps.sources.repeats`; a folder: :mod:`dlhw.sweeps.sources.directory`).

Each trial is looked for on disk (dlhw.sweeps.manifest.locate, dlhw.sweeps.resume): completed
ones are skipped, unfinished ones resumed or trained again, ones running elsewhere left alone.
A pool or Ray starts the longest trials first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from dlhw.config.fingerprint import fingerprint, shape_fingerprint
from dlhw.config.loader import validate
from dlhw.errors import ConfigError
from dlhw.rundir.folder import sanitize_name
from dlhw.rundir.states import Status
from dlhw.sweeps.feed import Feed
from dlhw.sweeps.planning.plan import SweepPlan, Trial, unique_names
from dlhw.sweeps.records import Result
from dlhw.sweeps.sources.base import TrialSource

if TYPE_CHECKING:
    from dlhw.sweeps.context import Context, SweepOptions, SweepOutcome
    from dlhw.sweeps.manifest import Manifest


def build_plan(path: "str | Path", sets: Sequence[str] = (), raw: Optional[Dict[str, Any]] = None) -> SweepPlan:
    """Expand PATH (a folder of configs or a sweep file) into named, validated trials; any config
    error stops here (exit 2). ``raw``: a sweep file's content as data (``dlhw.sweep(dict)``);
    PATH then only names the sweep."""
    from dlhw.sweeps.sources.directory import expand_folder, folder_varied_keys
    from dlhw.sweeps.sources.grid import expand_file

    p = Path(path)
    sets = list(sets)
    if raw is None and not p.exists():
        raise ConfigError(f"{p}: sweep file or folder not found")
    folder = raw is None and p.is_dir()
    if folder:
        trials, grid_keys, repeats = expand_folder(p, sets)
        name = p.resolve().name
    else:
        trials, grid_keys, repeats = expand_file(p, sets, raw=raw)
        name = p.stem if raw is None else str(path)
    _name_and_validate(trials)
    varied_keys = folder_varied_keys(trials, grid_keys) if folder else list(grid_keys)
    if len({t.name for t in trials}) != len(trials):
        raise ConfigError(f"{p}: two trials share a name; give the files distinct names")
    return SweepPlan(name=sanitize_name(name), source=str(p), trials=trials, varied_keys=varied_keys,
                     repeats=repeats, overrides=sets)


def _name_and_validate(trials: List[Trial]) -> None:
    """Unique group names (the runs of a group share one), each config validated and hashed."""
    it = iter(unique_names([t.group for t in trials if t.repeat == 0]))
    group = ""
    for t in trials:
        if t.repeat == 0:
            group = next(it)
        t.group = group
        t.name = group + t.suffix
        t.raw["name"] = t.name
        t.cfg = validate(t.raw, f"{t.source} (trial {t.name})")
        dump = t.cfg.dump()
        t.hash, t.shape = fingerprint(dump), shape_fingerprint(dump)


class PlannedSource(TrialSource):
    kind = "sweep"

    def __init__(self, plan: SweepPlan):
        self.plan = plan
        self.name, self.source = plan.name, plan.source
        self.skipped = 0

    def check(self, options: "SweepOptions", sweep_dir: Path) -> None:
        from dlhw.tracking.mlflow import require_mlflow, settings

        if any(settings(t.cfg) is not None for t in self.plan.trials):
            require_mlflow()  # tracking.mlflow without the package: exit 2 with the pip line, before any folder
        if not options.rerun and sweep_dir.is_dir():
            self._refuse_changed(sweep_dir)

    def _refuse_changed(self, sweep_dir: Path) -> None:
        """A trial an earlier run completed with another config (another --set) is not trained
        again beside it (no second folder) nor over it: the sweep stops, its results kept."""
        from dlhw.sweeps.manifest import locate

        changed = [(t, w) for t, w in ((t, locate(t, sweep_dir)) for t in self.plan.trials) if w.state == "changed"]
        if changed:
            t, where = changed[0]
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            raise ConfigError(f"{t.name}: completed with another config ({where.detail}) in {where.folder}{more}; "
                              f"--rerun trains it again in its folder with this config, or give another --out")

    def configs(self) -> Iterator[Tuple[str, Any]]:
        for t in self.plan.trials:
            yield f"{t.source} (trial {t.name})", t.cfg

    def size(self) -> int:
        return len(self.plan.trials)

    def manifest(self, sweep_dir: Path, executor: str, workers: Any) -> "Manifest":
        from dlhw.sweeps.manifest import Manifest

        return Manifest(self.plan, sweep_dir, executor, workers)

    def tracking(self) -> Tuple[Optional[Any], Dict[str, Any]]:
        plan = self.plan
        tracked = next((t.cfg for t in plan.trials if t.cfg.tracking.mlflow is not None), None)
        return tracked, {"sweep.trials": len(plan.trials), "sweep.varied_keys": plan.varied_keys,
                         "sweep.source": plan.source}

    def hparams(self, sweep_dir: Path) -> Any:
        from dlhw.tracking.hparams import HParamsLog

        return HParamsLog.for_plan(self.plan, sweep_dir)  # TensorBoard's HParams table of the trials

    def _in_order(self, ctx: "Context") -> List[Trial]:
        """Plan order; on several workers (a pool, Ray) the longest trials first."""
        if ctx.workers == 1:
            return list(self.plan.trials)
        from dlhw.sweeps.manifest import longest_first, past_timings

        return longest_first(self.plan.trials, past_timings(ctx.sweep_dir.parent))

    def open(self, ctx: "Context") -> Feed:
        from dlhw.sweeps.manifest import locate
        from dlhw.sweeps.resume import done_result, place

        rerun = ctx.options.rerun
        jobs = []
        for t in self._in_order(ctx):
            where = locate(t, ctx.sweep_dir)
            if where.state == "done" and not rerun:
                self._skip(ctx, t, done_result(t.name, where.folder), where.folder)
            elif where.state == "running":  # never overwrite a run that is training right now, even with --rerun
                ctx.echo(f"{t.name}: being trained by another process ({where.detail}); left alone")
                why = f"running elsewhere ({where.detail})"
                ctx.outcome.results.append(Result(t.name, Status.RUNNING, error=why))
                ctx.manifest.record(t.name, status=Status.RUNNING, error=why, run_dir=where.folder.name)
            else:
                folder, resume = place(t, where, ctx.sweep_dir, rerun, ctx.echo)
                jobs.append(ctx.job(t.name, t.raw, f"{t.source} (trial {t.name})", folder, resume))
        ctx.manifest.sync()
        for job in jobs:
            ctx.manifest.record(job.name, status=Status.QUEUED, error=None, skipped=False, run_dir=job.folder)
        return Feed(jobs)

    def _skip(self, ctx: "Context", t: Trial, res: Result, folder: Path) -> None:
        self.skipped += 1
        ctx.outcome.results.append(res)
        ctx.manifest.record(t.name, status=Status.COMPLETED, skipped=True, run_dir=folder.name,
                            train_seconds=res.train_seconds, val_accuracy=res.val_accuracy,
                            test_accuracy=res.test_accuracy, params=res.params)
        ctx.hparams.trial(t.name, folder, Status.COMPLETED)

    def announce(self, ctx: "Context", to_run: int) -> str:
        skipped = f", {self.skipped} already completed (skipped; --rerun forces)" if self.skipped else ""
        return f"sweep {self.name}: {len(self.plan.trials)} trials, {to_run} to run{skipped}"

    def close(self, outcome: "SweepOutcome") -> None:
        self.order(outcome.results, [t.name for t in self.plan.trials])
