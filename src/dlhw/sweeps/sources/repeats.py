"""Repeats and folds: each grid point (or config) as several runs.

``repeats: k`` runs each point k times; ``vary:`` says what the repeats change (seed, split or
both). A config with ``dataset.folds: K`` (and no ``dataset.fold``) runs once per test fold. A
point's runs share its group name; a suffix tells them apart (``_seed-1``, ``_split-2``, ``_fold-0``).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

from dlhw.errors import ConfigError, shorten
from dlhw.sweeps.planning.plan import MAX_TRIALS

VARY = ("seed", "split", "both")


def repeats_of(raw: Dict[str, Any], source: str) -> int:
    """``repeats:``, a whole number from 1 to MAX_TRIALS (default 1)."""
    k = raw.get("repeats", 1)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"{source}: repeats: expected a whole number >= 1; received {shorten(k)}")
    if k > MAX_TRIALS:
        raise ConfigError(f"{source}: repeats: at most {MAX_TRIALS}; received {shorten(k)}")
    return k


def vary_of(raw: Dict[str, Any], source: str) -> str:
    """``vary:`` what repeats change: seed (the initial weights, dropout and batch order; the split
    stays that of the file's seed), split (dataset.split_seed; the seed stays), or both (the seed,
    which also draws the split: the behaviour before vary: existed, and the default)."""
    v = raw.get("vary", "both")
    if not isinstance(v, str) or v.strip().lower() not in VARY:
        raise ConfigError(f"{source}: vary: expected one of {', '.join(VARY)}; received {shorten(v)}")
    return v.strip().lower()


def folds_of(data: Dict[str, Any]) -> int:
    """K when the trial's config asks for K-fold cross-validation and picks no fold itself, else 1
    (a bad value is left for validation to report)."""
    ds = data.get("dataset")
    if not isinstance(ds, dict) or ds.get("fold") is not None:
        return 1
    k = ds.get("folds")
    return k if isinstance(k, int) and not isinstance(k, bool) and 2 <= k <= MAX_TRIALS else 1


def _repeat(data: Dict[str, Any], r: int, repeats: int, vary: str) -> Tuple[Dict[str, Any], List[str]]:
    """Repeat ``r`` of a point's config, and the name parts that tell it apart."""
    d = copy.deepcopy(data)
    seed0 = data.get("seed", 0)
    parts: List[str] = []
    if repeats > 1 and isinstance(seed0, int) and not isinstance(seed0, bool):  # a bad seed: validation says
        ds = d.setdefault("dataset", {}) if isinstance(d.get("dataset", {}), dict) else {}
        given = ds.get("split_seed")
        split0: int = given if isinstance(given, int) else seed0
        if vary in ("seed", "both"):
            d["seed"] = seed0 + r
            parts.append(f"seed-{seed0 + r}")
        if vary == "seed":
            ds["split_seed"] = split0  # the split stays the file's
        elif vary == "split":
            ds["split_seed"] = split0 + r
            parts.append(f"split-{split0 + r}")
    return d, parts


def runs_of(data: Dict[str, Any], repeats: int, vary: str) -> List[Tuple[str, Dict[str, Any]]]:
    """(suffix, config) of each run of one grid point: repeats x folds."""
    folds = folds_of(data)
    runs: List[Tuple[str, Dict[str, Any]]] = []
    for r in range(repeats):
        d, parts = _repeat(data, r, repeats, vary)
        for i in range(folds):
            f = d if folds == 1 else copy.deepcopy(d)
            if folds > 1:
                f["dataset"]["fold"] = i
            runs.append(("".join(f"_{p}" for p in parts + ([f"fold-{i}"] if folds > 1 else [])), f))
    return runs
