"""A folder of configs: every ``*.yaml`` in it, sorted, each one trial or itself a sweep file.

Each file's trials are named after the file (``<stem>_<values>`` when the folder holds several);
what differs between the files' resolved configs is what the folder varies (its varied keys,
beside any grid keys of its files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

from dlhw.config.loader import get_path
from dlhw.errors import ConfigError
from dlhw.sweeps.planning.plan import Trial, flatten
from dlhw.sweeps.sources.grid import expand_file


def config_files(folder: Path) -> List[Path]:
    files = sorted(f for f in folder.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
    if not files:
        raise ConfigError(f"{folder}: the folder holds no *.yaml files to sweep")
    return files


def expand_folder(folder: Path, sets: List[str]) -> Tuple[List[Trial], List[str], int]:
    """(trials, grid keys, repeats) of every file in ``folder``; names and configs come later."""
    files = config_files(folder)
    trials: List[Trial] = []
    grid_keys: List[str] = []
    repeats = 1
    for f in files:
        t, g, r = expand_file(f, sets, label_prefix=f.stem if len(files) > 1 else "")
        trials += t
        grid_keys += [k for k in g if k not in grid_keys]
        repeats = max(repeats, r)
    return trials, grid_keys, repeats


def differing_keys(dumps: List[Dict[str, Any]]) -> List[str]:
    """Dotted keys whose values differ between resolved configs (lists compared whole)."""
    flats = [flatten({k: v for k, v in d.items() if k not in ("name", "seed")}) for d in dumps]
    keys: List[str] = []
    for f in flats:
        keys.extend(k for k in f if k not in keys)
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]


def folder_varied_keys(trials: List[Trial], grid_keys: List[str]) -> List[str]:
    """The grid keys, then what differs between the files; each trial's ``varied`` filled in."""
    varied_keys = list(grid_keys)
    extra = differing_keys([t.cfg.dump() for t in trials])
    varied_keys += [k for k in extra if k not in varied_keys and not any(k.startswith(g + ".") for g in varied_keys)]
    for t in trials:
        dump = t.cfg.dump()
        flat = flatten(dict(dump))
        for k in varied_keys:
            t.varied.setdefault(k, flat.get(k, get_path(dump, k)))
    return varied_keys
