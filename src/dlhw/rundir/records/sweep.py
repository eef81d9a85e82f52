"""The records of a sweep folder: sweep.json (the manifest, one TrialEntry per trial) and the
lines of its append-only log, sweep.jsonl (dlhw.rundir.sweep_log writes them).

``read_manifest(sweep_dir)`` is the one reader: sweep.json with sweep.jsonl's events applied,
the manifest sweep.json would hold had it been rewritten after every event. A search's study
definition is a record of its own (dlhw.sweeps), built on the same base.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dlhw.rundir import layout
from dlhw.rundir.records.base import (
    Record,
    RecordError,
    RecordMissing,
    load_json_file,
    validation_line,
)
from dlhw.rundir.states import Status


def _status_word(value: Any) -> Status:
    return Status.parse(value)


class TrialEntry(BaseModel):
    """One trial of sweep.json: what it varies, where its run folder is, how it ended."""

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")

    name: str = Field(description="the trial's name (its run folder unless run_dir says otherwise)")
    status: Status = Field(default=Status.QUEUED, description="where the trial stands (dlhw.rundir.states.Status)")
    error: str | None = Field(default=None, description="why it did not complete (one line)")
    run_dir: str | None = Field(default=None, description="its run folder inside the sweep folder (<name>-2: an older one kept)")
    group: str | None = Field(default=None, description="repeats of one trial share a group")
    repeat: int | None = Field(default=None, description="which repeat (0 when repeats is 1)")
    seed: int | None = Field(default=None, description="the trial's seed")
    varied: dict[str, Any] = Field(default_factory=dict, description="dotted key -> the value this trial uses")
    label: str | None = Field(default=None, description="the varied values as one short line")
    source: str | None = Field(default=None, description="the file (or grid) the trial came from")
    hash: str | None = Field(default=None, description="the resolved config's fingerprint")
    shape: str | None = Field(default=None, description="the fingerprint without seed and epochs (time estimates)")
    epochs: int | None = Field(default=None, description="epochs the trial trains")
    train_seconds: float | None = Field(default=None, description="seconds spent training")
    val_accuracy: float | None = Field(default=None, description="from its metrics.json")
    test_accuracy: float | None = Field(default=None, description="from its metrics.json")
    best_epoch: int | None = Field(default=None, description="from its metrics.json")
    params: int | None = Field(default=None, description="parameter count")
    pruned_at: int | None = Field(default=None, description="status pruned: the epoch a search's pruner stopped it at")

    _normalise = field_validator("status", mode="before")(_status_word)

    def plain(self) -> dict[str, Any]:
        """The entry as sweep.json holds it (plain JSON data)."""
        return self.model_dump(mode="json", exclude_unset=True)


class SweepManifest(Record):
    """sweep.json: the sweep's plan and every trial's state. Rebuilt from the run folders when a
    sweep starts and ends (the run folders are the truth), extended by sweep.jsonl in between."""

    FILE: ClassVar[str] = layout.SWEEP_MANIFEST

    name: str | None = Field(default=None, description="the sweep's name (its folder)")
    source: str | None = Field(default=None, description="the sweep file or folder of configs")
    overrides: Any = Field(default=None, description="the --set overrides applied to every trial")
    created: str | None = Field(default=None, description="ISO time the sweep was first started")
    updated: str | None = Field(default=None, description="ISO time of the last event")
    executor: str | None = Field(default=None, description="serial, process or ray")
    workers: int | str | None = Field(default=None, description="worker processes (or 'auto')")
    repeats: int | None = Field(default=None, description="seeds per trial")
    varied_keys: list[str] = Field(default_factory=list, description="the dotted keys the trials vary")
    varied_values: dict[str, list[Any]] = Field(default_factory=dict, description="each varied key's distinct values")
    trials: list[TrialEntry] = Field(default_factory=list, description="one entry per trial, in plan order")
    counts: dict[str, int] = Field(default_factory=dict, description="trials per status")
    disk_bytes: int | None = Field(default=None, description="the sweep folder's size when the sweep ended")
    metric: str | None = Field(default=None, description="the metric the sweep is judged by (a search's)")
    claims: list[dict[str, Any]] = Field(default_factory=list,
                                         description="the sweep file's claims: (dlhw.sweeps.planning.claims), "
                                                     "checked by dlhw report --check")

    @field_validator("trials", mode="before")
    @classmethod
    def _only_entries(cls, value: Any) -> Any:
        """Entries that are not objects, or have no name, are dropped (an older or hand-edited file)."""
        if isinstance(value, list):
            return [e for e in value if isinstance(e, dict) and e.get("name") is not None]
        return value

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Version 0: 'pending' trials read as queued (Status.parse); counts recomputed."""
        trials = data.get("trials")
        if isinstance(trials, list):
            data["counts"] = count_statuses([t for t in trials if isinstance(t, dict)])
        return data

    def entry(self, name: str) -> TrialEntry | None:
        return next((t for t in self.trials if t.name == name), None)

    def recount(self) -> None:
        self.counts = count_statuses([t.plain() for t in self.trials])

    def plain(self) -> dict[str, Any]:
        """The manifest as the dict sweep.json holds (what readers used before records; no schema_version)."""
        return self.as_dict()


class SweepLogHeader(BaseModel):
    """sweep.jsonl's first line: the sweep.json it extends (inode, mtime_ns, size)."""

    base: list[int] = Field(description="[inode, mtime_ns, size] of the sweep.json the log extends")


class SweepLogEvent(BaseModel):
    """A later line of sweep.jsonl: trial ``trial``'s entry gets ``set`` at time ``at``."""

    trial: str = Field(description="the trial's name")
    set: dict[str, Any] = Field(description="the fields its sweep.json entry gets")
    at: str | None = Field(default=None, description="ISO time of the event")


def count_statuses(trials: list[dict[str, Any]]) -> dict[str, int]:
    """Trials per status word (as sweep.json's ``counts``)."""
    counts: dict[str, int] = {}
    for e in trials:
        word = str(Status.parse(e.get("status")))
        counts[word] = counts.get(word, 0) + 1
    return counts


def stamp_of(st: os.stat_result) -> list[int]:
    return [int(st.st_ino), int(st.st_mtime_ns), int(st.st_size)]


def read_manifest(sweep_dir: Path | str) -> SweepManifest:
    """SWEEP_DIR/sweep.json with sweep.jsonl's events applied. RecordMissing when there is no
    sweep.json; RecordError (one line) when it is damaged. A torn or foreign log line is skipped."""
    path = Path(sweep_dir) / layout.SWEEP_MANIFEST
    try:
        stamp = stamp_of(os.stat(path))
    except FileNotFoundError:
        raise RecordMissing(path, "no such file") from None
    except OSError as exc:
        raise RecordError(path, f"cannot be read: {exc.strerror or exc}") from None
    data = load_json_file(path)
    events = read_log(Path(sweep_dir) / layout.SWEEP_LOG, stamp)
    if events and isinstance(data, dict) and isinstance(data.get("trials"), list):
        by_name = {e.get("name"): e for e in data["trials"] if isinstance(e, dict)}
        for ev in events:
            entry = by_name.get(ev.trial)
            if entry is not None:
                entry.update(ev.set)
            if ev.at:
                data["updated"] = ev.at
        data["counts"] = count_statuses(list(by_name.values()))
    return SweepManifest.from_data(data, path)


def read_manifest_optional(sweep_dir: Path | str) -> SweepManifest | None:
    try:
        return read_manifest(sweep_dir)
    except RecordMissing:
        return None


def read_log(log: Path, stamp: list[int]) -> list[SweepLogEvent]:
    """The events of sweep.jsonl that extend the sweep.json identified by ``stamp`` (none when
    the log names another: it was already compacted into that one)."""
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out: list[SweepLogEvent] = []
    for i, line in enumerate(lines):
        item = _line(line, SweepLogHeader if i == 0 else SweepLogEvent)
        if i == 0:
            if not isinstance(item, SweepLogHeader) or item.base != stamp:
                return []
        elif isinstance(item, SweepLogEvent):
            out.append(item)
    return out


def _line(text: str, model: Any) -> BaseModel | None:
    try:
        return model.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return None  # a torn last line (the writer was killed mid-append)


def header_line(base: list[int]) -> str:
    return SweepLogHeader(base=base).model_dump_json() + "\n"


def event_line(trial: str, fields: dict[str, Any], at: str) -> str:
    return json.dumps({"trial": trial, "set": fields, "at": at}, default=str) + "\n"


__all__: tuple[str, ...] = (
    "SweepLogEvent",
    "SweepLogHeader",
    "SweepManifest",
    "TrialEntry",
    "count_statuses",
    "read_manifest",
    "read_manifest_optional",
    "validation_line",
)
