"""One trial as it runs on a Slurm node: the callable submitit pickles for each array task.

- Logs: the task's stdout and stderr go to ``slurm.out`` / ``slurm.err`` in the trial's run folder
  (appended across requeues). Until the run folder exists (a new trial's folder is made, and
  emptied, by the run itself) they are written to SWEEP/.slurm/logs/ and moved in as it appears.
- Preemption and time limits: Slurm sends USR2 ``slurm.signal_delay_s`` seconds before the time
  limit (``--signal=USR2@N``; an administrator's preemption may send it too). The trial handles it
  as dlhw handles Ctrl-C (dlhw.runtime.signals): training stops at the end of the epoch in progress
  when that is near, else after the batch in progress; the checkpoint is written and the run ends
  ``interrupted``. The task then requeues itself (``scontrol requeue ARRAY_TASK``: that task only,
  never the whole array) unless it has been requeued ``slurm.max_requeues`` times already. When it
  runs again it resumes from the checkpoint and ends exactly as an uninterrupted run would.
  SIGTERM (scancel, or a preemption without the warning signal) stops the trial the same way
  without a requeue of its own: Slurm requeues preempted jobs itself.
- Its record: RUN/slurm.json, the task id, node and requeue count of every start.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Dict

from dlhw.errors import DlhwError
from dlhw.rundir import layout
from dlhw.sweeps.records import Job

RECORD = layout.SLURM            # in the run folder
LOG_OUT, LOG_ERR = "slurm.out", "slurm.err"
STAGING = ".slurm/logs"           # in the sweep folder


def task_id() -> str:
    """'ARRAY_TASK' inside an array task, else the job id ('' outside Slurm)."""
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{index}" if array and index else os.environ.get("SLURM_JOB_ID", "")


def restarts() -> int:
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    except ValueError:
        return 0


class TrialLogs:
    """fd 1 and 2 into the run folder's slurm.out / slurm.err (through a staging file until it exists)."""

    def __init__(self, job: Job):
        self.run_dir = job.run_dir
        from dlhw.runtime.files import ensure_dir

        stage = ensure_dir(Path(job.out) / STAGING)
        self.staged = {1: stage / f"{job.folder or job.name}.out", 2: stage / f"{job.folder or job.name}.err"}
        self.final = {1: self.run_dir / LOG_OUT, 2: self.run_dir / LOG_ERR}
        self._stop = threading.Event()

    def start(self, resume: bool) -> None:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        if resume and self.run_dir.is_dir():  # the folder is kept: write there at once
            for fd, path in self.final.items():
                self._point(fd, path)
            return
        for fd, path in self.staged.items():
            self._point(fd, path)
        threading.Thread(target=self._move_when_ready, daemon=True).start()

    @staticmethod
    def _point(fd: int, path: Path) -> None:
        from dlhw.runtime.files import append_fd

        target = append_fd(path)  # never through a link planted as a log
        os.dup2(target, fd)
        os.close(target)

    def _move_when_ready(self) -> None:
        started = time.time() - 1
        while not self._stop.wait(0.5):
            status = self.run_dir / layout.STATUS
            try:
                if status.stat().st_mtime < started:
                    continue
            except OSError:
                continue
            self.move_in()
            return

    def move_in(self) -> None:
        """Staged logs -> the run folder (appended to what earlier starts left), fds follow."""
        import sys

        from dlhw.runtime.files import append_fd

        self._stop.set()
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, staged in self.staged.items():
            if not staged.exists() or not self.run_dir.is_dir():
                continue
            final = self.final[fd]
            try:
                if final.exists():
                    with os.fdopen(append_fd(final), "ab") as dst, open(staged, "rb") as src:
                        dst.write(src.read())
                    self._point(fd, final)
                    staged.unlink()
                else:
                    staged.rename(final)  # the open descriptor follows the file
            except (OSError, DlhwError):
                pass  # the logs stay in SWEEP/.slurm/logs/


def _write_record(run_dir: Path, entry: Dict[str, Any], limit: int) -> Dict[str, Any]:
    from dlhw.rundir.records import RecordError, SlurmTrialRecord
    from dlhw.runtime.files import ensure_dir

    path = SlurmTrialRecord.in_folder(run_dir)
    try:
        saved = SlurmTrialRecord.read_optional(path)
    except RecordError:
        saved = None  # a damaged record is rewritten from this start on
    data = saved.as_dict() if saved is not None else {}
    starts = [s for s in data.get("starts", []) if s.get("start") != entry.get("start")] + [entry]
    data.update(task=entry.get("task"), requeues=restarts(), max_requeues=limit, starts=starts[-50:])
    try:
        ensure_dir(run_dir)
        SlurmTrialRecord.build(data, path).write(path)
    except (OSError, DlhwError):
        pass
    return data


class SlurmTrial:
    """The callable of one array task: ``SlurmTrial(job, max_requeues)()`` -> the trial's Result as a dict."""

    def __init__(self, job: Job, max_requeues: int = 3):
        self.job, self.max_requeues = job, max_requeues

    def __call__(self) -> Dict[str, Any]:
        from dlhw.runtime import signals
        from dlhw.sweeps.executors.trial import run_trial
        from dlhw.sweeps.manifest import checkpoint_damage

        job = self.job
        run_dir = job.run_dir
        if restarts() or ((run_dir / layout.STATUS).exists() and not checkpoint_damage(run_dir)
                          and (run_dir / layout.CHECKPOINTS / layout.CHECKPOINT).exists()):
            job = job.replace(resume=True)  # requeued, or rerun after an interruption: continue it
        logs = TrialLogs(job)
        logs.start(job.resume)
        entry = {"task": task_id(), "node": socket.gethostname(), "start": time.strftime("%Y-%m-%dT%H:%M:%S"),
                 "restart": restarts(), "resume": job.resume}
        print(f"dlhw: trial {job.name} as Slurm task {entry['task']} on {entry['node']} "
              f"(start {restarts() + 1}{', resuming' if job.resume else ''})", flush=True)
        # Slurm's warning signal: handled as Ctrl-C is (stop after the epoch or batch, checkpoint kept)
        signal.signal(signal.SIGUSR2, signals.handler)
        outcome = "ended"
        try:
            result = run_trial(job)
        except signals.RunInterrupted as exc:
            result = None
            outcome = self._interrupted(exc, run_dir)
        finally:
            logs.move_in()
            entry["end"], entry["how"] = time.strftime("%Y-%m-%dT%H:%M:%S"), outcome
            _write_record(run_dir, entry, self.max_requeues)
        if outcome == "requeued":
            import sys

            print(f"dlhw: trial {job.name} requeued (requeue {restarts() + 1} of {self.max_requeues})", flush=True)
            sys.exit(0)  # Slurm puts the task back into the queue; nothing more to report
        if result is None:
            raise SystemExit(f"dlhw: trial {job.name}: {outcome}")
        return result.to_dict()

    def _interrupted(self, exc, run_dir: Path) -> str:
        """After a signal stopped the run (its checkpoint written): requeue this task, or say why not."""
        from dlhw.slurm.queue import requeue

        if exc.signum != signal.SIGUSR2:
            return f"stopped by signal {exc.signum}"
        if restarts() >= self.max_requeues:
            _mark(run_dir, f"requeue limit reached: requeued {restarts()} times (slurm.max_requeues); "
                           f"rerun with --retry-failed to resume it")
            return "requeue limit reached"
        task = task_id()
        why = requeue(task) if task else "not in a Slurm job"
        if why:
            _mark(run_dir, f"scontrol requeue {task} failed: {why}")
            return f"requeue failed: {why}"
        return "requeued"


def _mark(run_dir: Path, error: str) -> None:
    """Add ``error`` to an interrupted run's status.json (the driver shows it)."""
    from dlhw.rundir.records import RecordError, StatusRecord

    path = StatusRecord.in_folder(run_dir)
    try:
        saved = StatusRecord.read_optional(path)
    except RecordError:
        return
    if saved is not None:
        StatusRecord.build({**saved.to_dict(), "error": error}, path).write(path)
