"""The sweep engine: every source of trials (dlhw.sweeps.sources) runs through one preamble, one
dispatch and one record of outcomes.

Preamble (:func:`run`), before anything is written: the options are checked, the executor
(dlhw.sweeps.executors) checks what it needs (Ray installed, a cluster answering), the source
checks its own (Optuna, MLflow), and every trial it can produce is validated with its data
(dlhw.sweeps.planning.preflight): any problem is one line, exit 2, and no folder is made. Then
the sweep folder is made and locked (dlhw.runtime.locks) for the life of the sweep: a second
``dlhw sweep`` on it is refused at once (exit 2); sweep.json is rebuilt from the run folders.

Resume is the source's ``open``: completed trials are skipped, unfinished ones trained again or
resumed from their checkpoint, a search's study adopted. Dispatch hands the source's Feed to the
executor with one ``on_result``; the outcome of each trial is recorded in one place
(:meth:`Context.record`): sweep.json, the HParams log, one line for the user. At the end
sweep.json is rebuilt from the run folders again (they are the truth), the MLflow parent run is
closed and the results put in the source's order.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from dlhw.errors import ConfigError, WriteError
from dlhw.rundir import layout
from dlhw.rundir.folder import folder_bytes
from dlhw.rundir.states import Status
from dlhw.sweeps.context import Context, SweepOptions, SweepOutcome, print_line
from dlhw.sweeps.executors.base import Dispatch, Executor, Workers
from dlhw.sweeps.feed import Feed
from dlhw.sweeps.records import Result

if TYPE_CHECKING:
    from dlhw.sweeps.sources.base import TrialSource

__all__ = ["Context", "SweepOptions", "SweepOutcome", "run", "run_sweep", "sweep_folder"]

# What sweep.json records of a trial's Result (the keys it has always had).
MANIFEST_FIELDS = ("status", "error", "train_seconds", "seconds", "val_accuracy", "test_accuracy", "params",
                   "best_epoch", "pid", "resumed")


def _record(ctx: Context, source: "TrialSource", res: Result) -> None:
    """A trial's outcome, recorded the one way: sweep.json (one line of sweep.jsonl), the source (a
    search tells its study), the HParams log and one line for the user."""
    ctx.done += 1
    ctx.outcome.results.append(res)
    extra, shown = source.told(res)
    fields = res.to_dict()
    ctx.manifest.update(res.name, **{k: fields[k] for k in MANIFEST_FIELDS}, **extra)
    if ctx.hparams is not None:
        ctx.hparams.trial(res.name, ctx.run_dir(res.name), res.status)
    if ctx.options.progress is not None:  # the live display, or its plain line per trial
        ctx.options.progress.done(res, shown)
        return
    ctx.echo(f"[{ctx.done}/{ctx.to_run}] {res.name}: {res.status} ({res.seconds or 0:.1f}s) {shown}".rstrip())


# ------------------------------------------------------------------ preamble
def _is_run_folder(p: Path) -> bool:
    return (p / layout.STATUS).is_file() and not (p / layout.SWEEP_MANIFEST).is_file()


def sweep_folder(plan: Any, out: Path) -> Path:
    """OUT/<sweep> (``plan.name``); never a run folder of ``dlhw run``, nor a folder inside one."""
    out = Path(out)
    for folder in (out, *out.resolve().parents):
        if _is_run_folder(folder):
            raise ConfigError(f"--out: {out} is inside the run folder {folder}; a sweep does not write into "
                              f"a run folder; give another --out")
    sweep_dir, n = out / plan.name, 1
    while _is_run_folder(sweep_dir):  # e.g. `dlhw run x.yaml` made OUT/x before `dlhw sweep x.yaml`
        n += 1
        sweep_dir = out / (f"{plan.name}-sweep" if n == 2 else f"{plan.name}-sweep-{n - 1}")
    return sweep_dir


def check(source: "TrialSource", options: SweepOptions, sweep_dir: Path) -> Executor:
    """Everything checked before anything is written; returns the executor to use."""
    from dlhw.sweeps import executors
    from dlhw.sweeps.executors.resources import parse_workers
    from dlhw.sweeps.planning.preflight import check_trials

    executor = executors.get(options.executor)
    options.workers = parse_workers(options.workers)
    executor.check(options.address)
    if (options.detach or options.retry_failed) and not executor.reattaches:
        raise ConfigError(f"{'--detach' if options.detach else '--retry-failed'}: only used with --executor slurm; "
                          f"received --executor {executor.name}")
    source.check(options, sweep_dir)
    check_trials(source.configs(), source.source)  # every trial's config and data
    return executor


def run(source: "TrialSource", out: Path, options: Optional[SweepOptions] = None) -> SweepOutcome:
    """Run ``source``'s trials into ``out/<name>/``: checks, lock, resume, dispatch, outcomes."""
    options = options or SweepOptions()
    sweep_dir = sweep_folder(source, out)
    executor = check(source, options, sweep_dir)
    if sweep_dir.name != source.name:
        options.echo(f"{Path(out) / source.name} is a run folder of `dlhw run`; this sweep writes to {sweep_dir} "
                     f"instead")
    from dlhw.runtime.files import ensure_dir

    try:
        ensure_dir(sweep_dir)  # never a link planted as the sweep folder
    except WriteError as exc:
        raise ConfigError(f"--out: cannot create {sweep_dir}: {exc.reason}") from None
    from dlhw.runtime.locks import acquire

    with acquire(sweep_dir, "sweep folder"):  # held until the sweep ends; the OS frees it if killed
        ctx = _start(source, sweep_dir, executor, options)
        return _dispatch(source, ctx)


def _start(source: "TrialSource", sweep_dir: Path, executor: Executor, options: SweepOptions) -> Context:
    """Under the lock: workers, sweep.json, MLflow's parent run, the HParams log."""
    from dlhw.sweeps.executors.resources import sweep_gpus
    from dlhw.tracking.sweep_run import SweepRun

    gpus = sweep_gpus(options.device)  # one per worker; --device gpu:N: only those
    workers = executor.workers(options.workers, source.size(), gpus)
    manifest = source.manifest(sweep_dir, executor.name, workers)
    cfg, params = source.tracking()
    tracking = SweepRun.start(cfg, source.name, sweep_dir, params) if cfg is not None else None
    from dlhw.tracking.wandb import sweep_mode

    return Context(sweep_dir=sweep_dir, options=options, executor=executor, workers=workers, gpus=gpus,
                   manifest=manifest, outcome=SweepOutcome(sweep_dir), hparams=source.hparams(sweep_dir),
                   tracking=tracking, wandb_mode=sweep_mode(cfg, sweep_dir, options.echo))


def _dispatch(source: "TrialSource", ctx: Context) -> SweepOutcome:
    """The source's jobs to the executor; each outcome recorded as it comes; the end tidied."""
    feed: Feed = source.open(ctx)
    ctx.manifest.save()
    ctx.to_run = feed.size() or 0
    where = ctx.executor.where(ctx.workers, ctx.to_run, ctx.gpus, ctx.options.workers == "auto")
    ctx.echo(source.announce(ctx, ctx.to_run) + (f" {where}" if ctx.to_run else "; nothing to train"))
    start = time.time()
    interrupted = False
    progress = ctx.options.progress
    if progress is not None and ctx.to_run:  # grids list their jobs now; a search's come as they are made
        feed.made = progress.add
        progress.start(feed.left(keep=True), ctx.sweep_dir, ctx.workers if isinstance(ctx.workers, int) else 1,
                       total=ctx.to_run)
    try:
        if ctx.to_run:
            # a source with rounds (a search's rungs) dispatches each in turn, in one executor session
            with ctx.executor.session(_dispatch_of(ctx), ctx.to_run) as how:
                source.run(feed, lambda f: ctx.executor.run(f, lambda res: _record(ctx, source, res), how))
    except KeyboardInterrupt:
        interrupted = True
        for entry in ctx.manifest.data["trials"]:
            if entry.get("status") == Status.QUEUED:
                ctx.manifest.update(entry["name"], status=Status.INTERRUPTED, error="the sweep was interrupted")
        raise
    finally:
        if progress is not None:
            progress.close()
        _finish(ctx, interrupted)
    ctx.outcome.seconds = time.time() - start
    source.close(ctx.outcome)
    return ctx.outcome


def _dispatch_of(ctx: Context) -> Dispatch:
    o = ctx.options
    return Dispatch(workers=ctx.workers, sweep_dir=ctx.sweep_dir, gpus=list(ctx.gpus), address=o.address,
                    device=o.device, echo=o.echo, debug=o.debug, detach=o.detach, retry_failed=o.retry_failed)


def _finish(ctx: Context, interrupted: bool) -> None:
    """sweep.json rebuilt from the run folders (the truth), its size, MLflow's parent run closed."""
    ctx.outcome.disk_bytes = folder_bytes(ctx.sweep_dir)
    ctx.manifest.data["disk_bytes"] = ctx.outcome.disk_bytes
    ctx.manifest.sync()
    if ctx.tracking is not None:
        results = ctx.outcome.results
        ctx.tracking.finish(ctx.sweep_dir, ok=sum(1 for r in results if r.ok),
                            failed=sum(1 for r in results if not r.ok), interrupted=interrupted)


# ------------------------------------------------------------------ entry points
def run_sweep(plan: Any, out: Path, workers: Workers = "auto", executor: str = "local", address: Optional[str] = None,
              device: str = "auto", rerun: bool = False, echo: Callable[[str], None] = print_line,
              debug: bool = False, detach: bool = False, retry_failed: bool = False,
              progress: Any = None, repair: bool = False, new_study: bool = False) -> SweepOutcome:
    """A grid, a folder of configs, a random subset, repeats or folds (a SweepPlan), or a search
    (a SearchPlan): the source made from the plan, run by :func:`run`. ``progress``: the display
    fed with each trial's start and end (dlhw.sweeps.progress.SweepProgress); None: one echo line each.
    ``repair`` / ``new_study``: a search's --repair and --new-study (dlhw.sweeps.sources.search)."""
    from dlhw.sweeps.sources import source_for

    options = SweepOptions(workers=workers, executor=executor, address=address, device=device, rerun=rerun,
                           echo=echo, debug=debug, detach=detach, retry_failed=retry_failed, progress=progress)
    return run(source_for(plan, repair=repair, new_study=new_study), Path(out), options)
