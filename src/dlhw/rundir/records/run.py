"""The records of a run folder: status.json, metrics.json, env.json, mlflow.json, and the shape
of history.csv (../layout.py names the files; ../../../../docs/RUN_FOLDER.md describes them).

``read_status(run_dir)`` is the one reader of status.json that every part uses: a ``running``
run whose process is gone reads as ``stale``; no status.json reads as ``unknown``.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dlhw.rundir import layout
from dlhw.rundir.records.base import Record, RecordError
from dlhw.rundir.states import Status


def _status_word(value: Any) -> Status:
    return Status.parse(value)


class StatusRecord(Record):
    """status.json: where a run stands, its times, its pid and heartbeat while it runs, the error it ended with."""

    FILE: ClassVar[str] = layout.STATUS

    status: Status = Field(default=Status.UNKNOWN, description="where the run stands (dlhw.rundir.states.Status)")
    name: str | None = Field(default=None, description="the run's name")
    started: str | None = Field(default=None, description="ISO time the run started")
    updated: str | None = Field(default=None, description="ISO time of the last status change")
    finished: str | None = Field(default=None, description="ISO time it stopped (any ending)")
    pid: int | None = Field(default=None, description="the training process while running")
    heartbeat: str | None = Field(default=None, description="ISO time of the last progress write")
    epoch: int | None = Field(default=None, description="the last epoch reported")
    stage: str | None = Field(default=None, description="the training stage (train, finetune...)")
    epochs_run: int | None = Field(default=None, description="epochs trained when it stopped")
    train_seconds: float | None = Field(default=None, description="seconds spent training")
    error: str | None = Field(default=None, description="why it did not complete (one line)")
    warnings: list[Any] = Field(default_factory=list, description="warnings raised while it ran")
    resumes: int | None = Field(default=None, description="how many times it was resumed (--resume)")
    resumed_from_epoch: int | None = Field(default=None, description="the epoch the last resume continued after")
    pruned_at: int | None = Field(default=None, description="status pruned: the epoch a search's pruner stopped it at")

    _normalise = field_validator("status", mode="before")(_status_word)

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Version 0 (no schema_version): the same keys; status words of older releases read
        through Status.parse ('partial' -> completed, 'pending' -> queued, others -> unknown)."""
        return data

    @classmethod
    def of(cls, run_dir: Path | str) -> StatusRecord:
        """RUN_DIR/status.json as it stands on disk (UNKNOWN status when there is none); a damaged
        file raises RecordError."""
        return cls.read_optional(cls.in_folder(run_dir)) or cls()


class MetricsRecord(Record):
    """metrics.json: written last, so a run folder holding it finished. Per split (train, val,
    test) its samples, loss and metrics; the run's training figures; any other figure an
    evaluation adds (open-set, per-output, diagnostics) is kept as written."""

    FILE: ClassVar[str] = layout.METRICS

    train: dict[str, Any] | None = Field(default=None, description="metrics on the training split")
    val: dict[str, Any] | None = Field(default=None, description="metrics on the validation split")
    test: dict[str, Any] | None = Field(default=None, description="metrics on the test split")
    params: dict[str, Any] | None = Field(default=None, description="parameter counts: total, trainable, non_trainable")
    train_seconds: float | None = Field(default=None, description="seconds spent training")
    best_epoch: int | None = Field(default=None, description="the epoch whose weights were evaluated")
    epochs_run: int | None = Field(default=None, description="epochs trained")
    batch_size: int | None = Field(default=None, description="the training batch size")
    class_names: list[Any] | None = Field(default=None, description="the class names, in label order")
    confusion_matrix: list[Any] | None = Field(default=None, description="rows: true class, columns: predicted")
    diagnostics: Any | None = Field(default=None, description="what the run's diagnostics found")

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> MetricsRecord:
        """The record for the dict an evaluation computed (validated)."""
        return cls.build(values, cls.FILE)


class EnvRecord(Record):
    """env.json: what a run ran on (Python, platform, package versions, devices), its seed, git
    commit and dataset fingerprint; the precision and distribution settings it resolved."""

    FILE: ClassVar[str] = layout.ENV

    python: str | None = Field(default=None, description="the Python version")
    platform: str | None = Field(default=None, description="platform.platform()")
    versions: dict[str, str | None] = Field(default_factory=dict, description="package -> version (null: not installed)")
    devices: list[str] = Field(default_factory=list, description="physical devices TensorFlow saw")
    gpus: list[str] = Field(default_factory=list, description="physical GPUs TensorFlow saw")
    device_used: str | None = Field(default=None, description="cpu or gpu")
    seed: int | None = Field(default=None, description="the run's seed")
    git_commit: str | None = Field(default=None, description="HEAD of the working folder's git repository")
    dataset_fingerprint: str | None = Field(default=None, description="the data's fingerprint (resume refuses changed data)")
    created: str | None = Field(default=None, description="ISO time written")


class MlflowRecord(Record):
    """mlflow.json (tracking.mlflow): the MLflow run this folder was copied to (a sweep's: its parent run)."""

    FILE: ClassVar[str] = layout.MLFLOW

    run_id: str | None = Field(default=None, description="the MLflow run id")
    uri: str | None = Field(default=None, description="the tracking URI")
    experiment: str | None = Field(default=None, description="the MLflow experiment name")
    parent_run_id: str | None = Field(default=None, description="a sweep trial's: its sweep's parent run")


class WandbRecord(Record):
    """wandb.json (tracking.wandb): the Weights & Biases run this folder was copied to; a resumed
    run continues it (``resume="allow"`` with this id), never a second one."""

    FILE: ClassVar[str] = layout.WANDB

    run_id: str | None = Field(default=None, description="the W&B run id")
    project: str | None = Field(default=None, description="the W&B project")
    entity: str | None = Field(default=None, description="the W&B entity (null: the account's default)")
    group: str | None = Field(default=None, description="the W&B group (a sweep trial's: the sweep's name)")
    mode: str | None = Field(default=None, description="online, offline (files under wandb/, upload with wandb sync) or disabled")


class PreprocessingRecord(Record):
    """preprocessing.json: what the model expects as input, for ``dlhw predict`` (written by
    dlhw.data.preprocessing; ``format`` is that module's own version of its content)."""

    FILE: ClassVar[str] = layout.PREPROCESSING

    format: int | None = Field(default=None, description="the version of the input description")
    task: str | None = Field(default=None, description="classification or regression")
    source: str | None = Field(default=None, description="the data source the run trained on")
    class_names: list[Any] | None = Field(default=None, description="the class names, in label order")
    input_shape: list[Any] | None = Field(default=None, description="one sample's shape")
    model_type: str | None = Field(default=None, description="the model type")


class HistoryRow(BaseModel):
    """One row of history.csv (one per epoch; stages of a fine-tune follow each other). Columns
    beyond these (other metrics, per-output losses) follow in name order; an empty cell is
    not known (NaN when read). Read by dlhw.rundir.history.read_history."""

    model_config = ConfigDict(extra="allow")

    stage: str | None = Field(default=None, description="the training stage")
    epoch: float | None = Field(default=None, description="the epoch, from 1")
    loss: float | None = Field(default=None, description="training loss")
    accuracy: float | None = Field(default=None, description="training accuracy (classification)")
    val_loss: float | None = Field(default=None, description="validation loss")
    val_accuracy: float | None = Field(default=None, description="validation accuracy (classification)")
    lr: float | None = Field(default=None, description="the learning rate at the epoch's end")


# -------------------------------------------------------------- readers every part uses
def read_status(run_dir: Path | str) -> StatusRecord:
    """RUN_DIR/status.json, with a ``running`` run whose process is gone shown as ``stale`` and
    no status.json as ``unknown``. A damaged status.json raises RecordError (one line)."""
    rec = StatusRecord.of(run_dir)
    if rec.status is Status.RUNNING and not _alive(rec.pid, rec.heartbeat):
        rec = rec.model_copy(update={"status": Status.STALE})
    return rec


def read_metrics(run_dir: Path | str, tolerant: bool = False) -> dict[str, Any] | None:
    """RUN_DIR/metrics.json's values (None: the run has none); RecordError when it is damaged,
    or None then too with ``tolerant`` (callers that treat a damaged file as no result)."""
    try:
        rec = MetricsRecord.read_optional(MetricsRecord.in_folder(run_dir))
    except RecordError:
        if tolerant:
            return None
        raise
    return rec.as_dict() if rec is not None else None


def _alive(pid: int | None, heartbeat: str | None) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OverflowError, OSError):
        return False
    return not _started_after(pid, heartbeat)  # else the pid was reused by another process


def _started_after(pid: int, stamp: str | None) -> bool:
    """True when process ``pid`` started after the ISO time ``stamp`` (Linux /proc; else False)."""
    try:
        when = _dt.datetime.fromisoformat(str(stamp)).timestamp()
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK") > when + 2
    except (OSError, ValueError, IndexError, StopIteration, TypeError):
        return False


def write_metrics(run_dir: Path | str, values: dict[str, Any]) -> None:
    """RUN_DIR/metrics.json, atomically, as a MetricsRecord (written last: it marks a finished run)."""
    MetricsRecord.build(values, MetricsRecord.in_folder(run_dir)).write(MetricsRecord.in_folder(run_dir))


def write_env(run_dir: Path | str, values: dict[str, Any]) -> None:
    """RUN_DIR/env.json, atomically, as an EnvRecord."""
    EnvRecord.build(values, EnvRecord.in_folder(run_dir)).write(EnvRecord.in_folder(run_dir))


NO_METRICS = "status.json says completed but metrics.json is missing"


def settled_status(status: Status, has_metrics: bool) -> Status:
    """The status a reader shows for a run folder, from status.json's word and whether the folder
    holds metrics.json (written last): completed without metrics is failed (a run cut short between
    the two writes; the error is NO_METRICS), unknown with metrics is completed (an older run without
    status.json). Every reader (report, sweep manifest, API) decides this here."""
    if status is Status.COMPLETED and not has_metrics:
        return Status.FAILED
    if status is Status.UNKNOWN and has_metrics:
        return Status.COMPLETED
    return status


def status_word(run_dir: Path | str) -> Status:
    """The status a run folder's status.json records, as written (no stale check); UNKNOWN when the
    file is missing or damaged. For a sweep's own bookkeeping, which must not stop on one bad folder."""
    try:
        rec = StatusRecord.read_optional(StatusRecord.in_folder(run_dir))
    except RecordError:
        return Status.UNKNOWN
    return rec.status if rec is not None else Status.UNKNOWN
