"""What a sweep shows while it runs: each trial's start and end, live epochs, the ETA.

Fed by the sweep engine (dlhw.sweeps.engine) through ``start(jobs, sweep_dir, workers, total)``,
``add(job)`` (a search's trial, made when a worker is free), ``done(result, note)`` and ``close()``;
the epochs of running trials are read from their status.json heartbeats (written by
the worker processes every epoch, at most every 2 s), so nothing crosses the process boundary.

- On a terminal (``Console.is_terminal``): a line when a trial starts and when it ends (name,
  status, metric, time) above a live rich display: one line per running trial (its epoch of its
  planned epochs), and the sweep's bar with its ETA (from the epochs done so far).
- Not a terminal (a pipe, a file, CI) or ``live=False``: one plain line per finished trial, no
  control codes; through ``echo`` when one is given (the API: logging), else on the console.
  ``quiet``: nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.rundir.states import Status

POLL_SECONDS = 0.5


def planned_epochs(raw: Dict[str, Any]) -> int:
    """The epochs a trial's config asks for (training.epochs, or the sum over its stages)."""
    training = raw.get("training") or {}
    stages = training.get("stages")
    if isinstance(stages, list) and stages:
        return sum(int(s.get("epochs") or 0) for s in stages if isinstance(s, dict)) or 1
    epochs = training.get("epochs")
    return int(epochs) if isinstance(epochs, int) and epochs > 0 else 10  # schema default


def result_line(res: Any, done: int, total: int, note: Optional[str] = None) -> str:
    """'[2/4] adam: completed (15.8s) val acc 0.9628': how one trial ended (``note``: the figures
    its source shows, e.g. a search's objective; default its val acc or its error)."""
    if note is None and isinstance(getattr(res, "val_accuracy", None), (int, float)):
        note = f"val acc {res.val_accuracy:.4f}"
    elif note is None:
        note = getattr(res, "error", None) or ""
    return f"[{done}/{total}] {res.name}: {res.status} ({res.seconds or 0:.1f}s) {note}".rstrip()


class SweepProgress:
    """The sweep's display (see the module docstring)."""

    def __init__(self, console=None, quiet: bool = False, live: Optional[bool] = None,
                 echo: Optional[Callable[[str], None]] = None):
        from rich.console import Console

        self.console = console or Console()
        self.quiet = quiet
        self.echo = echo
        self.total = 0
        self.live = (self.console.is_terminal if live is None else live) and not quiet
        self.jobs: List[Any] = []
        self.done_count = 0
        self._started: Dict[str, float] = {}
        self._finished: set = set()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._progress: Any = None  # rich.progress.Progress while live
        self._tasks: Dict[str, Any] = {}  # running trial -> its rich task
        self._epoch: Dict[str, int] = {}  # running trial -> its last finished epoch
        self._lock = threading.Lock()  # done() (the sweep's thread) and the poller share the display

    # --------------------------------------------------------------- the three calls
    def start(self, jobs: List[Any], sweep_dir: Path, workers: int = 1, total: Optional[int] = None) -> None:
        """``jobs``: those known now (a search: none yet, see ``add``); ``total``: how many trials
        this run trains at most (default: len(jobs))."""
        self.jobs, self.sweep_dir, self.workers = list(jobs), Path(sweep_dir), max(1, workers)
        self.total = max(total or 0, len(self.jobs))
        self.epochs = {j.name: planned_epochs(j.raw) for j in self.jobs}
        if not self.live or not self.total:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                  TextColumn("{task.fields[note]}"), TimeRemainingColumn(),
                                  console=self.console, transient=True)
        self._overall = self._progress.add_task(f"sweep: {self.total} trials, epochs", total=self._planned(),
                                                note=f"starting {min(self.workers, self.total)} worker(s): "
                                                     f"each loads TensorFlow first")
        self._progress.start()
        self._thread = threading.Thread(target=self._poll, name="dlhw-sweep-progress", daemon=True)
        self._thread.start()

    def add(self, job: Any) -> Any:
        """A trial handed out that ``start`` did not know (a search makes them one at a time); returns ``job``."""
        with self._lock:
            if job.name not in self.epochs:
                self.jobs.append(job)
                self.epochs[job.name] = planned_epochs(job.raw)
                self.total = max(self.total, len(self.jobs))
        return job

    def done(self, res: Any, note: Optional[str] = None) -> None:
        self.done_count += 1
        self._finished.add(res.name)
        line = result_line(res, self.done_count, max(self.total, self.done_count), note)
        if self.quiet:
            return
        if self._progress is None:  # one plain line per trial: no markup, no control codes, never wrapped
            if self.echo is not None:
                self.echo(line)
            elif self.console.is_jupyter:
                print(line, flush=True)  # a notebook: a text line, not a <pre> block per line
            else:
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        with self._lock:
            task = self._tasks.pop(res.name, None)
            self._epoch.pop(res.name, None)
            if task is not None:
                self._progress.remove_task(task)
            style = {Status.COMPLETED: "green", Status.PRUNED: "yellow", Status.PAUSED: "yellow",
                     Status.SKIPPED: "dim"}.get(Status.parse(res.status), "red")
            self._progress.console.print(f"[{style}]done[/{style}]    {line}", highlight=False)
            self._refresh_overall()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # --------------------------------------------------------------- live display
    def _epoch_of(self, job: Any) -> Optional[int]:
        """The running trial's last finished epoch (None: not started yet)."""
        from dlhw.rundir.records import StatusRecord

        rec = StatusRecord.of(self.sweep_dir / (job.folder or job.name))
        if rec.status is not Status.RUNNING or rec.pid is None:
            return None
        return int(rec.epoch or 0)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - a display never stops the sweep
                continue

    def _tick(self) -> None:
        with self._lock:
            jobs = list(self.jobs)
        for job in jobs:
            epoch = self._epoch_of(job) if job.name not in self._finished else None
            if epoch is None:
                continue
            with self._lock:
                if job.name in self._finished or self._progress is None:
                    continue
                total = self.epochs[job.name]
                if job.name not in self._tasks:
                    self._tasks[job.name] = self._progress.add_task(f"  {job.name}", note="", total=total)
                    self._progress.console.print(f"[cyan]start[/cyan]   {job.name} ({total} epochs)", highlight=False)
                self._epoch[job.name] = min(epoch, total)
                self._progress.update(self._tasks[job.name], completed=self._epoch[job.name])
        with self._lock:
            self._refresh_overall()

    def _refresh_overall(self) -> None:
        """The sweep's bar: epochs of finished trials (all they planned) plus those of running ones."""
        if self._progress is None:
            return
        finished = sum(self.epochs.get(n, 0) for n in self._finished)
        self._progress.update(self._overall, completed=finished + sum(self._epoch.values()), total=self._planned(),
                              note=f"{self.done_count}/{self.total} trials done, {len(self._tasks)} running")

    def _planned(self) -> int:
        """Epochs of the whole sweep: those of the trials known, and as many again per trial not made yet."""
        known = list(self.epochs.values())
        if not known:
            return self.total
        return sum(known) + max(0, self.total - len(known)) * round(sum(known) / len(known))
