"""``tracking: {mlflow: {uri: ..., experiment: ...}}``: each run copied to an MLflow run.

What an MLflow run of dlhw holds:

- params: the resolved config, flattened to dotted keys (``model.layers.0.units``);
  ``tracking`` itself is left out;
- metrics: every epoch's history row as ``epoch/<column>`` (``epoch/loss``,
  ``epoch/val_accuracy``, ``epoch/lr``; step = the epoch, continuous over stages),
  then the final per-split figures of metrics.json (``test_accuracy``, ``val_loss``, ...,
  ``best_epoch``, ``train_seconds``, ``params_total``);
- tags: ``dlhw.status`` (dlhw's own word), ``dlhw.config_hash``, ``dlhw.git_commit`` (and
  MLflow's ``mlflow.source.git.commit``), ``dlhw.version``, ``dlhw.run_dir``, ``dlhw.error``;
- artifacts: the run folder's files (not checkpoints/ nor dot files), and the trained model
  as an MLflow Keras model under ``model/`` (``tracking.mlflow.log_model``);
- its status: completed -> FINISHED; failed, diverged -> FAILED; interrupted, pruned,
  stale -> KILLED.

A sweep is a parent run (:mod:`dlhw.tracking.sweep_run`; its id in ``<sweep>/mlflow.json``)
with one child run per trial (tag ``mlflow.parentRunId``); worker processes get the parent's
id with their job. A
resumed dlhw run continues the MLflow run whose id its folder keeps (``mlflow.json``,
written atomically); epochs trained after the last checkpoint and trained again appear
twice at their step (MLflow keeps every value logged; the later one is the resumed run's).

The run folder is the record, MLflow a copy: a missing ``mlflow`` package is refused
before anything runs (exit 2, with the pip line), but once a run has started nothing here
raises. An unreachable server gives one warning and the run goes on without MLflow. The
client is made to give up fast: ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` 1 and
``MLFLOW_HTTP_REQUEST_TIMEOUT`` 10 s unless set already (MLflow's defaults, 7 retries with
back-off and 120 s, keep a run waiting for minutes on a closed port); every call is bounded
(:mod:`dlhw.tracking.bounded`: a local store that cannot be written is refused before MLflow
retries it, no call to a server waits more than ``CALL_SECONDS``, an upload ``UPLOAD_SECONDS``)
and MLflow's own INFO lines are off.
Credentials in the URI are used to connect and shown nowhere (:mod:`dlhw.tracking.redact`).

Only ``MlflowClient`` is used (no ``mlflow.start_run``): nothing global, so the trials a
sweep runs one after another in one process never share an active run.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from dlhw.rundir import layout
from dlhw.runtime.log import get_logger
from dlhw.tracking.settings import require_package, tracker_settings

log = get_logger(__name__)

PIP_LINE = 'pip install "dlhw[mlflow]"'
def mlflow_status(state: object) -> str:
    """The MLflow run status for a dlhw status: FINISHED (it has its results), KILLED (stopped
    before its end: interrupted, pruned, stale, paused), else FAILED."""
    from dlhw.rundir.states import Status

    s = Status.parse(state)
    return "FINISHED" if s.succeeded else "KILLED" if s.stopped else "FAILED"


DEFAULT_EXPERIMENT = "dlhw"
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
PARAM_VALUE_MAX = 6000  # MLflow's limit on a param's value
BATCH = 100             # params per log_batch (MLflow's limit)
METRIC_BATCH = 1000     # metrics per log_batch (MLflow's limit)
FLUSH_SECONDS = 2.0     # epoch metrics are sent at most this often (and when the run ends)


def settings(cfg) -> Optional[Any]:
    """``cfg.tracking.mlflow`` (None: not tracked); ``cfg``: a config, or plain config data (a
    search's base config, whose ``tracking`` section is read and checked alone)."""
    return tracker_settings(cfg, "mlflow")


def require_mlflow():
    """The mlflow module, or ConfigError (exit 2) with the pip line that installs it."""
    return require_package("mlflow", PIP_LINE)


def check_available(cfg) -> None:
    """Refuse a tracked config when mlflow is missing, before a run folder exists."""
    if settings(cfg) is not None:
        require_mlflow()


def target(cfg) -> tuple:
    """(tracking URI or None for MLflow's default, experiment name)."""
    s = settings(cfg)
    assert s is not None, "target() is for a config with tracking.mlflow"
    uri = s.uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    experiment = s.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    return uri, experiment


def _client(uri: Optional[str]):
    """An MlflowClient that gives up fast on an unreachable server (see the module doc)."""
    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)
    if uri and (uri.startswith("file:") or "://" not in uri):
        # MLflow 3 refuses its file store (maintenance mode) unless asked; file:./mlruns is documented here
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from dlhw.tracking.bounded import preflight, quiet_mlflow

    preflight(uri)  # a read-only or special local store: refused now, not after MLflow's retries
    quiet_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _reason(exc: BaseException) -> str:
    from dlhw.tracking.redact import redact

    text = redact(" ".join(str(exc).split())) or type(exc).__name__
    return text[:200] + ("..." if len(text) > 200 else "")


def _experiment_id(client, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    from dlhw.tracking.bounded import artifact_root

    uri = getattr(client, "_tracking_client", None) and client._tracking_client.tracking_uri
    return client.create_experiment(name, artifact_location=artifact_root(uri))  # never an unasked ./mlruns


def flatten(data: Any, prefix: str = "") -> Dict[str, str]:
    """Dotted keys -> text values (MLflow params): nested sections and lists of sections are
    walked (``model.layers.0.units``); other lists and scalars are written as JSON."""
    out: Dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}.{i}"))
    else:
        text = data if isinstance(data, str) else json.dumps(data, default=str)
        out[prefix] = text[:PARAM_VALUE_MAX]
    return out


def final_metrics(metrics: Dict[str, Any]) -> Dict[str, float]:
    """metrics.json's headline figures as MLflow metrics: ``<split>_<name>`` per split, and
    best_epoch, epochs_run, train_seconds, params_total / params_trainable."""
    out: Dict[str, float] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)

    for split in ("val", "test", "train"):  # this order in TensorBoard's HParams table
        for k, v in (metrics.get(split) or {}).items():
            if k != "samples":
                put(f"{split}_{k}", v)
    for k in ("best_epoch", "epochs_run", "train_seconds"):
        put(k, metrics.get(k))
    for k, v in (metrics.get("params") or {}).items():
        put(f"params_{k}", v)
    return out


def _version() -> str:
    """dlhw's version (the package running, imported as this module's parent)."""
    import sys

    return str(getattr(sys.modules.get("dlhw"), "__version__", "unknown"))


class Tracker:
    """One dlhw run's MLflow run. Every call is guarded: the first failure warns once
    (naming the URI) and switches the tracker off; the run never sees an exception."""

    def __init__(self, client, run_id: str, uri: Optional[str], run_dir: Path, log_model: bool):
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.run_dir = Path(run_dir)
        self.log_model = log_model
        self.off = False
        self.pending: List[Any] = []  # epoch metrics not sent yet
        self.sent = time.monotonic()

    # ------------------------------------------------------------------ start
    @classmethod
    def start(cls, cfg, run_dir: Path, resumed: bool = False, parent: Optional[str] = None) -> Optional["Tracker"]:
        """The run's MLflow run, created (or, for a resumed run, continued) with its params and
        tags; None when the config asks for no tracking, when ``parent`` is '' (the sweep
        could not reach the server: warned once there), or when the server cannot be reached
        (one warning)."""
        s = settings(cfg)
        if s is None or parent == "":
            return None
        require_mlflow()
        uri, experiment = target(cfg)
        from dlhw.tracking.bounded import Caller

        caller = Caller(uri)
        try:
            client, run_id = caller.call(_open_run, uri, experiment, run_dir, resumed, parent)
            from dlhw.rundir.records import MlflowRecord

            MlflowRecord.build({"run_id": run_id, "uri": uri, "experiment": experiment, "parent_run_id": parent}
                               ).write(MlflowRecord.in_folder(run_dir))
        except Exception as exc:  # noqa: BLE001 - an unreachable server never stops a run
            _unreachable(uri, exc)
            return None
        tracker = cls(client, run_id, uri, run_dir, s.log_model)
        tracker.caller = caller
        tracker._start_logs(cfg)
        return tracker

    caller: Any = None  # dlhw.tracking.bounded.Caller: every call bounded in time

    def _start_logs(self, cfg) -> None:
        from mlflow.entities import Param, RunTag

        from dlhw.config.fingerprint import fingerprint
        from dlhw.rundir.env import git_commit

        dump = {k: v for k, v in cfg.dump().items() if k != "tracking"}
        from dlhw.tracking.redact import redact_data

        params = [Param(k, v) for k, v in sorted(flatten(redact_data(dump)).items())]
        commit = git_commit()
        tags = {"dlhw.status": "running", "dlhw.config_hash": fingerprint(cfg), "dlhw.version": _version(),
                "dlhw.run_dir": str(self.run_dir.resolve())}
        if commit:
            tags.update({"dlhw.git_commit": commit, "mlflow.source.git.commit": commit})
        for i in range(0, max(len(params), 1), BATCH):
            batch = params[i:i + BATCH]
            extra = [RunTag(k, v) for k, v in tags.items()] if i == 0 else []
            if not self._guard(self.client.log_batch, self.run_id, params=batch, tags=extra, synchronous=True):
                return

    # -------------------------------------------------------------- progress
    def epoch(self, row: Dict[str, Any]) -> None:
        """One history row (a Keras epoch's logs, from the trainer's HistoryRecorder) as
        ``epoch/<key>`` metrics, step = the epoch. Sent at most every ``FLUSH_SECONDS`` (a
        request per epoch to a remote server would cost small models more than their epoch)."""
        if self.off:
            return
        from mlflow.entities import Metric

        step, now = int(row.get("epoch", 0)), int(time.time() * 1000)
        self.pending.extend(Metric(f"epoch/{k}", float(v), now, step) for k, v in row.items()
                            if k not in ("epoch", "stage") and isinstance(v, (int, float))
                            and not isinstance(v, bool) and math.isfinite(v))
        if time.monotonic() - self.sent >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Send the epoch metrics held back."""
        pending, self.pending, self.sent = self.pending, [], time.monotonic()
        for i in range(0, len(pending), METRIC_BATCH):
            if not self._guard(self.client.log_batch, self.run_id, metrics=pending[i:i + METRIC_BATCH],
                               synchronous=True):
                return

    # ------------------------------------------------------------------- end
    def finish(self, state: Optional[str], error: Optional[str] = None, model=None) -> None:
        """Final metrics, status tag, files, the model (completed runs) and the MLflow status."""
        if self.off:
            return
        from mlflow.entities import Metric, RunTag

        from dlhw.rundir.records import read_metrics

        self.flush()
        state = state or "failed"
        metrics = (read_metrics(self.run_dir, tolerant=True) or {}) if state == "completed" else {}
        now = int(time.time() * 1000)
        step = int(metrics.get("epochs_run") or 0)
        finals = [Metric(k, v, now, step) for k, v in final_metrics(metrics).items()]
        tags = [RunTag("dlhw.status", state)]
        if error:
            from dlhw.tracking.redact import redact

            tags.append(RunTag("dlhw.error", redact(str(error))[:5000]))
        self._guard(self.client.log_batch, self.run_id, metrics=finals, tags=tags, synchronous=True)
        self._upload_files()
        if state == "completed" and self.log_model and model is not None and (self.run_dir / layout.MODEL).exists():
            self._guard(self._log_keras_model, model, _local=True)
        self._guard(self.client.set_terminated, self.run_id, mlflow_status(state))

    def _upload_files(self) -> None:
        for path in run_files(self.run_dir):
            rel = path.relative_to(self.run_dir).parent.as_posix()
            if not self._guard(self.client.log_artifact, self.run_id, str(path), None if rel == "." else rel,
                               _upload=True):
                return

    def _log_keras_model(self, model) -> None:
        """The model as an MLflow Keras model (artifact ``model/``; mlflow.keras reads it back from
        ``runs:/<id>/model``). Its pip requirements are given, not inferred (inferring
        them loads the model again in a subprocess: seconds per run)."""
        import logging
        import tempfile

        import keras
        import mlflow.keras

        reqs = [f"keras=={keras.__version__}"]
        try:
            from importlib import metadata

            reqs.append(f"tensorflow=={metadata.version('tensorflow')}")
        except Exception:  # noqa: BLE001 - a build of TensorFlow under another name
            pass
        log = logging.getLogger("mlflow.keras.save")  # "saving a Keras model without specifying model signature"
        level = log.level
        with tempfile.TemporaryDirectory(prefix="dlhw-mlflow-") as tmp:
            folder = Path(tmp) / "model"
            log.setLevel(logging.ERROR)
            try:  # local work, here; only the upload waits on the service (bounded)
                if not self._guard(mlflow.keras.save_model, model, str(folder), pip_requirements=reqs, _local=True):
                    return
            finally:
                log.setLevel(level)
            self._guard(self.client.log_artifacts, self.run_id, str(folder), "model", _upload=True)

    # --------------------------------------------------------------- guarding
    def _guard(self, fn, *args, _upload: bool = False, _local: bool = False, **kwargs) -> bool:
        if self.off:
            return False
        try:
            if self.caller is not None and not _local:
                (self.caller.upload if _upload else self.caller.call)(fn, *args, **kwargs)
            else:
                fn(*args, **kwargs)
            return True
        except Exception as exc:  # noqa: BLE001 - tracking is a copy: the run goes on
            self.off = True
            _unreachable(self.uri, exc, during=True)
            return False


def _open_run(uri: Optional[str], experiment: str, run_dir: Path, resumed: bool, parent: Optional[str]) -> tuple:
    """(client, run id): the MLflow run a dlhw run copies to, continued or created."""
    client = _client(uri)
    run_id = _continued(client, run_dir, uri) if resumed else None
    if run_id is None:
        tags = {"mlflow.source.name": "dlhw", "mlflow.source.type": "LOCAL"}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = client.create_run(_experiment_id(client, experiment), run_name=Path(run_dir).name, tags=tags)
        run_id = run.info.run_id
    return client, run_id


def _unreachable(uri: Optional[str], exc: BaseException, during: bool = False) -> None:
    from dlhw.tracking.redact import redact

    where = redact(uri) or "MLflow's default tracking URI"
    log.warning(f"tracking.mlflow: {'lost' if during else 'cannot reach'} {where} ({_reason(exc)}); "
                f"the run goes on without MLflow (its run folder is the record)")


def _continued(client, run_dir: Path, uri: Optional[str]) -> Optional[str]:
    """The MLflow run id a resumed folder was copied to (same URI), marked running again; else None."""
    from dlhw.rundir.records import MlflowRecord, RecordError
    from dlhw.tracking.redact import redact

    try:
        saved = MlflowRecord.read_optional(MlflowRecord.in_folder(run_dir))
    except RecordError:
        saved = None  # damaged: a new MLflow run (the folder's mlflow.json is rewritten)
    run_id = saved.run_id if saved is not None else None
    if not run_id or saved is None or saved.uri not in (uri, redact(uri)):  # mlflow.json keeps the URI redacted
        return None
    try:
        client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - deleted there: a new MLflow run
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            return None
        raise
    client.update_run(run_id, status="RUNNING")
    return run_id


def run_files(run_dir: Path) -> Iterable[Path]:
    """The files of a run folder that go to MLflow: all but dot files (locks, temporaries) and
    checkpoints/ (resume state, removed when a run completes) nor wandb/ (W&B's own files)."""
    root = Path(run_dir)
    out: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and
                             not (Path(dirpath) == root and d in (layout.CHECKPOINTS, layout.WANDB_DIR)))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return out
