"""One ``dlhw sweep`` invocation: decide what to run, run it, keep sweep.json current.

The sweep folder is locked (dlhw.runtime.locks) for the life of the sweep: a second
``dlhw sweep`` on it is refused at once (exit 2). Completed trials whose
resolved config hash matches are skipped (``rerun`` forces them); unfinished
ones (failed, diverged, interrupted, stale) are trained again. A trial that
completed with another config (another ``--set``) keeps its results: the new
config trains into ``<trial>-2`` (``rerun`` replaces them in place instead).
A trial whose config.yaml or checkpoint is damaged is moved aside, into
``.damaged/``, and trained from scratch. sweep.json is rebuilt from the run
folders at the start and at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from dlhw.errors import ConfigError
from dlhw.rundir.folder import folder_bytes, read_json
from dlhw.sweeps.executors import ray as ray_exec
from dlhw.sweeps.executors import resources
from dlhw.sweeps.manifest import Manifest, Where, free_folder, locate
from dlhw.sweeps.planning.plan import SweepPlan
from dlhw.rundir import layout
from dlhw.sweeps.records import Job, Result

EXECUTORS = ("local", "ray")
DAMAGED = ".damaged"  # damaged trial folders are kept here (dot: never read as runs by reports)
# What sweep.json records of a trial's Result (the keys it has always had).
MANIFEST_FIELDS = ("status", "error", "train_seconds", "seconds", "val_accuracy", "test_accuracy", "params",
                   "best_epoch", "pid", "resumed")


@dataclass
class SweepOutcome:
    sweep_dir: Path
    results: List[Result] = field(default_factory=list)
    seconds: float = 0.0
    disk_bytes: int = 0  # the sweep folder's size on disk at the end

    @property
    def failed(self) -> List[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _done_result(name: str, run_dir: Path) -> Result:
    m = read_json(run_dir / layout.METRICS) or {}
    val, test = m.get("val") or {}, m.get("test") or {}
    return Result(name, "skipped", train_seconds=m.get("train_seconds"), val_accuracy=val.get("accuracy"),
                  test_accuracy=test.get("accuracy"), val_loss=val.get("loss"), best_epoch=m.get("best_epoch"),
                  params=(m.get("params") or {}).get("total"))


def _is_run_folder(p: Path) -> bool:
    return (p / layout.STATUS).is_file() and not (p / layout.SWEEP_MANIFEST).is_file()


def sweep_folder(plan: SweepPlan, out: Path) -> Path:
    """OUT/<sweep>; never a run folder of ``dlhw run``, nor a folder inside one."""
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


def _set_aside(folder: Path, sweep_dir: Path) -> Path:
    """Move a damaged trial folder to SWEEP/.damaged/<name>[-N] and return where it went."""
    aside = sweep_dir / DAMAGED
    aside.mkdir(exist_ok=True)
    target, n = aside / folder.name, 2
    while target.exists():
        target, n = aside / f"{folder.name}-{n}", n + 1
    try:
        folder.rename(target)
    except OSError as exc:
        raise ConfigError(f"{folder}: damaged, and cannot be moved aside to {target}: {exc.strerror}") from None
    return target


def run_sweep(plan: SweepPlan, out: Path, workers: "int | str" = "auto", executor: str = "local", address: Optional[str] = None,
              device: str = "auto", rerun: bool = False,
              echo: Callable[[str], None] = print, debug: bool = False) -> SweepOutcome:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected local or ray; received '{executor}'")
    workers = resources.parse_workers(workers)
    if address and executor != "ray":
        raise ConfigError("--address: only used with --executor ray")
    if executor == "ray":
        ray_exec.check_address(address)  # a missing extra or a wrong --address: found before anything runs
    from dlhw.tracking.mlflow import require_mlflow, settings

    if any(settings(t.cfg) is not None for t in plan.trials):
        require_mlflow()  # tracking.mlflow without the package: exit 2 with the pip line, before any folder
    sweep_dir = sweep_folder(plan, out)
    if sweep_dir.name != plan.name:
        echo(f"{Path(out) / plan.name} is a run folder of `dlhw run`; this sweep writes to {sweep_dir} instead")
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {sweep_dir}: {exc.strerror}") from None
    from dlhw.runtime.locks import acquire

    with acquire(sweep_dir, "sweep folder"):  # held until the sweep ends; the OS frees it if killed
        return _run_locked(plan, sweep_dir, workers, executor, address, device, rerun, echo, debug)


def _place(t, where: Where, sweep_dir: Path, rerun: bool, taken: List[str], echo, device: str) -> Job:
    """The job for trial ``t`` (its folder, resume or not), with a line saying why it runs."""
    folder, resume = where.folder, False
    if where.state == "damaged":
        aside = _set_aside(where.folder, sweep_dir)
        echo(f"{t.name}: {where.detail}; moved it to {aside} and training it from scratch")
    elif where.state == "changed" and rerun:
        echo(f"{t.name}: completed with another config ({where.detail}); --rerun: training it again in its folder")
    elif where.state == "changed":
        folder = free_folder(t, sweep_dir, taken)
        echo(f"{t.name}: completed with another config ({where.detail}); its results stay in {where.folder.name}/, "
             f"this config trains into {folder.name}/ (--rerun would replace them instead)")
    elif where.state == "unfinished":
        resume = where.resumable and not rerun
        echo(f"{t.name}: unfinished ({where.detail}), " + ("resuming it from its last checkpoint" if resume
                                                           else "training it again"))
    elif where.state == "done":
        echo(f"{t.name}: --rerun: training it again")
    return Job(name=t.name, folder=folder.name, raw=t.raw, source=f"{t.source} (trial {t.name})",
               out=str(sweep_dir), resume=resume, device=device)


def _run_locked(plan: SweepPlan, sweep_dir: Path, workers: "int | str", executor: str, address: Optional[str],
                device: str, rerun: bool, echo: Callable[[str], None], debug: bool = False) -> SweepOutcome:
    out = sweep_dir.parent
    gpus = resources.sweep_gpus(device)  # one per worker; --device gpu:N: only those
    auto = workers == "auto"
    if auto and executor != "ray":  # ray: as many at once as the cluster's CPUs hold (run_ray)
        workers = resources.auto_workers(len(plan.trials), gpus)
    manifest = Manifest(plan, sweep_dir, executor, workers)
    outcome = SweepOutcome(sweep_dir)
    from dlhw.tracking.hparams import HParamsLog
    from dlhw.tracking.sweep_run import SweepRun

    tracked = next((t.cfg for t in plan.trials if t.cfg.tracking.mlflow is not None), None)
    tracking = SweepRun.start(tracked, plan.name, sweep_dir, {"sweep.trials": len(plan.trials),
                                                              "sweep.varied_keys": plan.varied_keys,
                                                              "sweep.source": plan.source})
    hparams = HParamsLog.for_plan(plan, sweep_dir)  # TensorBoard's HParams table of the trials
    jobs: List[Job] = []
    trials = plan.trials
    if executor == "ray" or workers > 1:  # a pool starts the longest trials first
        from dlhw.sweeps.manifest import longest_first, past_timings

        trials = longest_first(trials, past_timings(Path(out)))
    taken = [t.name for t in plan.trials]
    for t in trials:
        where = locate(t, sweep_dir)
        if where.state == "done" and not rerun:
            res = _done_result(t.name, where.folder)
            outcome.results.append(res)
            manifest.record(t.name, status="completed", skipped=True, run_dir=where.folder.name,
                            train_seconds=res.train_seconds, val_accuracy=res.val_accuracy,
                            test_accuracy=res.test_accuracy, params=res.params)
            hparams.trial(t.name, where.folder, "completed")
            continue
        if where.state == "running":  # never overwrite a run that is training right now, even with --rerun
            echo(f"{t.name}: being trained by another process ({where.detail}); left alone")
            outcome.results.append(Result(t.name, "running", error=f"running elsewhere ({where.detail})"))
            manifest.record(t.name, status="running", error=f"running elsewhere ({where.detail})",
                            run_dir=where.folder.name)
            continue
        job = _place(t, where, sweep_dir, rerun, taken, echo, device)
        if tracking is not None:
            job = job.replace(mlflow_parent=tracking.parent_id)
        taken.append(job.folder)
        jobs.append(job)
    manifest.sync()
    skipped = sum(1 for r in outcome.results if r.status == "skipped")
    if executor == "ray":
        where_ = "as many workers as the cluster's CPUs hold" if auto else f"{workers} workers"
    else:
        n = min(workers, len(jobs)) or 1
        where_ = f"{n} worker{'s' if n > 1 else ''}" + (" (--workers auto)" if auto else "")
    where_ += f", {len(gpus)} GPU(s)" if gpus else ""
    echo(f"sweep {plan.name}: {len(plan.trials)} trials, {len(jobs)} to run"
         + (f", {skipped} already completed (skipped; --rerun forces)" if skipped else "")
         + (f" on {where_}" if jobs else "") + (" via Ray" if executor == "ray" and jobs else ""))
    for job in jobs:
        manifest.record(job.name, status="queued", error=None, skipped=False, run_dir=job.folder)
    manifest.save()
    done = [0]
    start = time.time()
    folders = {job.name: job.folder for job in jobs}
    interrupted = [False]

    def on_result(res: Result) -> None:
        done[0] += 1
        outcome.results.append(res)
        fields = res.to_dict()
        manifest.update(res.name, **{k: fields[k] for k in MANIFEST_FIELDS})
        hparams.trial(res.name, sweep_dir / (folders.get(res.name) or res.name), res.status)
        note = f"val acc {res.val_accuracy:.4f}" if isinstance(res.val_accuracy, (int, float)) else (res.error or "")
        echo(f"[{done[0]}/{len(jobs)}] {res.name}: {res.status} ({res.seconds or 0:.1f}s) {note}".rstrip())

    try:
        if not jobs:
            pass
        elif executor == "ray":
            ray_exec.run_ray(jobs, workers, address, on_result, echo=echo, debug=debug)
        elif workers == 1 or len(jobs) == 1:
            from dlhw.sweeps.executors.serial import run_serial

            run_serial(jobs, on_result)
        else:
            from dlhw.sweeps.executors.pool import run_pool

            run_pool(jobs, min(workers, len(jobs)), gpus, on_result)
    except KeyboardInterrupt:
        for job in jobs:
            if manifest._by_name[job.name]["status"] == "queued":
                manifest.update(job.name, status="interrupted", error="the sweep was interrupted")
        interrupted[0] = True
        raise
    finally:
        outcome.disk_bytes = folder_bytes(sweep_dir)  # what the sweep folder holds (sweep.json: disk_bytes)
        manifest.data["disk_bytes"] = outcome.disk_bytes
        manifest.sync()  # the run folders are the truth
        if tracking is not None:
            tracking.finish(sweep_dir, ok=sum(1 for r in outcome.results if r.ok),
                            failed=sum(1 for r in outcome.results if not r.ok), interrupted=interrupted[0])
    outcome.seconds = time.time() - start
    order = {t.name: i for i, t in enumerate(plan.trials)}
    outcome.results.sort(key=lambda r: order.get(r.name, 0))
    return outcome
