"""A sweep's parent MLflow run: grid and folder sweeps (dlhw.sweeps.engine) and searches
(dlhw.sweeps.search). Its id is kept in ``<sweep>/mlflow.json``: running the sweep again
continues it. Each trial's own run (dlhw.tracking.mlflow.Tracker) is its child.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Optional

from dlhw.rundir import layout
from dlhw.tracking.mlflow import (
    PARAM_VALUE_MAX,
    _client,
    _continued,
    _experiment_id,
    _unreachable,
    _version,
    require_mlflow,
    settings,
    target,
)


class SweepRun:
    """A sweep's parent MLflow run. ``parent_id`` goes to every trial's job: '' when the
    server could not be reached (warned once here; the trials do not try again)."""

    def __init__(self, client, parent_id: str, uri: Optional[str]):
        self.client = client
        self.parent_id = parent_id
        self.uri = uri

    @classmethod
    def start(cls, cfg, name: str, sweep_dir: Path, params: Dict[str, Any]) -> Optional["SweepRun"]:
        """The parent run of sweep ``name`` for the tracking settings of ``cfg`` (a trial's config,
        or the plain data of a search's base config; None or untracked: no parent run, returns
        None); ``params``: what the parent run records of the sweep (logged when it is created).
        Refuses (exit 2) when mlflow is missing."""
        if cfg is None or settings(cfg) is None:
            return None
        require_mlflow()
        uri, experiment = target(cfg)
        saved_path = Path(sweep_dir) / layout.MLFLOW
        from dlhw.tracking.bounded import Caller

        caller = Caller(uri)
        try:
            client, run_id = caller.call(_open_parent, uri, experiment, name, sweep_dir, params)
            from dlhw.rundir.records import MlflowRecord

            MlflowRecord.build({"run_id": run_id, "uri": uri, "experiment": experiment}).write(saved_path)
        except Exception as exc:  # noqa: BLE001
            _unreachable(uri, exc)
            return cls(None, "", uri)
        run = cls(client, run_id, uri)
        run.caller = caller
        return run

    caller: Any = None  # dlhw.tracking.bounded.Caller

    def finish(self, sweep_dir: Path, ok: int, failed: int, interrupted: bool = False) -> None:
        if not self.parent_id:
            return
        try:
            self.caller.call(self._finish, sweep_dir, ok, failed, interrupted) if self.caller else \
                self._finish(sweep_dir, ok, failed, interrupted)
        except Exception as exc:  # noqa: BLE001
            _unreachable(self.uri, exc, during=True)

    def _finish(self, sweep_dir: Path, ok: int, failed: int, interrupted: bool) -> None:
        from mlflow.entities import Metric, RunTag

        from dlhw.rundir.states import Status
        from dlhw.tracking.mlflow import mlflow_status

        word = Status.INTERRUPTED if interrupted else (Status.FAILED if failed else Status.COMPLETED)
        status = mlflow_status(word)
        now = int(time.time() * 1000)
        self.client.log_batch(self.parent_id, metrics=[Metric("trials_ok", float(ok), now, 0),
                                                       Metric("trials_failed", float(failed), now, 0)],
                              tags=[RunTag("dlhw.status", word.value)], synchronous=True)
        manifest = Path(sweep_dir) / layout.SWEEP_MANIFEST
        if manifest.exists():
            self.client.log_artifact(self.parent_id, str(manifest))
        self.client.set_terminated(self.parent_id, status)


def _open_parent(uri: Optional[str], experiment: str, name: str, sweep_dir: Path, params: Dict[str, Any]) -> tuple:
    """(client, run id) of the sweep's parent run, continued or created, marked running."""
    client = _client(uri)
    run_id = _continued(client, Path(sweep_dir), uri)  # a sweep run again continues its parent run
    if run_id is None:
        from mlflow.entities import Param

        from dlhw.tracking.redact import redact

        run = client.create_run(_experiment_id(client, experiment), run_name=name,
                                tags={"mlflow.source.name": "dlhw", "dlhw.sweep": name, "dlhw.version": _version()})
        run_id = run.info.run_id
        client.log_batch(run_id, params=[Param(k, redact(v if isinstance(v, str) else json.dumps(v, default=str))
                                               [:PARAM_VALUE_MAX]) for k, v in params.items()], synchronous=True)
    client.set_tag(run_id, "dlhw.status", "running")
    return client, run_id
