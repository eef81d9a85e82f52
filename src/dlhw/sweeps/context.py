"""One sweep while it runs: its options, its outcome, and the Context a source's ``open`` and the
engine's record of each outcome share (dlhw.sweeps.engine). No imports of sources or executors'
implementations, so every part of sweeps/ may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from dlhw.sweeps.records import Job, Result

if TYPE_CHECKING:
    from dlhw.sweeps.executors.base import Executor, Workers
    from dlhw.sweeps.manifest import Manifest


def print_line(line: str) -> None:
    print(line, flush=True)


@dataclass
class SweepOptions:
    """How to run a sweep: ``dlhw sweep``'s options, ``dlhw.sweep``'s arguments."""

    workers: "Workers" = "auto"
    executor: str = "local"
    address: Optional[str] = None
    device: str = "auto"
    rerun: bool = False
    echo: Callable[[str], None] = print_line
    debug: bool = False


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


@dataclass
class Context:
    """One sweep while it runs: what the source's ``open`` and the outcome records share."""

    sweep_dir: Path
    options: SweepOptions
    executor: "Executor"
    workers: "Workers"                # resolved: a number, or "auto" where the executor decides
    gpus: List[str]
    manifest: "Manifest"
    outcome: SweepOutcome
    hparams: Any = None               # dlhw.tracking.hparams.HParamsLog
    tracking: Any = None              # dlhw.tracking.sweep_run.SweepRun, or None
    done: int = 0                     # results recorded so far
    to_run: int = 0                   # jobs this run dispatches (at most)

    def echo(self, line: str) -> None:
        self.options.echo(line)

    def job(self, name: str, raw: Any, source: str, folder: str = "", resume: bool = False,
            report: Any = None) -> Job:
        """The one way a trial becomes a Job: into this sweep folder, on this sweep's device, a
        child run of the sweep's MLflow run."""
        return Job(name=name, folder=folder or name, raw=raw, source=source, out=str(self.sweep_dir),
                   resume=resume, device=self.options.device, report=report,
                   mlflow_parent=self.tracking.parent_id if self.tracking is not None else None)

    def run_dir(self, name: str) -> Path:
        entry = self.manifest.entry(name) or {}
        return self.sweep_dir / str(entry.get("run_dir") or name)
