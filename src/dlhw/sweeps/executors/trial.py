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
from dlhw.sweeps.executors.resources import trial_device
from dlhw.sweeps.records import Job, Result


# ---------------------------------------------------------------------- a trial
def _short(metrics: Dict[str, Any], split: str, key: str) -> Optional[float]:
    value = (metrics.get(split) or {}).get(key)
    return value if isinstance(value, (int, float)) else None


def run_trial(job: Job) -> Result:
    """Validate and train one trial into ``job.run_dir``; never raises for a failed trial."""
    from dlhw.config import validate
    from dlhw.runtime.console import is_quiet, set_quiet
    from dlhw.runtime.locks import FolderBusy
    from dlhw.rundir.status import RunStatus

    start = time.time()
    was_quiet = is_quiet()  # a trial run in this process (--workers 1, Ray local) gives it back as found
    run_dir = job.run_dir  # the trial's folder (``<name>-2``: see session)
    fields: Dict[str, Any] = {"status": "failed"}
    try:
        set_quiet(True)
        cfg = validate(job.raw, job.source)
        from dlhw.orchestration.experiment import run_experiment

        kwargs = dict(out=job.out, name=run_dir.name, overwrite=True, device=trial_device(job.device), quiet=True,
                      threads=job.threads)
        if job.report is not None:  # a search trial: each epoch goes to its pruner (sweeps.sources.search)
            kwargs["prune"] = job.report
        if job.mlflow_parent is not None:
            kwargs["mlflow_parent"] = job.mlflow_parent  # one child run of the sweep's parent run per trial
        outcome = None
        if job.resume and "resume" in inspect.signature(run_experiment).parameters:
            try:  # an interrupted or stale trial continues from its last checkpoint
                outcome = run_experiment(cfg, resume=run_dir, **kwargs)
                fields["resumed"] = True
            except ConfigError as exc:
                if not str(exc).startswith("--resume"):
                    raise
                fields["resumed"] = False  # refused (config or data changed): train it from scratch
        if outcome is None:
            outcome = run_experiment(cfg, **kwargs)
        m = outcome.metrics
        if outcome.status == "paused":  # a scheduler's rung: promoted later, or left paused
            return Result(job.name, "paused", pid=os.getpid(), seconds=round(time.time() - start, 2),
                          train_seconds=m.get("train_seconds"), resumed=fields.get("resumed"),
                          pruned_at=m.get("paused_at"))
        if outcome.status == "pruned":
            fields.update(status="pruned", pruned_at=m.get("pruned_at"), train_seconds=m.get("train_seconds"),
                          error=f"pruned at epoch {m.get('pruned_at')}")
            return Result(job.name, pid=os.getpid(), seconds=round(time.time() - start, 2), **fields)
        fields.update(status="completed", train_seconds=m.get("train_seconds"), best_epoch=m.get("best_epoch"),
                      val_accuracy=_short(m, "val", "accuracy"), test_accuracy=_short(m, "test", "accuracy"),
                      val_loss=_short(m, "val", "loss"), params=(m.get("params") or {}).get("total"))
    except KeyboardInterrupt:
        raise
    except FolderBusy as exc:  # another process took the folder since the sweep looked: left to it
        return Result(job.name, "running", error=f"running elsewhere (pid {exc.pid or '?'})", pid=os.getpid(),
                      seconds=round(time.time() - start, 2))
    except DivergedError as exc:
        fields.update(status="diverged", error=str(exc).split(": ", 1)[-1])
    except DlhwError as exc:
        fields.update(error=" ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - any failure of one trial is recorded, the sweep goes on
        fields.update(error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}")
    finally:
        _clear_keras()
        set_quiet(was_quiet)
    if fields["status"] == "failed" and not (run_dir / layout.STATUS).exists():
        # failed before its run folder existed (bad data path, model error): leave a marked folder
        run_dir.mkdir(parents=True, exist_ok=True)
        RunStatus(run_dir).set("failed", name=job.name, error=fields.get("error"))
    return Result(job.name, pid=os.getpid(), seconds=round(time.time() - start, 2), **fields)


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
