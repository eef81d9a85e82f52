"""Read, merge and validate configs; turn every mistake into one clear line.

YAML is read with ``yaml.safe_load`` only (python tags are refused, never
executed). A config may name a ``base:`` file whose keys it overrides;
``--set key.path=value`` overrides come last and are validated with the rest.
"""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from dlhw.errors import ConfigError, did_you_mean

SWEEP_KEYS = ("grid", "random", "repeats")


# ------------------------------------------------------------------------ yaml
_LOADER = None


def safe_loader():
    """yaml.SafeLoader that also reads 1e-4 as a float (YAML 1.1 wants 1.0e-4)."""
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_implicit_resolver(
            "tag:yaml.org,2002:float",
            re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$|^[-+]?\d[\d_]*\.\d*(?:[eE][-+]?\d+)?$"
                       r"|^[-+]?\.\d+(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
            list("-+0123456789."),
        )
        _LOADER = Loader
    return _LOADER


def load_yaml_text(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=safe_loader())  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | Path) -> Any:
    """Parse one YAML file safely; errors name the file, line and column."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, expected a YAML config file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the file: {exc}") from None
    try:
        return load_yaml_text(text)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            f"{p}: {where}YAML tag not allowed ({exc.problem}); configs are plain data"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}: YAML syntax error at {where}{problem}") from None


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping with its ``base:`` chain merged in (base first)."""
    p = Path(path)
    data = read_yaml(p)
    if data is None:
        raise ConfigError(f"{p}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of keys at the top level; received {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{p}: base: expected a file path; received {base!r}")
    base_path = (p.parent / base).resolve()
    if base_path in _seen:
        raise ConfigError(f"{p}: base: '{base}' includes itself")
    parent = load_raw(base_path, _seen + (p.resolve(),))
    for k in SWEEP_KEYS:
        parent.pop(k, None)
    return deep_merge(parent, data)


# -------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[str, Any]:
    """'training.optimizer.learning_rate=1e-4' -> ('training.optimizer.learning_rate', 0.0001)."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--set: expected key.path=value; received '{text}'")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set: empty key in '{text}'")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key in nested dicts/lists, creating mappings as needed."""
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) > len(node):
                raise ConfigError(f"--set {key}: '{part}' is not an index of a list of {len(node)} items")
            idx = int(part)
            if last:
                node[idx:idx + 1] = [value]
            else:
                if idx == len(node):
                    node.append({})
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"--set {key}: '{'.'.join(parts[:i])}' is a value, not a section")


def get_path(data: Any, key: str) -> Any:
    """The value at a dotted key in nested dicts/lists ('model.layers.0.units'), or None."""
    for part in key.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str | tuple[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        set_path(out, key, value)
    return out


# ------------------------------------------------------------------- validation
def _models_in(tp: Any) -> list[type]:
    """BaseModel classes reachable in a type annotation (through Optional/List/Annotated/Union)."""
    from pydantic import BaseModel

    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list[type] = []
    for arg in typing.get_args(tp):
        out.extend(_models_in(arg))
    return out


def _resolve(loc: Sequence[Any]) -> tuple[list[str], list[type]]:
    """Display path (tags dropped) and the model classes at the end of ``loc``."""
    from dlhw.config.schema import ExperimentConfig

    shown: list[str] = []
    current: list[type] = [ExperimentConfig]
    for part in loc:
        if isinstance(part, int):
            shown.append(str(part))
            continue
        tagged = [c for c in current if c.model_fields.get("type") is not None and c.model_fields["type"].default == part]
        if len(current) > 1 and tagged:
            current = tagged
            continue
        fields = [c.model_fields[part] for c in current if part in c.model_fields]
        shown.append(str(part))
        if not fields:
            current = []
            continue
        current = _models_in(fields[0].annotation)
    return shown, current


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_validation_error(exc: Any, source: str) -> ConfigError:
    """One line from a pydantic ValidationError: file, key path, problem, received."""
    errors = exc.errors(include_url=False)
    # A misspelt key also makes the real key "missing": report the typo first.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = first["loc"]
    kind = first["type"]
    shown, parents = _resolve(loc)
    path = ".".join(shown) or "(top level)"
    msg = str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    received = first.get("input")
    if kind == "extra_forbidden":
        _, owners = _resolve(loc[:-1])
        allowed = sorted({f for c in owners for f in c.model_fields})
        text = f"unknown key '{loc[-1]}'{did_you_mean(loc[-1], allowed)}"
        if allowed:
            text += f"; allowed here: {', '.join(allowed)}"
    elif kind == "missing":
        text = "required key is missing"
    elif kind == "union_tag_invalid":
        tags = first.get("ctx", {}).get("expected_tags", "")
        tag = first.get("ctx", {}).get("tag")
        names = [t.strip(" '") for t in str(tags).split(",")]
        path = ".".join(shown + ["type"])
        text = f"unknown type '{tag}'{did_you_mean(tag, names)}; choose one of: {', '.join(names)}"
    elif kind == "union_tag_not_found":
        path = ".".join(shown + ["type"])
        text = "required key is missing (it chooses the variant)"
    elif kind == "literal_error":
        expected = str(first.get("ctx", {}).get("expected", ""))
        names = [t.strip(" '") for t in expected.replace(" or ", ",").split(",") if t.strip()]
        text = f"{msg}{did_you_mean(received, names)}; received {_short(received)}"
    elif isinstance(received, (dict, list)) and kind.startswith("value_error"):
        text = msg
    elif f"'{received}'" in msg:
        text = msg
    else:
        text = f"{msg}; received {_short(received)}"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return ConfigError(f"{source}: {path}: {text}{more}")


def validate(data: Mapping[str, Any], source: str = "config"):
    """A validated ExperimentConfig from plain data, or a one-line ConfigError."""
    from pydantic import ValidationError

    from dlhw.config.schema import ExperimentConfig

    if any(k in data for k in ("grid", "random")):
        raise ConfigError(f"{source}: this is a sweep file (it has grid:); run it with `dlhw sweep {source}`")
    data = {k: v for k, v in data.items() if k != "repeats"}
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, source) from None
    cfg._source = source  # data errors name the config file too (dlhw.data.paths)
    return cfg


def load_config(path: str | Path, overrides: Iterable[str | tuple[str, Any]] = ()):
    """Read a config file, apply overrides, validate: the one way in."""
    raw = apply_overrides(load_raw(path), overrides)
    return validate(raw, str(path))
