"""A sweep's plan: its trials, their varied values and their names.

``Trial`` and ``SweepPlan`` are what every source of trials makes (dlhw.sweeps.sources: a grid,
a folder, a random subset, repeats, folds: ``build_plan`` in sources.planned; a search's trials:
planning.space). Names are readable (built from the varied values), sanitised, unique and stable:
the same sweep file gives the same names every time. No heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from dlhw.rundir.folder import sanitize_name

MAX_TRIALS = 10_000  # trials one sweep file may expand to (grid combinations x repeats)


@dataclass
class Trial:
    name: str                      # folder name inside OUT/<sweep>/
    group: str                     # name without the repeat suffix (repeats share it)
    varied: Dict[str, Any]         # dotted key -> value, the values that make this trial
    raw: Dict[str, Any]            # the config as plain data (validated)
    cfg: Any                       # the validated ExperimentConfig
    source: str                    # file it came from
    repeat: int = 0                # index among its group's runs (repeats x folds); 0 starts a group
    repeats: int = 1               # how many runs its group has (repeats x folds)
    suffix: str = ""               # what tells the group's runs apart: _seed-1, _split-2, _fold-0
    hash: str = ""                 # dlhw.config.fingerprint of the resolved config (name included)
    shape: str = ""                # its shape_fingerprint (no name, seed, epochs): same time per epoch

    @property
    def epochs(self) -> int:
        return sum(s.epochs for s in self.cfg.stages())


@dataclass
class SweepPlan:
    name: str
    source: str
    trials: List[Trial] = field(default_factory=list)
    varied_keys: List[str] = field(default_factory=list)
    repeats: int = 1
    overrides: List[str] = field(default_factory=list)


# ------------------------------------------------------------------- naming
def _num(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return format(v, "g")
    return str(v)


def format_value(value: Any) -> str:
    """A short readable form: 0.001, sgd, 3x256 (three layers of 256), 256-512."""
    if isinstance(value, list) and value and all(isinstance(v, dict) and "units" in v for v in value):
        units = [_num(v["units"]) for v in value]
        extras = sorted({f"{k}{_num(x)}" for v in value for k, x in v.items()
                         if k not in ("units", "activation") and x not in (0, 0.0, False, None)}
                        | {str(v["activation"]) for v in value if v.get("activation", "relu") != "relu"})
        text = f"{len(units)}x{units[0]}" if len(set(units)) == 1 and len(units) > 1 else "-".join(units)
        return "-".join([text] + extras)
    if isinstance(value, dict):
        return "-".join(format_value(v) for v in value.values()) or "none"
    if isinstance(value, list):
        return "-".join(format_value(v) for v in value) or "none"
    if value is None:
        return "none"
    return _num(value)


def key_labels(keys: Sequence[str]) -> Dict[str, str]:
    """Shortest unambiguous label per dotted key (the last part, more parts when two clash)."""
    labels: Dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        start = 2 if len(parts) > 1 and parts[-1] in ("type", "name") else 1  # optimizer, not type
        for n in range(start, len(parts) + 1):
            label = ".".join(parts[-n:])
            others = [k for k in keys if k != key and ".".join(k.split(".")[-n:]) == label]
            if not others:
                break
        labels[key] = label
    return labels


def differing_leaves(values: Sequence[Any]) -> Optional[List[str]]:
    """For grid values that are mappings (a whole stage, an optimizer): the dotted sub-keys whose
    values differ between them, which name the trials (``from_layer-190_learning_rate-0.0001``
    instead of every value of the mapping). None when the values are not all mappings."""
    if len(values) < 2 or not all(isinstance(v, dict) for v in values):
        return None
    flat = [flatten(v) for v in values]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1] or None


def trial_name(varied: Dict[str, Any], labels: Dict[str, str],
               leaves: Optional[Dict[str, List[str]]] = None) -> str:
    if not varied:
        return "trial"
    def short(key: str) -> str:
        parts = labels[key].split(".")
        return parts[-2] if len(parts) > 1 and parts[-1] in ("type", "name") else parts[-1]

    parts: List[str] = []
    for k, v in varied.items():
        sub = (leaves or {}).get(k)
        if sub:
            flat = flatten(v)
            parts.extend(f"{short_leaf(leaf)}-{format_value(flat.get(leaf))}" for leaf in sub)
        else:
            parts.append(f"{short(k)}-{format_value(v)}")
    return sanitize_name("_".join(parts))


def short_leaf(leaf: str) -> str:
    parts = leaf.split(".")
    return parts[-2] if len(parts) > 1 and parts[-1] in ("type", "name") else parts[-1]


def unique_names(names: List[str]) -> List[str]:
    seen: Dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def flatten(data: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(data, dict) and data:
        out: Dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def describe(varied: Dict[str, Any]) -> str:
    """'layers=3x256, learning_rate=0.001' for tables and legends."""
    labels = key_labels(list(varied))
    return ", ".join(f"{labels[k]}={format_value(v)}" for k, v in varied.items())
