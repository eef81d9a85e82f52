"""A sweep's plan: which trials, with which values, under which names.

PATH is a folder (every ``*.yaml`` in it, sorted; each may use ``base:`` and
may itself be a sweep file) or a sweep file (``base:`` + ``grid:`` of dotted
keys whose values are lists; optional ``repeats: k`` and ``random: {samples:
n, seed}``; ``vary: seed | split | both`` says what the repeats change). A config with
``dataset.folds: K`` expands into K trials, one per test fold. Every trial is validated here, before anything trains. Names are
readable (built from the varied values), sanitised, unique and stable: the
same sweep file gives the same names every time. No heavy imports.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from dlhw.config.fingerprint import fingerprint, shape_fingerprint
from dlhw.config.loader import SWEEP_KEYS, apply_overrides, get_path, load_raw, parse_override, set_path, validate
from dlhw.errors import ConfigError, shorten
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
    flat = [_flatten(v) for v in values]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1] or None


def trial_name(varied: Dict[str, Any], labels: Dict[str, str],
               leaves: Optional[Dict[str, List[str]]] = None) -> str:
    if not varied:
        return "trial"
    def short(key: str) -> str:
        parts = labels[key].split(".")
        return parts[-2] if len(parts) > 1 and parts[-1] in ("type", "name") else parts[-1]

    parts = []
    for k, v in varied.items():
        sub = (leaves or {}).get(k)
        if sub:
            flat = _flatten(v)
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


# ------------------------------------------------------------------ expansion
def _grid(raw: Dict[str, Any], source: str) -> Dict[str, List[Any]]:
    grid = raw.get("grid")
    if grid is None:
        return {}
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{source}: grid: expected a mapping of dotted keys to lists of values; received {shorten(grid)}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid.{key}: expected a non-empty list of values; received {shorten(values)}")
    return grid


def _repeats(raw: Dict[str, Any], source: str) -> int:
    k = raw.get("repeats", 1)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"{source}: repeats: expected a whole number >= 1; received {shorten(k)}")
    if k > MAX_TRIALS:
        raise ConfigError(f"{source}: repeats: at most {MAX_TRIALS}; received {shorten(k)}")
    return k


VARY = ("seed", "split", "both")


def _vary(raw: Dict[str, Any], source: str) -> str:
    """``vary:`` what repeats change: seed (the initial weights, dropout and batch order; the split
    stays that of the file's seed), split (dataset.split_seed; the seed stays), or both (the seed,
    which also draws the split: the behaviour before vary: existed, and the default)."""
    v = raw.get("vary", "both")
    if not isinstance(v, str) or v.strip().lower() not in VARY:
        raise ConfigError(f"{source}: vary: expected one of {', '.join(VARY)}; received {shorten(v)}")
    return v.strip().lower()


def _folds(data: Dict[str, Any]) -> int:
    """K when the trial's config asks for K-fold cross-validation and picks no fold itself, else 1
    (a bad value is left for validation to report)."""
    ds = data.get("dataset")
    if not isinstance(ds, dict) or ds.get("fold") is not None:
        return 1
    k = ds.get("folds")
    return k if isinstance(k, int) and not isinstance(k, bool) and 2 <= k <= MAX_TRIALS else 1


def _runs_of(data: Dict[str, Any], repeats: int, vary: str) -> List[tuple]:
    """(suffix, config) of each run of one grid combination: repeats x folds."""
    seed0 = data.get("seed", 0)
    seed_ok = isinstance(seed0, int) and not isinstance(seed0, bool)
    folds = _folds(data)
    runs: List[tuple] = []
    for r in range(repeats):
        d = copy.deepcopy(data)
        parts: List[str] = []
        if repeats > 1 and seed_ok:  # a bad seed is left for validation to report
            ds = d.setdefault("dataset", {}) if isinstance(d.get("dataset", {}), dict) else {}
            split0 = ds.get("split_seed") if isinstance(ds.get("split_seed"), int) else seed0
            if vary in ("seed", "both"):
                d["seed"] = seed0 + r
                parts.append(f"seed-{seed0 + r}")
            if vary == "seed":
                ds["split_seed"] = split0  # the split stays the file's
            elif vary == "split":
                ds["split_seed"] = split0 + r
                parts.append(f"split-{split0 + r}")
        for i in range(folds):
            f = d if folds == 1 else copy.deepcopy(d)
            if folds > 1:
                f["dataset"]["fold"] = i
            runs.append(("".join(f"_{p}" for p in parts + ([f"fold-{i}"] if folds > 1 else [])), f))
    return runs


def _combo(values: List[List[Any]], index: int) -> tuple:
    """The index-th tuple of itertools.product(*values), without building the others."""
    out = []
    for v in reversed(values):
        index, i = divmod(index, len(v))
        out.append(v[i])
    return tuple(reversed(out))


def _combos(raw: Dict[str, Any], grid: Dict[str, List[Any]], source: str, repeats: int = 1) -> List[tuple]:
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


def _check_sets(sets: List[str], grid_keys: Sequence[str], source: str) -> None:
    for item in sets:
        key = parse_override(item)[0]
        for g in grid_keys:
            if key == g or key.startswith(g + ".") or g.startswith(key + "."):
                raise ConfigError(f"--set {key}: {source} varies '{g}' in its grid; drop it from --set or the grid")


def expand_file(path: Path, sets: List[str], label_prefix: str = "",
                raw: Optional[Dict[str, Any]] = None) -> tuple[List[Trial], List[str], int]:
    """Trials of one YAML file (one trial, or a grid), --set applied under the grid values.
    ``raw``: the file's content as data, ``base:`` merged (the Python API's dict); then nothing is read."""
    source = str(path)
    raw = load_raw(path) if raw is None else copy.deepcopy(raw)
    if "search" in raw or "space" in raw:  # dlhw.sweeps.planning.space: a study of its own, never one trial of a folder
        raise ConfigError(f"{source}: a search file (search:, space:) runs on its own: dlhw sweep {source}")
    grid = _grid(raw, source)
    repeats = _repeats(raw, source)
    vary = _vary(raw, source)
    if "random" in raw and not grid:
        raise ConfigError(f"{source}: random: needs a grid: to sample from")
    _check_sets(sets, list(grid), source)
    base = apply_overrides({k: v for k, v in raw.items() if k not in SWEEP_KEYS}, sets)
    labels = key_labels(list(grid))
    leaves = {k: d for k, d in ((k, differing_leaves(v)) for k, v in grid.items()) if d}
    trials: List[Trial] = []
    for combo in _combos(raw, grid, source, repeats):
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
        runs = _runs_of(data, repeats, vary)
        for r, (suffix, d) in enumerate(runs):
            trials.append(Trial(name=group, group=group, varied=dict(varied), raw=d, cfg=None,
                                source=source, repeat=r, repeats=len(runs), suffix=suffix))
    return trials, list(grid), repeats


def _flatten(data: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(data, dict) and data:
        out: Dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def differing_keys(dumps: List[Dict[str, Any]]) -> List[str]:
    """Dotted keys whose values differ between resolved configs (lists compared whole)."""
    flats = [_flatten({k: v for k, v in d.items() if k not in ("name", "seed")}) for d in dumps]
    keys: List[str] = []
    for f in flats:
        keys.extend(k for k in f if k not in keys)
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]


def build_plan(path: str | Path, sets: Sequence[str] = (), raw: Optional[Dict[str, Any]] = None) -> SweepPlan:
    """Expand PATH into validated trials; any config error stops here (exit 2).
    ``raw``: a sweep file's content as data (``dlhw.sweep(dict)``); PATH then only names the sweep."""
    p = Path(path)
    sets = list(sets)
    if raw is None and not p.exists():
        raise ConfigError(f"{p}: sweep file or folder not found")
    folder = raw is None and p.is_dir()
    if folder:
        files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        if not files:
            raise ConfigError(f"{p}: the folder holds no *.yaml files to sweep")
        trials, grid_keys, repeats = [], [], 1
        for f in files:
            t, g, r = expand_file(f, sets, label_prefix=f.stem if len(files) > 1 else "")
            trials += t
            grid_keys += [k for k in g if k not in grid_keys]
            repeats = max(repeats, r)
        name = p.resolve().name
    else:
        trials, grid_keys, repeats = expand_file(p, sets, raw=raw)
        name = p.stem if raw is None else str(path)
    names = unique_names([t.group for t in trials if t.repeat == 0])
    it = iter(names)
    group = ""
    for t in trials:
        if t.repeat == 0:
            group = next(it)
        t.group = group
        t.name = group + t.suffix
        t.raw["name"] = t.name
        t.cfg = validate(t.raw, f"{t.source} (trial {t.name})")
        dump = t.cfg.dump()
        t.hash, t.shape = fingerprint(dump), shape_fingerprint(dump)
    varied_keys = list(grid_keys)
    if folder:  # a folder: what differs between its files is what it varies
        extra = differing_keys([t.cfg.dump() for t in trials])
        varied_keys += [k for k in extra if k not in varied_keys and not any(k.startswith(g + ".") for g in varied_keys)]
        for t in trials:
            flat = _flatten({k: v for k, v in t.cfg.dump().items()})
            for k in varied_keys:
                t.varied.setdefault(k, flat.get(k, get_path(t.cfg.dump(), k)))
    if len({t.name for t in trials}) != len(trials):
        raise ConfigError(f"{p}: two trials share a name; give the files distinct names")
    return SweepPlan(name=sanitize_name(name), source=str(p), trials=trials, varied_keys=varied_keys,
                     repeats=repeats, overrides=sets)


def describe(varied: Dict[str, Any]) -> str:
    """'layers=3x256, learning_rate=0.001' for tables and legends."""
    labels = key_labels(list(varied))
    return ", ".join(f"{labels[k]}={format_value(v)}" for k, v in varied.items())
