"""``claims:`` in a sweep file: what the sweep expects to find, checked by ``dlhw report --check``.

Two forms (dotted config keys, as in ``grid:``)::

    claims:
      - better: {training.optimizer.type: adam}     # a is better than b on metric
        than: {training.optimizer.type: sgd}
        metric: test_accuracy
      - same: {model.api: [sequential, functional]} # one key, two values: equivalent within ±within
        metric: test_accuracy
        within: 0.01
      - same: {model.api: sequential}               # or two sides spelled out
        as: {model.api: functional}
        metric: test_accuracy
        within: 0.01

A side is a mapping of keys to values; a run matches it when its resolved config has every value.
``check_claims`` refuses (ConfigError, exit 2) a claim whose key no trial has, or whose side no
trial matches, before anything trains. The verdicts are dlhw.reports.claims's. No heavy imports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dlhw.errors import ConfigError, did_you_mean

KINDS = ("better", "same")
FIELDS = {"better", "than", "same", "as", "metric", "within", "name"}
NOT_FOUND = object()


@dataclass
class Claim:
    kind: str                      # better | same
    a: dict[str, Any]              # the side claimed better (better), or the first side (same)
    b: dict[str, Any]
    metric: str
    within: float | None = None  # same: the equivalence margin
    index: int = 0                 # position in claims:
    name: str = ""

    @property
    def text(self) -> str:
        if self.name:
            return self.name
        if self.kind == "better":
            return f"{side_text(self.a)} better than {side_text(self.b)} on {self.metric}"
        return f"{side_text(self.a)} same as {side_text(self.b)} on {self.metric} (within ±{self.within:g})"

    def plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "a": self.a, "b": self.b, "metric": self.metric,
                               "index": self.index}
        if self.within is not None:
            out["within"] = self.within
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> Claim:
        return cls(kind=str(data["kind"]), a=dict(data["a"]), b=dict(data["b"]), metric=str(data["metric"]),
                   within=data.get("within"), index=int(data.get("index", 0)), name=str(data.get("name") or ""))


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def side_text(side: dict[str, Any]) -> str:
    """'type=adam, learning_rate=0.001': each key's last part and its value."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={_value_text(v)}" for k, v in side.items())


def _side(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: expected a mapping of config keys to values, e.g. "
                          f"{{training.optimizer.type: adam}}; received {value!r}")
    return {str(k): v for k, v in value.items()}


def parse_claim(item: Any, index: int, source: str) -> Claim:
    where = f"{source}: claims[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a mapping (better:/than:/metric: or same:/metric:/within:); "
                          f"received {item!r}")
    unknown = [k for k in item if k not in FIELDS]
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'{did_you_mean(str(unknown[0]), sorted(FIELDS))}")
    kinds = [k for k in KINDS if k in item]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of better: or same:; received {', '.join(kinds) or 'neither'}")
    metric = item.get("metric")
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"{where}.metric: expected a metric name such as test_accuracy; received {metric!r}")
    name = str(item.get("name") or "")
    if kinds[0] == "better":
        if "than" not in item:
            raise ConfigError(f"{where}: better: needs than: (the side it beats)")
        return Claim("better", _side(item["better"], f"{where}.better"), _side(item["than"], f"{where}.than"),
                     metric, index=index, name=name)
    within = item.get("within")
    if isinstance(within, bool) or not isinstance(within, (int, float)) or within <= 0:
        raise ConfigError(f"{where}.within: expected a number > 0 (the equivalence margin); received {within!r}")
    same = _side(item["same"], f"{where}.same")
    if "as" in item:
        return Claim("same", same, _side(item["as"], f"{where}.as"), metric, float(within), index, name)
    if len(same) != 1 or not isinstance(next(iter(same.values())), list) or len(next(iter(same.values()))) != 2:
        raise ConfigError(f"{where}.same: expected one key with a list of two values, e.g. "
                          f"{{model.api: [sequential, functional]}}, or same: plus as:; received {same!r}")
    key, (va, vb) = next(iter(same.items()))
    return Claim("same", {key: va}, {key: vb}, metric, float(within), index, name)


def parse_claims(raw: Any, source: str, start: int = 0) -> list[Claim]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: claims: expected a list of claims; received {type(raw).__name__}")
    return [parse_claim(item, start + i, source) for i, item in enumerate(raw)]


def lookup(config: dict[str, Any], key: str) -> Any:
    """``config``'s value at dotted ``key`` (NOT_FOUND when a part is missing); a number indexes a
    list (``model.head.1.type``)."""
    node: Any = config
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit():
            if int(part) >= len(node):
                return NOT_FOUND
            node = node[int(part)]
            continue
        if not isinstance(node, dict) or part not in node:
            return NOT_FOUND
        node = node[part]
    return node


def same_value(have: Any, want: Any) -> bool:
    if isinstance(have, str) and isinstance(want, str):
        return have.strip().lower() == want.strip().lower()
    if isinstance(have, (int, float)) and isinstance(want, (int, float)) and not isinstance(have, bool):
        return float(have) == float(want)
    return json.dumps(have, sort_keys=True, default=str) == json.dumps(want, sort_keys=True, default=str)


def matches(config: dict[str, Any], side: dict[str, Any]) -> bool:
    return all(same_value(lookup(config, k), v) for k, v in side.items())


def _keys(config: Any, prefix: str = "") -> list[str]:
    out = [prefix] if prefix else []
    if isinstance(config, list):
        for i, v in enumerate(config):
            out += _keys(v, f"{prefix}.{i}" if prefix else str(i))
    elif isinstance(config, dict):
        for k, v in config.items():
            out += _keys(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def check_claims(claims: Sequence[Claim], configs: Sequence[dict[str, Any]], source: str) -> None:
    """Every key of every claim is in some trial's config, and each side matches some trial."""
    known = sorted({k for c in configs for k in _keys(c)})
    for c in claims:
        for _label, side in (("a", c.a), ("b", c.b)):
            for key, value in side.items():
                if all(lookup(cfg, key) is NOT_FOUND for cfg in configs):
                    raise ConfigError(f"{source}: claims[{c.index}] ({c.text}): key '{key}' is in no trial's "
                                      f"config{did_you_mean(key, known)}")
                if not any(same_value(lookup(cfg, key), value) for cfg in configs):
                    seen = sorted({json.dumps(lookup(cfg, key), default=str) for cfg in configs})
                    raise ConfigError(f"{source}: claims[{c.index}] ({c.text}): no trial has {key}={value!r}; "
                                      f"the trials have {', '.join(seen[:6])}")
            if not any(matches(cfg, side) for cfg in configs):
                raise ConfigError(f"{source}: claims[{c.index}] ({c.text}): no trial matches {side_text(side)}")

