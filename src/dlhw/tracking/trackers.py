"""The trackers a run is copied to (MLflow: dlhw.tracking.mlflow, W&B: dlhw.tracking.wandb), as
one object the experiment calls: ``start`` after the run folder exists, ``epoch`` per history
row, ``finish`` once with how the run ended. ``check_available`` refuses (exit 2, with the pip
line) a config naming a tracker whose package is missing, before any folder is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional


def check_available(cfg) -> None:
    """tracking.mlflow / tracking.wandb without their package: ConfigError (exit 2) naming the extra."""
    from dlhw.tracking import mlflow, wandb

    mlflow.check_available(cfg)
    wandb.check_available(cfg)


class Trackers:
    """The started trackers of one run (each guards itself: a failure is one warning, never the run's)."""

    def __init__(self, parts: List[Any]):
        self.parts = parts

    @classmethod
    def start(cls, cfg, run_dir: Path, resumed: bool = False, parent: Optional[str] = None,
              sweep: Optional[Dict[str, Any]] = None) -> Optional["Trackers"]:
        """None when the config names no tracker (or none could start); ``parent``: the sweep's
        MLflow parent run; ``sweep``: a trial's {"name", "varied"} (its W&B group and config)."""
        from dlhw.tracking.mlflow import Tracker
        from dlhw.tracking.wandb_run import WandbTracker

        parts = [Tracker.start(cfg, run_dir, resumed=resumed, parent=parent),
                 WandbTracker.start(cfg, run_dir, resumed=resumed, sweep=sweep)]
        started = [p for p in parts if p is not None]
        return cls(started) if started else None

    def epoch(self, row: Dict[str, Any]) -> None:
        for part in self.parts:
            part.epoch(row)

    def finish(self, state: Optional[str], error: Optional[str] = None, model: Any = None) -> None:
        for part in self.parts:
            part.finish(state, error, model)
