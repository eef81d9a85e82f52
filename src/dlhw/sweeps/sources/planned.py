"""A fixed list of trials as a source: a grid, a folder of configs, a random subset of a grid,
repeats and folds, all expanded and validated up front by :func:`dlhw.sweeps.planning.plan.build_plan`
(grid points and random subsets: :mod:`dlhw.sweeps.sources.grid`; repeats and folds:
:mod:`dlhw.sweeps.sources.repeats`; a folder: :mod:`dlhw.sweeps.sources.directory`).

Each trial is looked for on disk (dlhw.sweeps.manifest.locate, dlhw.sweeps.resume): completed
ones are skipped, unfinished ones resumed or trained again, ones running elsewhere left alone.
A pool or Ray starts the longest trials first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from dlhw.sweeps.feed import Feed
from dlhw.sweeps.planning.plan import SweepPlan, Trial
from dlhw.sweeps.records import Result
from dlhw.sweeps.sources.base import TrialSource

if TYPE_CHECKING:
    from dlhw.sweeps.context import Context, SweepOptions, SweepOutcome
    from dlhw.sweeps.manifest import Manifest


class PlannedSource(TrialSource):
    kind = "sweep"

    def __init__(self, plan: SweepPlan):
        self.plan = plan
        self.name, self.source = plan.name, plan.source
        self.skipped = 0

    def check(self, options: "SweepOptions") -> None:
        from dlhw.tracking.mlflow import require_mlflow, settings

        if any(settings(t.cfg) is not None for t in self.plan.trials):
            require_mlflow()  # tracking.mlflow without the package: exit 2 with the pip line, before any folder

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
        taken = [t.name for t in self.plan.trials]
        jobs = []
        for t in self._in_order(ctx):
            where = locate(t, ctx.sweep_dir)
            if where.state == "done" and not rerun:
                self._skip(ctx, t, done_result(t.name, where.folder), where.folder)
            elif where.state == "running":  # never overwrite a run that is training right now, even with --rerun
                ctx.echo(f"{t.name}: being trained by another process ({where.detail}); left alone")
                why = f"running elsewhere ({where.detail})"
                ctx.outcome.results.append(Result(t.name, "running", error=why))
                ctx.manifest.record(t.name, status="running", error=why, run_dir=where.folder.name)
            else:
                folder, resume = place(t, where, ctx.sweep_dir, rerun, taken, ctx.echo)
                taken.append(folder)
                jobs.append(ctx.job(t.name, t.raw, f"{t.source} (trial {t.name})", folder, resume))
        ctx.manifest.sync()
        for job in jobs:
            ctx.manifest.record(job.name, status="queued", error=None, skipped=False, run_dir=job.folder)
        return Feed(jobs)

    def _skip(self, ctx: "Context", t: Trial, res: Result, folder: Path) -> None:
        self.skipped += 1
        ctx.outcome.results.append(res)
        ctx.manifest.record(t.name, status="completed", skipped=True, run_dir=folder.name,
                            train_seconds=res.train_seconds, val_accuracy=res.val_accuracy,
                            test_accuracy=res.test_accuracy, params=res.params)
        ctx.hparams.trial(t.name, folder, "completed")

    def announce(self, ctx: "Context", to_run: int) -> str:
        skipped = f", {self.skipped} already completed (skipped; --rerun forces)" if self.skipped else ""
        return f"sweep {self.name}: {len(self.plan.trials)} trials, {to_run} to run{skipped}"

    def close(self, outcome: "SweepOutcome") -> None:
        self.order(outcome.results, [t.name for t in self.plan.trials])
