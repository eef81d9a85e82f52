"""Read, merge and validate configs; turn every mistake into one clear line.

YAML is read with a ``yaml.SafeLoader`` only (python tags are refused, never
executed), and within limits a hand-written config never reaches: the file's
size, nesting depth, what its aliases expand to, the digits of an integer.
A config may name a ``base:`` file whose keys it overrides; ``--set
key.path=value`` overrides come last and are validated with the rest.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from dlhw.errors import ConfigError, did_you_mean, plain_words, shorten

if TYPE_CHECKING:
    from pydantic import BaseModel

SWEEP_KEYS = ("grid", "random", "repeats", "vary", "search", "space", "executor", "claims")


# ------------------------------------------------------------------------ yaml
MAX_FILE_BYTES = 1_000_000      # a config file; hand-written ones are a few kB
MAX_DEPTH = 100                 # nested mappings / lists (aliases included); configs use < 10
MAX_NODES = 1_000_000           # values once aliases are expanded (a 1 MB file without aliases has fewer)
MAX_CHARS = 10_000_000          # characters of all scalars once aliases are expanded
MAX_INT_DIGITS = 100            # an integer literal; the schema's bounds are far below this

class YamlLimitError(ConfigError):
    """A YAML document over one of the limits above; ``mark`` is where it was found."""

    def __init__(self, problem: str, mark: Any = None):
        super().__init__(problem)
        self.problem, self.mark = problem, mark

    def where(self) -> str:
        return f"line {self.mark.line + 1}, column {self.mark.column + 1}: " if self.mark is not None else ""


class _Guard:
    """Watches the parser's events, before anything is built: depth, alias expansion, long integers.

    Each node's expanded size (values, scalar characters) and height are summed as its events
    stream by; an anchor remembers its node's, so an alias costs what it expands to without
    being expanded. A billion-laughs file is refused at the alias that crosses the limit."""

    def __init__(self, loader: Any):
        self.loader = loader
        self.stack: list[list[Any]] = []          # open collections: [anchor, nodes, chars, height]
        self.anchors: dict[str, tuple[int, int, int]] = {}
        self.open: set[str] = set()

    def see(self, event: Any) -> None:
        import yaml

        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(self.stack) >= MAX_DEPTH:
                raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep; a config needs far fewer",
                                     event.start_mark)
            self.stack.append([event.anchor, 1, 0, 0])
            if event.anchor:
                self.open.add(event.anchor)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, nodes, chars, height = self.stack.pop()
            self._add(anchor, (nodes, chars, height + 1), event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            self._check_int(event)
            self._add(event.anchor, (1, len(event.value), 0), event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if anchor in self.open:
                raise YamlLimitError(f"alias *{anchor[:40]} refers to a collection that contains "
                                     f"it (a recursive structure)", event.start_mark)
            size = self.anchors.get(anchor)
            if size is not None:  # an undefined alias is left to the composer's own error
                if len(self.stack) + size[2] > MAX_DEPTH:
                    raise YamlLimitError(f"alias *{anchor[:40]} nests the document more than "
                                         f"{MAX_DEPTH} levels deep", event.start_mark)
                self._add(None, size, event.start_mark)

    def _add(self, anchor: Any, size: tuple[int, int, int], mark: Any) -> None:
        if anchor:
            self.anchors[anchor] = size
            self.open.discard(anchor)
        if not self.stack:
            nodes, chars = size[0], size[1]
        else:
            top = self.stack[-1]
            top[1] += size[0]
            top[2] += size[1]
            top[3] = max(top[3], size[2])
            nodes, chars = top[1], top[2]
        if nodes > MAX_NODES or chars > MAX_CHARS:
            raise YamlLimitError(
                f"aliases expand the document to more than {MAX_NODES:,} values or {MAX_CHARS:,} characters "
                f"(an alias bomb?)", mark)

    def _check_int(self, event: Any) -> None:
        if len(event.value) <= MAX_INT_DIGITS:
            return
        import yaml

        tag = event.tag if event.tag not in (None, "!") else self.loader.resolve(yaml.ScalarNode, event.value,
                                                                                 event.implicit)
        if tag == "tag:yaml.org,2002:int":
            raise YamlLimitError(f"an integer of {len(event.value)} characters; numbers in a config have at "
                                 f"most {MAX_INT_DIGITS} digits", event.start_mark)


@functools.lru_cache(maxsize=1)
def safe_loader():
    """yaml.SafeLoader that reads 1e-4 as a float (YAML 1.1 wants 1.0e-4) and enforces the limits."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        def __init__(self, stream: Any):
            super().__init__(stream)
            self._guard = _Guard(self)

        def get_event(self) -> Any:
            event = super().get_event()
            self._guard.see(event)
            return event

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except (ValueError, TypeError, OverflowError) as exc:  # 2001-13-45, !!float abc
                why = str(exc) if len(str(exc)) <= 120 else str(exc)[:117] + "..."
                raise YamlLimitError(f"cannot read {shorten(getattr(node, 'value', ''), 40)} as "
                                     f"{node.tag.rsplit(':', 1)[-1]}: {why}", node.start_mark) from None

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$|^[-+]?\d[\d_]*\.\d*(?:[eE][-+]?\d+)?$"
                   r"|^[-+]?\.\d+(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
        list("-+0123456789."),
    )
    return Loader


def load_yaml_text(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=safe_loader())  # noqa: S506 - a SafeLoader subclass


def sibling_hint(p: Path) -> str:
    """'; did you mean x.yml?' when the same name with the other YAML extension (or none) exists."""
    other = {".yaml": ".yml", ".yml": ".yaml"}.get(p.suffix)
    candidates = [p.with_suffix(other)] if other else [p.with_name(p.name + ".yaml"), p.with_name(p.name + ".yml")]
    found = next((c for c in candidates if c.is_file()), None)
    return f"; did you mean {found}?" if found else ""


def read_yaml(path: str | Path) -> Any:
    """Parse one YAML file safely; errors name the file, line and column."""
    import yaml

    from dlhw.runtime.files import path_kind, read_small

    p = Path(path)
    kind = path_kind(p)  # checked before anything is opened: a FIFO or device never hangs a read
    if kind is None:
        raise ConfigError(f"{p}: config file not found{sibling_hint(p)}")
    if kind == "folder":
        configs = sorted(c.name for c in p.iterdir() if c.suffix in (".yaml", ".yml"))
        shown = ", ".join(configs[:3]) + (f" and {len(configs) - 3} more" if len(configs) > 3 else "")
        hint = f"; it holds {shown}: a folder of configs runs with `dlhw sweep {p}`" if configs else ""
        raise ConfigError(f"{p}: is a folder, expected a YAML config file{hint}")
    if kind != "file":
        raise ConfigError(f"{p}: is a {kind}, not a config file; special files are never read")
    try:
        data = read_small(p, MAX_FILE_BYTES + 1)  # never more; read_small refuses a file swapped for a FIFO
        if len(data) > MAX_FILE_BYTES:
            size = p.stat().st_size if p.is_file() else 0
            shown = f"{size / 1e6:.1f} MB" if size else f"more than {MAX_FILE_BYTES // 1_000_000} MB"
            raise ConfigError(f"{p}: the file is {shown}; a config file may be at most "
                              f"{MAX_FILE_BYTES // 1_000_000} MB")
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # the reason, never the bytes
        raise ConfigError(f"{p}: not a text file (byte {exc.start} is not UTF-8); a config is UTF-8 YAML") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    try:
        return load_yaml_text(text)
    except YamlLimitError as exc:
        raise ConfigError(f"{p}: {exc.where()}{exc.problem}") from None
    except RecursionError:  # the guard stops nesting long before this; kept as a last line
        raise ConfigError(f"{p}: nested too deeply to read") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            f"{p}: {where}YAML tag not allowed ({exc.problem}); configs are plain data"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = _no_quotes(getattr(exc, "problem", None) or "cannot parse the file")
        raise ConfigError(f"{p}: YAML syntax error at {where}{problem}") from None


def _no_quotes(problem: str) -> str:
    """A parser's problem without the file's content it may quote (a token, an alias name): a
    file that is not a config (a key file, a .env) is never echoed in an error."""
    text = str(problem).splitlines()[0] if problem else ""
    return re.sub(r"'([^'\s]{4,})'|\"([^\"\s]{4,})\"", "(...)", text)[:120]  # ',' and ']' stay: the parser's own


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
    _check_is_config(p, data)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{p}: base: expected a file path; received {shorten(base)}")
    if Path(base).suffix.lower() not in CONFIG_SUFFIXES:
        raise ConfigError(f"{p}: base: {shorten(base, 80)} is not a config file name; base names a "
                          f"{' or '.join(CONFIG_SUFFIXES)} file")
    try:
        base_path = (p.parent / base).resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop: read_yaml names it
        base_path = Path(os.path.abspath(p.parent / base))
    if base_path in _seen:
        raise ConfigError(f"{p}: base: '{base}' includes itself")
    parent = load_raw(base_path, _seen + (p.resolve(),))
    for k in SWEEP_KEYS:
        parent.pop(k, None)
    return deep_merge(parent, data)


CONFIG_SUFFIXES = (".yaml", ".yml")


def _check_is_config(p: Path, data: dict[str, Any]) -> None:
    """A mapping none of whose top-level keys is a config section is not a dlhw config: refused
    without quoting its keys or values (it may be a credentials file a path pointed at)."""
    from dlhw.config.schema import ExperimentConfig

    known = set(ExperimentConfig.model_fields) | set(SWEEP_KEYS) | {"base"}
    if data and not any(isinstance(k, str) and k in known for k in data):
        raise ConfigError(f"{p}: not a dlhw config: none of its {len(data)} top-level keys is a config section "
                          f"(expected some of: dataset, model, training, base, ...)")


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
    except YamlLimitError as exc:
        raise ConfigError(f"--set {key}: {exc.problem}") from None
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


def _resolve(loc: Sequence[Any]) -> "tuple[list[str], list[type[BaseModel]]]":
    """Display path (tags dropped) and the model classes at the end of ``loc``."""
    from dlhw.config.schema import ExperimentConfig

    shown: list[str] = []
    current: "list[type[BaseModel]]" = [ExperimentConfig]
    leaf = False  # past a field that holds plain values: a str part there names a Union member
    mapping = False  # the next part is a dict key, not a field
    for part in loc:
        if isinstance(part, int):
            shown.append(str(part))
            continue
        if leaf:
            continue  # 'float', "literal['scale','auto']": pydantic's union branch, not a key
        tagged = [c for c in current if c.model_fields.get("type") is not None and c.model_fields["type"].default == part]
        if len(current) > 1 and tagged:
            current = tagged
            continue
        fields = [c.model_fields[part] for c in current if part in c.model_fields]
        shown.append(str(part))
        if mapping:  # a key of a Dict[str, Section] field (model.outputs.<name>): the sections stay
            mapping = False
            continue
        if not fields:
            current = []
            continue
        current = _models_in(fields[0].annotation)
        mapping = "Dict[" in str(fields[0].annotation) or "dict[" in str(fields[0].annotation)
        leaf = not current
    return shown, current


def _short(value: Any) -> str:
    return shorten(value, 60)  # never the whole repr: a hostile value may expand to gigabytes


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
    msg = plain_words(str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, "))
    keyed = re.match(r"([a-z_]+(?:\.[A-Za-z0-9_]+)+): ", msg) if not shown else None
    if keyed:  # a cross-section check that names its own key (model.outputs.coords.targets: ...)
        path, msg = keyed.group(1), msg[keyed.end():]
    bound = next((v for k, v in first.get("ctx", {}).items() if k in ("gt", "ge", "lt", "le")), None)
    if isinstance(bound, float) and abs(bound) >= 1e6:  # 1e+30, not thirty-one digits
        msg = f"{msg.rsplit(' ', 1)[0]} {bound:g}"
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
        hint = did_you_mean(received, names) if isinstance(received, str) else ""
        text = f"{msg}{hint}; received {_short(received)}"
    elif isinstance(received, (dict, list)) and kind.startswith("value_error"):
        text = msg
    elif isinstance(received, str) and len(received) <= 60 and f"'{received}'" in msg:
        text = msg
    else:
        text = f"{msg}; received {_short(received)}"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return ConfigError(f"{source}: {path}: {text}{more}")


def validate(data: Mapping[str, Any], source: str = "config"):
    """A validated ExperimentConfig from plain data, or a one-line ConfigError."""
    from pydantic import ValidationError

    from dlhw.config.schema import ExperimentConfig

    sweep_key = next((k for k in ("grid", "random", "search", "space") if k in data), None)
    if sweep_key is not None:
        raise ConfigError(f"{source}: this is a sweep file (it has {sweep_key}:); run it with `dlhw sweep {source}`")
    data = {k: v for k, v in data.items() if k not in ("repeats", "vary")}
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
