"""What a sweep hands its executors, and what comes back: one ``Job`` and one ``Result`` per trial.

Both are frozen dataclasses: they cross process boundaries (the local pool's
pipes, Ray tasks) pickled, and are changed only by making a new one
(``job.replace(threads=2)``). A Result's fields are what sweep.json records
per trial (``Result.to_dict``; ``from_dict`` reads them back); a trial folder
a Ray worker ships back travels in ``archive``, which is never written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

STATUSES = ("completed", "skipped", "running", "failed", "diverged", "interrupted", "pruned", "paused")
OK = ("completed", "skipped", "running", "pruned", "paused")  # anything else makes the sweep exit 1 (pruned: a search stopped it)


@dataclass(frozen=True)
class Job:
    """One trial to train: its validated config as plain data, into ``out/folder``."""

    name: str                      # the trial's name (sweep.json, the result)
    raw: Dict[str, Any]            # the config as plain data (validated again where it runs)
    source: str                    # where it came from, for error messages
    out: str                       # the sweep folder
    folder: str = ""               # its run folder inside ``out`` ('' : the name; ``<name>-2``: see session)
    resume: bool = False           # continue an unfinished run folder from its checkpoint
    device: str = "auto"
    threads: Optional[int] = None  # CPU threads of its process (None: as the process has)
    report: Any = None             # a search's pruning reporter: report(epoch, logs) -> True to stop (sweeps.sources.search)
    mlflow_parent: Optional[str] = None  # tracking.mlflow: the sweep's parent run id ('': unreachable, not tracked)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / (self.folder or self.name)

    def replace(self, **changes: Any) -> "Job":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Result:
    """How one trial ended (``status``: one of STATUSES) and its headline figures."""

    name: str
    status: str
    error: Optional[str] = None
    pid: Optional[int] = None
    seconds: Optional[float] = None        # wall time of the trial, set-up included
    train_seconds: Optional[float] = None
    best_epoch: Optional[int] = None
    val_accuracy: Optional[float] = None
    test_accuracy: Optional[float] = None
    val_loss: Optional[float] = None
    params: Optional[int] = None
    resumed: Optional[bool] = None         # True: continued from its checkpoint; False: refused, trained anew
    pruned_at: Optional[int] = None        # status pruned: the epoch a search's pruner stopped it at
    archive: Optional[bytes] = field(default=None, repr=False, compare=False)  # Ray: the trial folder, shipped back

    @property
    def ok(self) -> bool:
        return self.status in OK

    def replace(self, **changes: Any) -> "Result":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """The fields sweep.json records (everything but ``archive``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "archive"}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Result":
        """A Result from ``to_dict``'s keys (a sweep.json trial entry: other keys are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"archive"}
        return cls(**{k: v for k, v in data.items() if k in known})
