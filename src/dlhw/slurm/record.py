"""SWEEP/slurm.json: which trial went to which Slurm task, and what the queue last said about it.

Only the driver (``dlhw sweep``, holding the sweep folder's lock) writes it, atomically, right after
each submission, so running the same command again finds the tasks it submitted: a task still in
the queue is watched, never submitted a second time. Per trial: ``task`` (``ARRAY_INDEX`` or a job
id), ``folder``, ``submitted``, the last ``state`` and ``reason`` squeue gave, ``requeues``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.rundir.records import SlurmSweepRecord


class Record:
    def __init__(self, sweep_dir: Path):
        self.path = SlurmSweepRecord.in_folder(sweep_dir)
        saved = SlurmSweepRecord.read_optional(self.path)
        self.trials: Dict[str, Dict[str, Any]] = dict(saved.trials) if saved is not None else {}

    def get(self, name: str) -> Optional[Dict[str, Any]]:
        return self.trials.get(name)

    def task_ids(self) -> List[str]:
        return [str(e["task"]) for e in self.trials.values() if e.get("task")]

    def submitted(self, name: str, task: str, folder: str) -> None:
        old = self.trials.get(name) or {}
        self.trials[name] = {"task": task, "folder": folder, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S"),
                             "state": "PENDING", "reason": "", "submissions": int(old.get("submissions", 0)) + 1,
                             "requeues": 0}

    def update(self, name: str, **fields: Any) -> bool:
        """Change a trial's fields; True when something changed."""
        entry = self.trials.setdefault(name, {})
        changed = any(entry.get(k) != v for k, v in fields.items())
        entry.update(fields)
        return changed

    def save(self) -> None:
        SlurmSweepRecord.build({"trials": self.trials}, self.path).write(self.path)
