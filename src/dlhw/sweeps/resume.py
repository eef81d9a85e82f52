"""What a sweep does with a trial an earlier run left on disk (where it stands: dlhw.sweeps.manifest.locate).

Completed with this config: skipped (``--rerun`` trains it again). Unfinished (failed, diverged,
interrupted, stale): trained again in its folder, from its last checkpoint where it has one.
Running in another process: left alone. Completed with another config (another ``--set``): the
sweep is refused before anything is written (sources.planned); with ``--rerun`` the new config
trains in that folder. A trial never gets a second folder. (``<trial>-2`` folders that earlier
releases made are still found: dlhw.sweeps.manifest.trial_folders.) Damaged (config.yaml or
checkpoint unreadable): moved aside into ``.damaged/`` and trained from scratch. Every source of
trials (dlhw.sweeps.sources) uses these, so grids and searches resume alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Tuple

from dlhw.errors import ConfigError
from dlhw.rundir.records import read_metrics
from dlhw.rundir.states import Status
from dlhw.sweeps.manifest import Where
from dlhw.sweeps.planning.plan import Trial
from dlhw.sweeps.records import Result

DAMAGED = ".damaged"  # damaged trial folders are kept here (dot: never read as runs by reports)


def done_result(name: str, run_dir: Path) -> Result:
    """A trial an earlier run completed, as this run's (skipped) Result."""
    m = read_metrics(run_dir, tolerant=True) or {}
    val, test = m.get("val") or {}, m.get("test") or {}
    return Result(name, Status.SKIPPED, train_seconds=m.get("train_seconds"), val_accuracy=val.get("accuracy"),
                  test_accuracy=test.get("accuracy"), val_loss=val.get("loss"), best_epoch=m.get("best_epoch"),
                  params=(m.get("params") or {}).get("total"))


def set_aside(folder: Path, sweep_dir: Path) -> Path:
    """Move a damaged trial folder to SWEEP/.damaged/<name>[-N] and return where it went."""
    aside = sweep_dir / DAMAGED
    from dlhw.runtime.files import ensure_dir

    ensure_dir(aside)
    target, n = aside / folder.name, 2
    while target.exists():
        target, n = aside / f"{folder.name}-{n}", n + 1
    try:
        folder.rename(target)
    except OSError as exc:
        raise ConfigError(f"{folder}: damaged, and cannot be moved aside to {target}: {exc.strerror}") from None
    return target


def place(t: Trial, where: Where, sweep_dir: Path, rerun: bool, echo: Callable[[str], None]) -> Tuple[str, bool]:
    """(the run folder's name, resume or not) for trial ``t`` that is to run, with a line saying why."""
    folder, resume = where.folder, False
    if where.state == "damaged":
        aside = set_aside(where.folder, sweep_dir)
        echo(f"{t.name}: {where.detail}; moved it to {aside} and training it from scratch")
    elif where.state == "changed":  # only with --rerun: refused before anything was written otherwise
        echo(f"{t.name}: completed with another config ({where.detail}); --rerun: training it again in its folder")
    elif where.state == "unfinished":
        resume = where.resumable and not rerun
        echo(f"{t.name}: unfinished ({where.detail}), " + ("resuming it from its last checkpoint" if resume
                                                           else "training it again"))
    elif where.state == "done":
        echo(f"{t.name}: --rerun: training it again")
    return folder.name, resume
