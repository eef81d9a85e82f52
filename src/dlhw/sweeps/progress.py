"""What a sweep shows while it runs: each trial's start and end, live epochs, the ETA.

Fed by the sweep loop through three calls (``start(jobs, sweep_dir, workers)``, ``done(result)``,
``close()``); the epochs of running trials are read from their status.json heartbeats (written by
the worker processes every epoch, at most every 2 s), so nothing crosses the process boundary.

- On a terminal (``Console.is_terminal``): a line when a trial starts and when it ends (name,
  status, metric, time) above a live rich display: one line per running trial (its epoch of its
  planned epochs), and the sweep's bar with its ETA (from the epochs done so far).
- Not a terminal (a pipe, a file, CI) or ``live=False``: one plain line per finished trial, no
  control codes. ``quiet``: nothing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.rundir import layout
from dlhw.rundir.folder import read_json

POLL_SECONDS = 0.5


def planned_epochs(raw: Dict[str, Any]) -> int:
    """The epochs a trial's config asks for (training.epochs, or the sum over its stages)."""
    training = raw.get("training") or {}
    stages = training.get("stages")
    if isinstance(stages, list) and stages:
        return sum(int(s.get("epochs") or 0) for s in stages if isinstance(s, dict)) or 1
    epochs = training.get("epochs")
    return int(epochs) if isinstance(epochs, int) and epochs > 0 else 10  # schema default


def result_line(res: Any, done: int, total: int) -> str:
    """'[2/4] adam: completed (15.8s) val acc 0.9628': how one trial ended."""
    if isinstance(getattr(res, "val_accuracy", None), (int, float)):
        note = f"val acc {res.val_accuracy:.4f}"
    else:
        note = getattr(res, "error", None) or ""
    return f"[{done}/{total}] {res.name}: {res.status} ({res.seconds or 0:.1f}s) {note}".rstrip()


class SweepProgress:
    """The sweep's display (see the module docstring)."""

    def __init__(self, console=None, quiet: bool = False, live: Optional[bool] = None):
        from rich.console import Console

        self.console = console or Console()
        self.quiet = quiet
        self.live = (self.console.is_terminal if live is None else live) and not quiet
        self.jobs: List[Any] = []
        self.done_count = 0
        self._started: Dict[str, float] = {}
        self._finished: set = set()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._progress = None
        self._tasks: Dict[str, Any] = {}  # running trial -> its rich task
        self._epoch: Dict[str, int] = {}  # running trial -> its last finished epoch
        self._lock = threading.Lock()  # done() (the sweep's thread) and the poller share the display

    # --------------------------------------------------------------- the three calls
    def start(self, jobs: List[Any], sweep_dir: Path, workers: int = 1) -> None:
        self.jobs, self.sweep_dir, self.workers = list(jobs), Path(sweep_dir), max(1, workers)
        self.epochs = {j.name: planned_epochs(j.raw) for j in self.jobs}
        if not self.live or not self.jobs:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                  TextColumn("{task.fields[note]}"), TimeRemainingColumn(),
                                  console=self.console, transient=True)
        self._overall = self._progress.add_task(f"sweep: {len(self.jobs)} trials, epochs", total=sum(self.epochs.values()),
                                                note=f"starting {min(self.workers, len(self.jobs))} worker(s): "
                                                     f"each loads TensorFlow first")
        self._progress.start()
        self._thread = threading.Thread(target=self._poll, name="dlhw-sweep-progress", daemon=True)
        self._thread.start()

    def done(self, res: Any) -> None:
        self.done_count += 1
        self._finished.add(res.name)
        line = result_line(res, self.done_count, len(self.jobs))
        if self.quiet:
            return
        if self._progress is None:  # one plain line per trial: no markup, no control codes, never wrapped
            if self.console.is_jupyter:
                print(line, flush=True)  # a notebook: a text line, not a <pre> block per line
            else:
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        with self._lock:
            task = self._tasks.pop(res.name, None)
            self._epoch.pop(res.name, None)
            if task is not None:
                self._progress.remove_task(task)
            style = {"completed": "green", "pruned": "yellow", "skipped": "dim"}.get(res.status, "red")
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
        data = read_json(self.sweep_dir / (job.folder or job.name) / layout.STATUS) or {}
        if data.get("status") != "running" or data.get("pid") is None:
            return None
        return int(data.get("epoch") or 0)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - a display never stops the sweep
                continue

    def _tick(self) -> None:
        for job in self.jobs:
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
        self._progress.update(self._overall, completed=finished + sum(self._epoch.values()),
                              note=f"{self.done_count}/{len(self.jobs)} trials done, {len(self._tasks)} running")
