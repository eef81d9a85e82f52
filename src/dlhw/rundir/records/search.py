"""What a search's sweep folder knows about its study, as typed records with a ``schema_version``.

- ``study.json`` (``StudyDefinition``): what the study is: its space, sampler, metric(s) and
  directions, pruner, seed, budget and epochs. A rerun compares the search file against it
  (``changes``): a changed definition is refused unless ``--new-study`` is given; ``trials`` and
  ``epochs`` may change (raise them to continue, lower them to stop sooner).
- ``trial.json`` in each trial folder (``TrialRecord``): the trial's number, the parameters as the
  study stores them, its state and value(s), and its lineage (where it started from). With these
  the study can be rebuilt from the trial folders alone (``dlhw sweep PATH --repair``).

Records like every other (dlhw.rundir.records.base.Record: one atomic write, one tolerant read); a
missing file reads as None, a damaged one is a ConfigError naming the file and what is wrong.
(Moved here from dlhw.rundir.records.search.) No heavy imports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from pydantic import Field
from typing_extensions import Self

from dlhw.errors import ConfigError
from dlhw.rundir import layout
from dlhw.rundir.records.base import Record, RecordError, RecordMissing

STUDY_FILE = "study.json"
TRIAL_FILE = "trial.json"


class _Record(Record):
    """A search's record: a missing file reads as None (a study not made yet); a damaged one is a
    ConfigError (exit 2) naming the file, with ``dlhw sweep PATH --repair`` as the way back."""

    @classmethod
    def read(cls, path: Path | str) -> Optional[Self]:  # type: ignore[override]
        try:
            return super().read(path)
        except RecordMissing:
            return None
        except RecordError as exc:
            raise ConfigError(str(exc)) from None


class StudyDefinition(_Record):
    """study.json: what a search's study is (the keys ``changes`` compares, and the budget)."""

    FILE: ClassVar[str] = STUDY_FILE

    name: str = Field(..., description="The study's name (the sweep folder's).")
    sampler: str = Field(..., description="search.sampler")
    seed: int = Field(0, description="search.seed")
    metric: List[str] = Field(..., description="search.metric (a list: multi-objective)")
    directions: List[str] = Field(..., description="maximize / minimize, one per metric")
    pruner: Dict[str, Any] = Field(default_factory=dict, description="search.pruner, every field")
    scheduler: Dict[str, Any] = Field(default_factory=dict, description="search.scheduler (promotion, PBT)")
    space: Dict[str, Any] = Field(..., description="space: each key's range or choices, as written")
    trials: int = Field(..., description="search.trials (may change between runs)")
    epochs: int = Field(0, description="epochs per trial (may change between runs)")

    COMPARED: ClassVar[Tuple[str, ...]] = ("space", "sampler", "metric", "directions", "pruner", "scheduler", "seed")

    def changes(self, other: "StudyDefinition") -> List[str]:
        """What differs, as 'search.sampler: tpe -> random' lines (space keys one by one)."""
        out: List[str] = []
        for key in self.COMPARED:
            mine, theirs = getattr(self, key), getattr(other, key)
            if _same(mine, theirs):
                continue
            if key == "space":
                for k in list(mine) + [k for k in theirs if k not in mine]:
                    if k not in theirs:
                        out.append(f"space.{k}: removed")
                    elif k not in mine:
                        out.append(f"space.{k}: added")
                    elif not _same(mine[k], theirs[k]):
                        out.append(f"space.{k}: {_short(mine[k])} -> {_short(theirs[k])}")
                if list(mine) != list(theirs) and not out:
                    out.append("space: its keys are in another order")
            else:
                where = "search." + ("metric" if key == "directions" else key)
                out.append(f"{where}: {_short(mine)} -> {_short(theirs)}")
        return out


class TrialRecord(_Record):
    """trial.json in a trial folder: enough to put the trial back into a rebuilt study."""

    FILE: ClassVar[str] = TRIAL_FILE

    number: int
    params: Dict[str, Any] = Field(..., description="the parameters as the study stores them")
    state: str = Field("running", description="the study's state: running, complete, pruned, fail, paused")
    values: Optional[List[float]] = None
    intermediate: Dict[int, float] = Field(default_factory=dict, description="epoch -> the metric reported")
    lineage: Dict[str, Any] = Field(default_factory=dict,
                                    description="where it started from: warm_start, parent checkpoint, rungs")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _short(v: Any, n: int = 60) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= n else text[: n - 3] + "..."


class PbtState(_Record):
    """pbt.json in a PBT search's folder: each generation's decisions, written before they are applied,
    so a rerun replays them (dlhw.sweeps.sources.pbt)."""

    FILE: ClassVar[str] = "pbt.json"

    generations: Dict[str, Any] = Field(default_factory=dict, description="generation -> its exploit decisions")


def trial_folders(sweep_dir: Path) -> Dict[int, Path]:
    """Trial folders by number (``NNN_...``; a ``-2`` folder of the same number loses to the first)."""
    out: Dict[int, Path] = {}
    for p in sorted(Path(sweep_dir).iterdir()) if Path(sweep_dir).is_dir() else []:
        head = p.name.split("_", 1)[0]
        if p.is_dir() and head.isdigit() and (p / layout.STATUS).is_file() and int(head) not in out:
            out[int(head)] = p
    return out
