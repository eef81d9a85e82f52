"""The Slurm executor (``dlhw sweep --executor slurm``): each trial a task of a job array, via submitit.

The driver submits, watches and leaves; it is not a babysitter:

- Trials asking the same ``slurm:`` resources share one array, ``--array=0-K%N`` (N: ``--workers``);
  a search submits each trial as the sampler proposes it, at most N in the queue.
- Progress: a line whenever a trial changes state (queued with Slurm's reason, running on a node,
  requeued, done). Ctrl-C stops watching at any time and cancels nothing; ``detach`` returns right
  after submitting. Running the same command again reattaches: tasks still in the queue are watched
  (never submitted twice, SWEEP/slurm.json says which task is which trial), finished ones are read
  from their run folders, and only trials with no task yet are submitted.
- A task that ended badly (cancelled, failed, node failure, out of memory, a requeue limit) is shown
  with Slurm's state and reason and submitted again only with ``retry_failed`` (``--retry-failed``).
- The truth about a trial is its run folder (status.json, metrics.json) and ``squeue``; ``sacct`` is
  never used (it needs slurmdbd).
"""

from __future__ import annotations

import contextlib
import io
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from dlhw.errors import ConfigError
from dlhw.rundir import layout
from dlhw.sweeps.executors.base import Dispatch, Executor, OnResult, Workers
from dlhw.sweeps.feed import Feed
from dlhw.sweeps.records import Job, Result

POLL_S = 2.0          # seconds between two looks at the queue
SETTLE_S = 30.0       # a task gone from the queue whose run folder is not final yet: wait this long (NFS caches)
FOLDER = ".slurm"     # submitit's pickles and the tasks' own log files, in the sweep folder


class Watch:
    def __init__(self, job: Job, task: str):
        self.job, self.task = job, task
        self.shown = ""        # the last state line shown
        self.gone: Optional[float] = None  # when the task left the queue without a final run folder


@contextlib.contextmanager
def _no_sigint() -> Iterator[None]:
    """Ctrl-C waits until a submission is recorded (else a rerun could submit a second copy)."""
    noted: List[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda s, f: noted.append(s))
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if noted:
            raise KeyboardInterrupt


def _submit_error(exc: BaseException) -> ConfigError:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.replace("sbatch: error: ", "").replace("Batch job submission failed: ", "")
    hint = ""
    if "partition" in text.lower():
        hint = " (slurm.partition; `sinfo -s` lists the partitions)"
    elif "account" in text.lower() or "qos" in text.lower():
        hint = " (slurm.account / slurm.qos; `sacctmgr show assoc user=$USER` lists yours)"
    return ConfigError(f"--executor slurm: sbatch refused the submission: {text[:300]}{hint}; "
                       f"nothing was submitted for these trials")


class SlurmRun:
    """One driver session over a sweep folder's trials."""

    def __init__(self, sweep_dir: Path, workers: int, on_result: Callable[[Result], None],
                 echo: Callable[[str], None], retry_failed: bool):
        from dlhw.slurm.record import Record

        self.sweep_dir, self.workers, self.on_result, self.echo = Path(sweep_dir), max(1, workers), on_result, echo
        self.retry_failed = retry_failed
        self.record = Record(self.sweep_dir)
        self.watching: Dict[str, Watch] = {}
        self.submitted = 0

    # ------------------------------------------------------------------ triage
    def triage(self, job: Job, known: Dict[str, Any]) -> Optional[Job]:
        """Watch a trial already in the queue, report one that ended, or return it to be submitted."""
        from dlhw.slurm.queue import BAD, TaskState

        rec = self.record.get(job.name)
        if rec is None or not rec.get("task"):
            from dlhw.runtime.locks import holder

            pid = holder(job.run_dir) if job.run_dir.is_dir() else None
            if pid:  # trained right now by a process that is not one of this sweep's tasks: left alone
                self.echo(f"{job.name}: being trained by another process (pid {pid}); left alone")
                self.on_result(Result(job.name, "running", error=f"running elsewhere (pid {pid})"))
                return None
            return job
        st = known.get(rec["task"])
        if st is None and rec.get("state") in BAD:  # squeue forgot it (MinJobAge): what it said last
            st = TaskState(rec["task"], rec["state"], rec.get("reason") or "")
        if st is not None and st.live:
            self.watching[job.name] = Watch(job, rec["task"])
            self.echo(f"{job.name}: already in the Slurm queue as {rec['task']} ({st.state.lower()}); watching it")
            return None
        res = self.ended(job, rec["task"], st)
        if res is None or res.status == "completed":
            if res is not None:
                self.on_result(res)
                return None
            return job
        if self.retry_failed:
            self.echo(f"{job.name}: its Slurm task {rec['task']} ended {res.status} ({res.error}); "
                      f"--retry-failed: submitting it again")
            return job
        self.echo(f"{job.name}: its Slurm task {rec['task']} ended {res.status} ({res.error}); not retried "
                  f"(--retry-failed retries it)")
        self.on_result(res)
        return None

    # ------------------------------------------------------------------ submitting
    def submit(self, jobs: List[Job], sweep: str) -> None:
        from dlhw.slurm import resources
        from dlhw.slurm.task import SlurmTrial

        submitit = resources.import_submitit()
        for s, names in resources.groups([(j.name, j.raw) for j in jobs]):
            group = [j for j in jobs if j.name in names]
            ex = submitit.SlurmExecutor(folder=str(self.sweep_dir / FOLDER), max_num_timeout=s.max_requeues)
            ex.update_parameters(**resources.parameters(s, f"dlhw-{sweep}", self.workers))
            calls = [SlurmTrial(j.replace(threads=s.cpus_per_task), s.max_requeues) for j in group]
            with _no_sigint():
                try:
                    with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's error too
                        if len(calls) == 1:
                            handles = [ex.submit(calls[0])]
                        else:
                            with ex.batch():
                                handles = [ex.submit(c) for c in calls]
                except Exception as exc:  # noqa: BLE001 - sbatch's refusal, as one line
                    raise _submit_error(exc) from None
                for job, handle in zip(group, handles):
                    self.record.submitted(job.name, str(handle.job_id), job.folder or job.name)
                    self.watching[job.name] = Watch(job, str(handle.job_id))
                self.record.save()
            self.submitted += len(group)
            first = str(handles[0].job_id).split("_")[0]
            self.echo(f"slurm: submitted {len(group)} trial(s) as job {first}"
                      + (f" (array 0-{len(group) - 1}%{min(len(group), self.workers)})" if len(group) > 1 else "")
                      + f": {resources.describe(s)}")

    # ------------------------------------------------------------------ reading
    def ended(self, job: Job, task: str, st) -> Optional[Result]:
        """A trial whose task left the queue (or ended): its Result from its run folder, or None when the
        run folder says nothing final and Slurm gives no reason (not started, or not visible yet)."""
        from dlhw.rundir.records import SlurmTrialRecord, read_metrics
        from dlhw.rundir.status import read_status

        status = read_status(job.run_dir) if (job.run_dir / layout.STATUS).is_file() else {}
        state = status.get("status")
        slurm = f"Slurm: {st.state}{' (' + st.reason + ')' if st.reason else ''}" if st is not None and st.bad else ""
        trial = SlurmTrialRecord.read_optional(SlurmTrialRecord.in_folder(job.run_dir))
        requeues = trial.requeues if trial is not None else 0
        self.record.update(job.name, requeues=requeues, **({"state": st.state, "reason": st.reason} if st else {}))
        if state == "completed" and (job.run_dir / layout.METRICS).exists():
            # read from the run folder, never from submitit's result pickle (dlhw unpickles nothing)
            m = read_metrics(job.run_dir, tolerant=True) or {}
            val, test = m.get("val") or {}, m.get("test") or {}
            return Result(job.name, "completed", train_seconds=m.get("train_seconds"), best_epoch=m.get("best_epoch"),
                          val_accuracy=val.get("accuracy"), test_accuracy=test.get("accuracy"),
                          val_loss=val.get("loss"), params=(m.get("params") or {}).get("total"),
                          resumed=bool(requeues) or None)
        if state in ("failed", "diverged", "pruned", "interrupted"):
            error = "; ".join(x for x in (status.get("error"), slurm) if x) or state
            return Result(job.name, state, error=error, pruned_at=status.get("pruned_at"))
        if slurm or (st is not None and st.state == "COMPLETED"):
            return Result(job.name, "failed", error=f"task {task} ended before the trial finished"
                          + (f"; {slurm}" if slurm else f" (run folder: {state or 'none'})"))
        return None

    def poll(self) -> None:
        from dlhw.slurm import queue

        known = queue.tasks([w.task for w in self.watching.values()])
        for name, w in list(self.watching.items()):
            st = known.get(w.task)
            if st is not None and st.live:
                w.gone = None
                line = (f"queued ({st.reason})" if st.reason else "queued") if st.queued else \
                    f"running on {st.node or '?'}"
                if self.record.update(name, state=st.state, reason=st.reason) or line != w.shown:
                    w.shown = line
                    self.echo(f"{name}: {line} [task {w.task}]")
                continue
            res = self.ended(w.job, w.task, st)
            if res is None:
                w.gone = w.gone or time.monotonic()
                if time.monotonic() - w.gone < SETTLE_S:
                    continue
                res = Result(name, "failed", error=f"task {w.task} left the queue and its run folder shows no end "
                                                   f"(node failure, or a cancel before it started)")
            del self.watching[name]
            self.on_result(res)
        self.record.save()

    def counts(self) -> str:
        queued = sum(1 for w in self.watching.values() if w.shown.startswith("queued") or not w.shown)
        return f"{queued} queued, {len(self.watching) - queued} running"


def prepare_data(jobs: List[Job], echo: Callable[[str], None]) -> None:
    """Load each distinct dataset once, here, before anything is submitted: downloads (Keras datasets,
    ``data/`` fetches) land in the shared caches once instead of once per trial, racing; and data
    that cannot be loaded is one line (exit 2) with nothing submitted."""
    import json

    from dlhw.config import validate
    from dlhw.data import load_dataset

    seen: Dict[str, Job] = {}
    for job in jobs:
        seen.setdefault(json.dumps(job.raw.get("dataset"), sort_keys=True, default=str), job)
    if not seen:
        return
    echo(f"slurm: preparing the data once before submitting ({len(seen)} dataset(s))")
    for job in seen.values():
        try:
            load_dataset(validate(job.raw, job.source))
        except ConfigError as exc:
            raise ConfigError(f"{exc}; nothing was submitted") from None


def run_slurm(jobs, workers: int, on_result: Callable[[Result], None], *, sweep_dir: Path, sweep: str,
              echo: Callable[[str], None] = print, detach: bool = False, retry_failed: bool = False) -> None:
    """Submit ``jobs`` (a list, or a dlhw.sweeps.feed.Feed asked as the queue has room) to Slurm and
    watch them until they end, Ctrl-C (which cancels nothing and returns), or (``detach``) at once."""
    from dlhw.slurm import queue
    from dlhw.sweeps.feed import Feed

    feed = Feed.of(jobs)
    run = SlurmRun(sweep_dir, workers, on_result, echo, retry_failed)
    known = queue.tasks(run.record.task_ids())
    try:
        if not feed.on_demand:
            todo = [j for j in (run.triage(job, known) for job in feed) if j is not None]
            if todo:
                prepare_data(todo, echo)
                run.submit(todo, sweep)
        while True:
            if feed.on_demand:  # a search: the next trial only when the queue has room
                while len(run.watching) < run.workers:
                    taken = feed.take()
                    if taken is None:
                        break
                    job = run.triage(taken, known)
                    if job is not None:
                        run.submit([job], sweep)
            if detach or not run.watching:
                break
            time.sleep(POLL_S)
            run.poll()
    except KeyboardInterrupt:
        run.record.save()
        echo(f"slurm: stopped watching; {len(run.watching)} trial(s) stay in the Slurm queue "
             f"({run.counts()}); nothing was cancelled. Run the same command again to reattach.")
        return
    if detach and run.watching:
        echo(f"slurm: detached; {len(run.watching)} trial(s) in the Slurm queue. Run the same command again "
             f"to reattach, or `dlhw report {sweep_dir}` at any time.")


class SlurmExecutor(Executor):
    """``--executor slurm``: a job array per resource set, watched from squeue and the run folders."""

    name = "slurm"
    reattaches = True

    def check(self, address: Optional[str]) -> None:
        from dlhw.slurm.queue import check_slurm
        from dlhw.slurm.resources import import_submitit

        super().check(address)
        import_submitit()  # the missing extra: exit 2 with the pip line, before any folder
        check_slurm()

    def workers(self, requested: Workers, trials: int, gpus: List[str]) -> Workers:
        """--workers: the array's parallelism limit; auto: every trial at once (the scheduler decides)."""
        return max(1, trials) if requested == "auto" else requested

    def where(self, workers: Workers, jobs: int, gpus: List[str], auto: bool) -> str:
        n = max(1, min(int(workers), jobs) if isinstance(workers, int) else jobs)
        return f"via Slurm, at most {n} at once" + (" (--workers auto)" if auto else "")

    def run(self, feed: Feed, on_result: OnResult, where: Dispatch) -> None:
        run_slurm(feed, int(where.workers) if where.workers != "auto" else (feed.size() or 1), on_result,
                  sweep_dir=where.sweep_dir, sweep=where.sweep_dir.name, echo=where.echo, detach=where.detach,
                  retry_failed=where.retry_failed)


EXECUTOR = SlurmExecutor()
