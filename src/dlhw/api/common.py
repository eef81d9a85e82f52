"""What the API's calls share: configs from paths, dicts or objects; overrides; devices; quiet.

No heavy imports here: ``import dlhw`` must stay instant and TensorFlow-free.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

from dlhw.errors import ConfigError, shorten
from dlhw.rundir import layout

DEVICES = ("auto", "cpu", "gpu")  # and gpu:N (dlhw.runtime.devices)


def check_device(device: str) -> str:
    """The --device syntax (auto, cpu, gpu, gpu:N), checked before TensorFlow loads."""
    from dlhw.runtime.devices import parse_device

    parse_device(device)
    return device


def override_list(overrides: Any) -> List[str]:
    """``{"training.epochs": 5}`` or the CLI's ``["training.epochs=5"]`` as the CLI's list of key=value.

    A dict's values are written as JSON, which the loader reads back as the same YAML value."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        out = []
        for key, value in overrides.items():
            if not isinstance(key, str) or not key:
                raise ConfigError(f"overrides: keys are dotted key paths such as 'training.epochs'; "
                                  f"received {shorten(key)}")
            out.append(f"{key}={json.dumps(value, default=str)}")
        return out
    if isinstance(overrides, (list, tuple)) and all(isinstance(item, str) for item in overrides):
        return list(overrides)
    raise ConfigError(f"overrides: expected a dict {{'key.path': value}} or a list of 'key.path=value'; "
                      f"received {shorten(overrides)}")


def merge_base(data: Mapping[str, Any], where: Path = Path(".")) -> Dict[str, Any]:
    """A config given as a dict, with its ``base:`` file (relative to ``where``) merged in, as
    ``load_raw`` does for a file."""
    from dlhw.config.loader import SWEEP_KEYS, deep_merge, load_raw

    data = dict(data)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, (str, Path)):
        raise ConfigError(f"config: base: expected a file path; received {shorten(base)}")
    parent = load_raw(Path(where) / base)
    for key in SWEEP_KEYS:
        parent.pop(key, None)
    return deep_merge(parent, data)


def resolve_config(config: Any, overrides: Any = None):
    """The validated config (ExperimentConfig) of a path, a dict or a config object, overrides applied."""
    from dlhw.config import apply_overrides, load_config, validate
    from dlhw.config.schema import ExperimentConfig

    sets = override_list(overrides)
    if isinstance(config, (str, Path)):
        return load_config(config, sets)
    if isinstance(config, ExperimentConfig):
        if not sets:
            return config
        return validate(apply_overrides(config.dump(), sets), config._source or "config")
    if isinstance(config, Mapping):
        return validate(apply_overrides(merge_base(config), sets), "config")
    raise ConfigError(f"config: expected a YAML file path, a dict or a config object; "
                      f"received {type(config).__name__}")


@contextmanager
def console_quiet(quiet: bool) -> Iterator[None]:
    """An API call's messages (dlhw.runtime.log): dlhw's terminal handler installed when the program
    has not configured logging; with ``quiet``, warnings and errors only inside the block (the
    ``dlhw`` logger's level comes back after)."""
    from dlhw.runtime.log import ensure_default_handler, quieted

    ensure_default_handler()
    with quieted(quiet):
        yield


def run_folder_kind(path: Path) -> Optional[str]:
    """'sweep', 'run' or None for a folder."""
    if (path / layout.SWEEP_MANIFEST).is_file():
        return "sweep"
    if (path / layout.STATUS).is_file() or (path / layout.METRICS).is_file():
        return "run"
    return None
