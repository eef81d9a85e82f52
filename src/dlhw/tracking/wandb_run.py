"""One dlhw run's Weights & Biases run (what it holds: :mod:`dlhw.tracking.wandb`).

Every call is guarded: the first failure warns once and switches the tracker off; the run never
sees an exception from W&B.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from dlhw.rundir import layout
from dlhw.tracking.wandb import (
    IMAGES,
    finite,
    init_kwargs,
    require_wandb,
    resolve_mode,
    run_files,
    settings,
    warn_failed,
)


class WandbTracker:
    """A started W&B run; ``epoch`` per history row, ``finish`` once with how the run ended."""

    def __init__(self, run, run_dir: Path, log_model: bool):
        self.run = run
        self.run_dir = Path(run_dir)
        self.log_model = log_model
        self.off = False

    # ------------------------------------------------------------------ start
    @classmethod
    def start(cls, cfg, run_dir: Path, resumed: bool = False,
              sweep: Optional[Dict[str, Any]] = None) -> Optional["WandbTracker"]:
        """The run's W&B run, created (or, for a resumed run, continued) with its config; None
        when the config asks for no W&B, when ``mode`` is disabled, or when wandb.init fails
        (one warning). ``sweep``: a trial's {"name": the sweep's name, "varied": {key: value}}."""
        s = settings(cfg)
        if s is None:
            return None
        wandb = require_wandb()
        settled = (sweep or {}).get("wandb_mode")  # a sweep's trials: settled (and said) once by the sweep
        mode, why = (settled, None) if settled and not s.mode else resolve_mode(s)
        if mode == "disabled":
            return None
        try:
            kwargs = init_kwargs(cfg, s, run_dir, mode, resumed, sweep)
            if why:
                from dlhw.runtime.log import get_logger

                get_logger(__name__).info(f"tracking.wandb: {why}; logging offline to {Path(kwargs['dir']) / layout.WANDB_DIR}, "
                     f"upload later with: wandb sync {Path(kwargs['dir']) / layout.WANDB_DIR}/offline-run-*")
            run = wandb.init(**kwargs)
            run.define_metric("epoch")
            run.define_metric("*", step_metric="epoch")
            from dlhw.rundir.records import WandbRecord

            WandbRecord.build({"run_id": run.id, "project": run.project, "entity": kwargs["entity"],
                               "group": kwargs["group"], "mode": mode}).write(WandbRecord.in_folder(run_dir))
        except Exception as exc:  # noqa: BLE001 - a W&B failure never stops a run
            warn_failed(exc)
            return None
        return cls(run, run_dir, s.log_model)

    # -------------------------------------------------------------- progress
    def epoch(self, row: Dict[str, Any]) -> None:
        """One history row (history.csv's names) as W&B history, charted against ``epoch``."""
        data = {k: float(v) for k, v in row.items() if k != "stage" and finite(v)}
        if isinstance(row.get("stage"), str):
            data["stage"] = row["stage"]
        self._guard(self.run.log, data)

    # ------------------------------------------------------------------- end
    def finish(self, state: Optional[str], error: Optional[str] = None, model: Any = None) -> None:
        """Summary (final metrics, dlhw.status), plots, the run folder's files, the model when
        asked, and the run's end (exit code 0: completed or pruned)."""
        if self.off:  # lost during the run (warned): closed without more calls
            self._guard_quiet(self.run.finish, exit_code=1)
            return
        from dlhw.rundir.states import Status

        status = Status.parse(state or Status.FAILED)
        self._guard(self._summary, status, error)
        if status is Status.PRUNED:
            self._guard(self._tag, "pruned")
        self._guard(self._images)
        self._guard(self._files)
        if status is Status.COMPLETED and self.log_model and (self.run_dir / layout.MODEL).is_file():
            self._guard(self._model)
        code = 0 if status in (Status.COMPLETED, Status.PRUNED) else 1
        if not self._guard(self.run.finish, exit_code=code):
            self._guard_quiet(self.run.finish, exit_code=1)

    def _summary(self, status: Any, error: Optional[str]) -> None:
        from dlhw.rundir.records import read_metrics, read_status
        from dlhw.tracking.mlflow import final_metrics
        from dlhw.tracking.redact import redact

        metrics = read_metrics(self.run_dir, tolerant=True) or {}
        summary: Dict[str, Any] = {"dlhw.status": status.value}
        summary.update(final_metrics(metrics) if status.value == "completed" else {})
        if status.value == "pruned":
            summary["pruned_at"] = read_status(self.run_dir).pruned_at
        if error:
            summary["dlhw.error"] = str(redact(str(error)))[:2000]
        self.run.summary.update(summary)

    def _tag(self, tag: str) -> None:
        self.run.tags = tuple(self.run.tags or ()) + (tag,)

    def _images(self) -> None:
        import wandb

        found = {name.rsplit(".", 1)[0]: wandb.Image(str(self.run_dir / name))
                 for name in IMAGES if (self.run_dir / name).is_file()}
        if found:
            self.run.log(found)

    def _files(self) -> None:
        import wandb

        files = list(run_files(self.run_dir))
        if not files:
            return
        art = wandb.Artifact(f"run-{self.run.id}", type="run-folder", description=f"dlhw run folder {self.run_dir.name}")
        for path in files:
            art.add_file(str(path), name=path.relative_to(self.run_dir).as_posix(), policy="immutable")
        self.run.log_artifact(art)

    def _model(self) -> None:
        import wandb

        art = wandb.Artifact(f"model-{self.run.id}", type="model", description=f"model.keras of {self.run_dir.name}")
        art.add_file(str(self.run_dir / layout.MODEL), name=layout.MODEL, policy="immutable")
        self.run.log_artifact(art)

    # --------------------------------------------------------------- guarding
    def _guard(self, fn, *args, **kwargs) -> bool:
        if self.off:
            return False
        try:
            fn(*args, **kwargs)
            return True
        except Exception as exc:  # noqa: BLE001 - tracking is a copy: the run goes on
            self.off = True
            warn_failed(exc, during=True)
            return False

    @staticmethod
    def _guard_quiet(fn, *args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - already warned once
            pass
