"""How a run that a search's pruner stopped ends: status ``pruned``, history and curves kept (or
``paused`` at a scheduler's rung: its checkpoint kept, continued when the trial is promoted).

Nothing is evaluated and no model.keras is written (the point of pruning is to spend no more on
the trial); status.json says at which epoch it stopped and the last value reported.
"""

from __future__ import annotations

from pathlib import Path

from dlhw.rundir.folder import drop_checkpoints


def end_pruned(trainer, result, status, run_dir: Path) -> dict:
    """Record the pruned end; returns what the run's outcome carries (RunOutcome.metrics)."""
    trainer.close(raise_errors=False)  # the last checkpoint: nothing resumes a pruned trial
    drop_checkpoints(run_dir)
    epoch = int(result.pruned_at)
    status.set("pruned", epochs_run=result.epochs_run, pruned_at=epoch, train_seconds=result.train_seconds,
               error=f"pruned at epoch {epoch}")
    return {"pruned_at": epoch, "epochs_run": result.epochs_run, "train_seconds": result.train_seconds}


def end_paused(trainer, result, status) -> dict:
    """A scheduler paused the run at a rung: its checkpoint is kept (a promotion continues from it)."""
    trainer.close()  # the rung's checkpoint on disk before the run says paused
    epoch = int(result.pruned_at)
    status.set("paused", epochs_run=result.epochs_run, paused_at=epoch, train_seconds=result.train_seconds,
               error=None)
    return {"paused_at": epoch, "epochs_run": result.epochs_run, "train_seconds": result.train_seconds}
