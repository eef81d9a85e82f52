"""The ``slurm:`` block: what a trial asks of a Slurm cluster (``dlhw sweep --executor slurm``).

Resources are set once for a sweep (the base config's ``slurm:``, or ``--set slurm.partition=...``)
and may differ per trial (a grid over ``slurm.mem``, a folder of configs): trials asking the same
resources share one job array. Where a trial runs changes nothing it computes: the block is left
out of the config hash (dlhw.config.fingerprint) and of ``--resume``'s comparison, so moving a
sweep to another partition keeps its finished trials. Ignored by every other executor.
"""

from __future__ import annotations

import re
from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

TIME_FORMATS = "MM, HH:MM:SS, D-HH or D-HH:MM:SS (e.g. 30, 2:00:00, 1-00:00:00)"
_MEM = re.compile(r"^\d+(\.\d+)?[KMGT]?B?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_.,:@+\-|&!()\[\]*]+$")


def time_minutes(text: str) -> int:
    """Slurm's --time forms -> whole minutes (at least 1); ValueError naming the forms."""
    s = str(text).strip()
    days = 0
    if "-" in s:
        d, s = s.split("-", 1)
        if not d.isdigit():
            raise ValueError(f"expected {TIME_FORMATS}; received '{text}'")
        days = int(d)
    parts = s.split(":")
    if not s or not all(p.isdigit() for p in parts) or len(parts) > 3:
        raise ValueError(f"expected {TIME_FORMATS}; received '{text}'")
    nums = [int(p) for p in parts]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        nums += [0] * (3 - len(nums))
        hours, minutes, seconds = nums
    elif len(nums) == 1:  # MM
        hours, minutes, seconds = 0, nums[0], 0
    elif len(nums) == 2:  # MM:SS
        hours, minutes, seconds = 0, nums[0], nums[1]
    else:
        hours, minutes, seconds = nums
    total = days * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    if total < 1:
        raise ValueError(f"at least one minute; received '{text}'")
    return total


class SlurmConfig(BaseModel):
    """One trial's Slurm resources (sbatch options) and its preemption policy."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    partition: Optional[str] = Field(None, description="sbatch --partition (default: the cluster's default partition).")
    account: Optional[str] = Field(None, description="sbatch --account (default: your default account).")
    qos: Optional[str] = Field(None, description="sbatch --qos.")
    time: str = Field("2:00:00", description=f"Time limit per trial run, sbatch --time: {TIME_FORMATS}. "
                      "A trial reaching it is checkpointed and requeued (see max_requeues).")
    cpus_per_task: int = Field(4, ge=1, le=1024, description="CPU cores per trial (sbatch --cpus-per-task); "
                               "the trial uses that many threads.")
    mem: str = Field("8G", description="Memory per trial (sbatch --mem), e.g. 500M, 8G, 64G.")
    gpus: int = Field(0, ge=0, le=64, description="GPUs per trial: sbatch --gres=gpu:N (ignored when gres is set).")
    gres: Optional[str] = Field(None, description="sbatch --gres as given, e.g. gpu:a100:1 (wins over gpus).")
    constraint: Optional[str] = Field(None, description="sbatch --constraint, e.g. 'a100|h100'.")
    extra: List[str] = Field(default_factory=list, description="More sbatch options, each '--name=value' or "
                             "'--flag' (e.g. ['--exclusive', '--mail-type=END']).")
    signal_delay_s: int = Field(120, ge=10, le=3600, description="Seconds before the time limit at which Slurm "
                                "sends the trial its warning signal (USR2): time to write a checkpoint.")
    max_requeues: int = Field(3, ge=0, le=100, description="How many times a trial is requeued after preemption "
                              "or its time limit before it is left interrupted (resume it with --retry-failed).")

    @field_validator("partition", "account", "qos", "constraint", "gres")
    @classmethod
    def _names(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and (not v.strip() or not _NAME.match(v.strip())):
            raise ValueError(f"expected a Slurm name (letters, digits, _ . - : and constraint operators); "
                             f"received '{v}'")
        return v.strip() if v is not None else v

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        time_minutes(v)
        return str(v).strip()

    @field_validator("mem")
    @classmethod
    def _mem(cls, v: str) -> str:
        if not _MEM.match(str(v).strip()):
            raise ValueError(f"expected a size such as 500M, 8G or 64G; received '{v}'")
        return str(v).strip().upper()

    @field_validator("extra")
    @classmethod
    def _extra(cls, v: List[str]) -> List[str]:
        for item in v:
            name = str(item).split("=", 1)[0]
            if not re.match(r"^--[a-z][a-z0-9-]*$", name):
                raise ValueError(f"each item is '--name=value' or '--flag'; received '{item}'")
            if name in ("--array", "--output", "--error", "--signal", "--requeue", "--job-name", "--wrap"):
                raise ValueError(f"{name} is set by dlhw itself; received '{item}'")
        return list(v)
