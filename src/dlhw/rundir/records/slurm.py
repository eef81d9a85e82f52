"""The Slurm executor's records (dlhw.sweeps.executors.slurm, dlhw.slurm): RUN/slurm.json, every
start of one trial's array task; SWEEP/slurm.json, which trial went to which task (reattaching)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from dlhw.rundir import layout
from dlhw.rundir.records.base import Record


class SlurmTrialRecord(Record):
    """RUN/slurm.json: the Slurm task that runs this trial, each of its starts, its requeues."""

    FILE: ClassVar[str] = layout.SLURM

    task: str | None = Field(default=None, description="the array task (JOBID_INDEX) or job id running the trial")
    requeues: int = Field(default=0, description="times the task was requeued (preemption, time limit)")
    max_requeues: int | None = Field(default=None, description="slurm.max_requeues: the trial stays interrupted past it")
    starts: list[dict[str, Any]] = Field(default_factory=list,
                                         description="each start: task, node, start time, how it ended (the last 50)")


class SlurmSweepRecord(Record):
    """SWEEP/slurm.json: per trial, the task it was submitted as (``task``, ``folder``, ``submitted``,
    ``submissions``) and what squeue last said (``state``, ``reason``), and its ``requeues``."""

    FILE: ClassVar[str] = layout.SLURM

    trials: dict[str, dict[str, Any]] = Field(default_factory=dict, description="trial name -> its task entry")
