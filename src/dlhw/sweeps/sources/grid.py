"""A grid, and a random subset of it: the trials of one sweep file.

``grid:`` maps dotted keys to lists of values; every combination is a trial (at most
MAX_TRIALS with repeats). ``random: {samples: n, seed: s}`` takes n of the combinations, the same
n for the same seed, without building the others. Each combination then runs ``repeats:`` times
and once per fold (:mod:`dlhw.sweeps.sources.repeats`). A file without ``grid:`` is one trial.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlhw.config.loader import (
    SWEEP_KEYS,
    apply_overrides,
    load_raw,
    parse_override,
    set_path,
)
from dlhw.errors import ConfigError, shorten
from dlhw.rundir.folder import sanitize_name
from dlhw.sweeps.planning.plan import (
    MAX_TRIALS,
    Trial,
    differing_leaves,
    key_labels,
    trial_name,
)
from dlhw.sweeps.sources.repeats import repeats_of, runs_of, vary_of


def grid_of(raw: Dict[str, Any], source: str) -> Dict[str, List[Any]]:
    grid = raw.get("grid")
    if grid is None:
        return {}
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{source}: grid: expected a mapping of dotted keys to lists of values; received {shorten(grid)}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid.{key}: expected a non-empty list of values; received {shorten(values)}")
    return grid


def _combo(values: List[List[Any]], index: int) -> Tuple[Any, ...]:
    """The index-th tuple of itertools.product(*values), without building the others."""
    out = []
    for v in reversed(values):
        index, i = divmod(index, len(v))
        out.append(v[i])
    return tuple(reversed(out))


def combinations(raw: Dict[str, Any], grid: Dict[str, List[Any]], source: str,
                 repeats: int = 1) -> List[Tuple[Any, ...]]:
    values = list(grid.values())
    total = math.prod(len(v) for v in values)  # 1 without a grid: one combination, ()
    rnd = raw.get("random")
    if rnd is None:
        if total * repeats > MAX_TRIALS:
            raise ConfigError(f"{source}: grid: {total:,} combinations x {repeats} repeat(s) is more than "
                              f"{MAX_TRIALS:,} trials; shrink the grid or sample it (random: {{samples: n}})")
        return list(itertools.product(*values))
    if not isinstance(rnd, dict) or set(rnd) - {"samples", "seed"} or not isinstance(rnd.get("samples"), int) \
            or isinstance(rnd.get("samples"), bool) or rnd["samples"] < 1:
        raise ConfigError(f"{source}: random: expected {{samples: n, seed: s}} with n >= 1; received {shorten(rnd)}")
    n = min(rnd["samples"], total)
    if n * repeats > MAX_TRIALS:
        raise ConfigError(f"{source}: random.samples: {n:,} samples x {repeats} repeat(s) is more than "
                          f"{MAX_TRIALS:,} trials")
    seed = rnd.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{source}: random.seed: expected a whole number; received {shorten(seed)}")
    picked = sorted(random.Random(seed).sample(range(total), n))
    return [_combo(values, i) for i in picked]


def check_sets(sets: List[str], grid_keys: Sequence[str], source: str) -> None:
    for item in sets:
        key = parse_override(item)[0]
        for g in grid_keys:
            if key == g or key.startswith(g + ".") or g.startswith(key + "."):
                raise ConfigError(f"--set {key}: {source} varies '{g}' in its grid; drop it from --set or the grid")


def expand_file(path: Path, sets: List[str], label_prefix: str = "",
                raw: Optional[Dict[str, Any]] = None) -> Tuple[List[Trial], List[str], int]:
    """Trials of one YAML file (one trial, or a grid), --set applied under the grid values.
    ``raw``: the file's content as data, ``base:`` merged (the Python API's dict); then nothing is read."""
    source = str(path)
    raw = load_raw(path) if raw is None else copy.deepcopy(raw)
    if "search" in raw or "space" in raw:  # dlhw.sweeps.planning.space: a study of its own, never one trial of a folder
        raise ConfigError(f"{source}: a search file (search:, space:) runs on its own: dlhw sweep {source}")
    grid = grid_of(raw, source)
    repeats = repeats_of(raw, source)
    vary = vary_of(raw, source)
    if "random" in raw and not grid:
        raise ConfigError(f"{source}: random: needs a grid: to sample from")
    check_sets(sets, list(grid), source)
    base = apply_overrides({k: v for k, v in raw.items() if k not in SWEEP_KEYS}, sets)
    labels = key_labels(list(grid))
    leaves = {k: d for k, d in ((k, differing_leaves(v)) for k, v in grid.items()) if d}
    trials: List[Trial] = []
    for combo in combinations(raw, grid, source, repeats):
        data = copy.deepcopy(base)
        varied = dict(zip(grid, combo))
        for key, value in varied.items():
            try:
                set_path(data, key, copy.deepcopy(value))
            except ConfigError as exc:
                raise ConfigError(f"{source}: grid.{key}: {exc}") from None
        group = trial_name(varied, labels, leaves)
        if label_prefix:
            group = sanitize_name(f"{label_prefix}_{group}" if varied else label_prefix)
        runs = runs_of(data, repeats, vary)
        for r, (suffix, d) in enumerate(runs):
            trials.append(Trial(name=group, group=group, varied=dict(varied), raw=d, cfg=None,
                                source=source, repeat=r, repeats=len(runs), suffix=suffix))
    return trials, list(grid), repeats
