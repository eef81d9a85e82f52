"""Running one sweep trial: ``run_trial(job) -> Result``, the same in every executor.

Every executor (in this process: :mod:`dlhw.sweeps.executors.serial`; a pool of worker
processes: :mod:`dlhw.sweeps.executors.pool`; Ray: :mod:`dlhw.sweeps.executors.ray`) calls
``run_trial(job)`` and hands its Result (:mod:`dlhw.sweeps.records`) to the parent, which alone
writes sweep.json. A trial that fails or diverges is recorded and the sweep goes on. The
executors import this module, never the other way round; :mod:`dlhw.sweeps.engine` chooses one.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from typing import Any, Dict, Optional

from dlhw.errors import ConfigError, DivergedError, DlhwError
from dlhw.rundir import layout
from dlhw.rundir.states import Status
from dlhw.sweeps.records import Job, Result


# ---------------------------------------------------------------------- a trial
def _short(metrics: Dict[str, Any], split: str, key: str) -> Optional[float]:
    value = (metrics.get(split) or {}).get(key)
    return value if isinstance(value, (int, float)) else None


def run_trial(job: Job) -> Result:
    """Validate and train one trial into ``job.run_dir``; never raises for a failed trial."""
    from dlhw.runtime.locks import FolderBusy
    from dlhw.runtime.log import get_logger, restore_level, set_quiet

    start = time.time()
    was_level = get_logger().level  # a trial run in this process (--workers 1, Ray local) gives it back as found
    fields: Dict[str, Any] = {"status": Status.FAILED}
    try:
        set_quiet(True)
        fields.update(_train(job))
    except KeyboardInterrupt:
        raise
    except FolderBusy as exc:  # another process took the folder since the sweep looked: left to it
        fields.update(status=Status.RUNNING, error=f"running elsewhere (pid {exc.pid or '?'})")
    except DivergedError as exc:
        fields.update(status=Status.DIVERGED, error=str(exc).split(": ", 1)[-1])
    except DlhwError as exc:
        fields.update(error=" ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - any failure of one trial is recorded, the sweep goes on
        fields.update(error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}")
    finally:
        _clear_keras()
        restore_level(was_level)
    if fields["status"] == Status.FAILED:
        _mark_failed(job, fields.get("error"))
    return Result(job.name, pid=os.getpid(), seconds=round(time.time() - start, 2), **fields)


def _experiment_options(job: Job) -> Dict[str, Any]:
    """run_experiment's keywords for a trial: its folder, device, threads, pruner, MLflow parent."""
    kwargs: Dict[str, Any] = dict(out=job.out, name=job.run_dir.name, overwrite=True, quiet=True,
                                  device=job.device, threads=job.threads)
    if job.report is not None:  # a search trial: each epoch goes to its pruner (sweeps.sources.search)
        kwargs["prune"] = job.report
    if job.mlflow_parent is not None:
        kwargs["mlflow_parent"] = job.mlflow_parent  # one child run of the sweep's parent run per trial
    if job.sweep is not None:
        kwargs["sweep"] = job.sweep  # tracking.wandb: the sweep's name is the trial's W&B group
    return kwargs


def _train(job: Job) -> Dict[str, Any]:
    """Train the trial (resumed from its checkpoint where asked and allowed); its Result's fields."""
    from dlhw.config import validate
    from dlhw.orchestration.experiment import run_experiment

    cfg = validate(job.raw, job.source)
    kwargs = _experiment_options(job)
    fields: Dict[str, Any] = {}
    outcome = None
    if job.resume and "resume" in inspect.signature(run_experiment).parameters:
        try:  # an interrupted or stale trial continues from its last checkpoint
            outcome = run_experiment(cfg, resume=job.run_dir, **kwargs)
            fields["resumed"] = True
        except ConfigError as exc:
            if not str(exc).startswith("--resume"):
                raise
            fields["resumed"] = False  # refused (config or data changed): train it from scratch
    if outcome is None:
        outcome = run_experiment(cfg, **kwargs)
    m = outcome.metrics
    if outcome.status == Status.PAUSED:  # a scheduler's rung or generation: continued later, or left paused
        return {**fields, "status": Status.PAUSED, "train_seconds": m.get("train_seconds"),
                "pruned_at": m.get("paused_at")}
    if outcome.status == Status.PRUNED:
        return {**fields, "status": Status.PRUNED, "pruned_at": m.get("pruned_at"), "train_seconds": m.get("train_seconds"),
                "error": f"pruned at epoch {m.get('pruned_at')}"}
    return {**fields, "status": Status.COMPLETED, "train_seconds": m.get("train_seconds"), "best_epoch": m.get("best_epoch"),
            "val_accuracy": _short(m, "val", "accuracy"), "test_accuracy": _short(m, "test", "accuracy"),
            "val_loss": _short(m, "val", "loss"), "params": (m.get("params") or {}).get("total")}


def _mark_failed(job: Job, error: Optional[str]) -> None:
    """A trial that failed before its run folder existed (bad data path, model error): a marked folder."""
    from dlhw.rundir.status import RunStatus

    run_dir = job.run_dir
    if not (run_dir / layout.STATUS).exists():
        from dlhw.runtime.files import ensure_dir

        ensure_dir(run_dir)
        RunStatus(run_dir).set(Status.FAILED, name=job.name, error=error)


def _clear_keras() -> None:
    if "keras" in sys.modules:
        try:
            # Layer names restart for the next trial. The full gc.collect() (free_memory) costs
            # ~0.35 s after a 600-layer backbone model and Python's collector runs anyway; it is
            # kept where device memory held by unreachable models matters: on a GPU.
            tf = sys.modules.get("tensorflow")
            gpu = bool(tf is not None and tf.config.list_logical_devices("GPU"))
            sys.modules["keras"].backend.clear_session(free_memory=gpu)
        except Exception:  # noqa: BLE001 - best effort between trials
            pass
