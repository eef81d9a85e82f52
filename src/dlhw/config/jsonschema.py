"""The JSON Schema of dlhw's config files, for editors: ``dlhw schema``.

Built from the pydantic models of dlhw.config.schema, so it cannot drift from what the
loader accepts, and written as JSON Schema draft-07, the draft VS Code's YAML extension
(yaml-language-server) validates with: editors complete keys and names, show each key's
description on hover and underline mistakes as you type.

- ``experiment_schema()``: a file ``dlhw run`` and ``dlhw validate`` accept. A file with
  ``base:`` is merged onto its base (dlhw.config.loader.load_raw), so it may be partial:
  every mapping reached through mappings may leave keys out (a model its type too). A list
  replaces its base's list whole, so list items stay complete.
- ``sweep_schema()``: a file ``dlhw sweep`` accepts: the same plus ``grid:`` (a dotted key
  and the list of values it takes, each value checked against that key's schema),
  ``random:`` and ``repeats:``.

What JSON Schema cannot say is left to ``dlhw validate``: that split fractions sum to 1,
that a csv dataset names its target, what a base file contributes, ...
No heavy imports: pydantic only.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Dict, Iterator, List, Tuple

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
REF = "#/definitions/"
ROOT = "ExperimentConfig"
PARTIAL = "Partial"  # suffix of a definition's copy for files with base:

BASE_KEY = {
    "type": "string", "minLength": 1,
    "description": "Start from this config file (a path relative to this file) and override its keys: "
                   "mappings merge, lists and values replace. Keys the base gives may be left out here.",
}
REPEATS_KEY = {
    "type": "integer", "minimum": 1, "default": 1,
    "description": "dlhw sweep: seeds per trial (seed, seed + 1, ...); more than 1 gives mean ± std in "
                   "reports. dlhw run ignores it.",
}
EXECUTOR_KEY = {"type": "string", "enum": ["local", "ray", "slurm"], "default": "local",
                "description": "dlhw sweep: where the trials run when --executor is not given: local (processes "
                               "on this machine), ray, or slurm (a job array; each trial's slurm: block)."}
VARY_KEY = {
    "type": "string", "enum": ["seed", "split", "both"], "default": "both",
    "description": "dlhw sweep, with repeats: what the repeats change: seed (weights and batch order; the "
                   "split stays), split (dataset.split_seed; the seed stays) or both. dlhw run ignores it.",
}
RANDOM_KEY = {
    "type": "object", "additionalProperties": False, "required": ["samples"],
    "description": "Train a random subset of the grid's combinations instead of all of them.",
    "properties": {
        "samples": {"type": "integer", "minimum": 1,
                    "description": "How many combinations to draw (all of them when the grid has fewer)."},
        "seed": {"type": "integer", "default": 0,
                 "description": "Seed of the draw: the same seed, the same trials. Default: 0."},
    },
}
SEARCH_KEY = {
    "type": "object", "additionalProperties": False, "required": ["trials"],
    "description": "Search the space: with an Optuna study instead of a grid (dlhw.sweeps.search).",
    "properties": {
        "trials": {"type": "integer", "minimum": 1, "description": "Trials in all, over every run of the command."},
        "sampler": {"type": "string", "enum": ["tpe", "random", "grid", "cmaes", "qmc", "nsga2"], "default": "tpe",
                    "description": "How the next trial is chosen."},
        "metric": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                   "default": "val_accuracy",
                   "description": "What the search optimises (losses minimised, accuracies maximised); a list: "
                                  "multi-objective (no pruner)."},
        "pruner": {"anyOf": [
            {"type": "string", "enum": ["none", "median", "asha", "hyperband"]},
            {"type": "object", "additionalProperties": False, "properties": {
                "type": {"type": "string", "enum": ["none", "median", "asha", "hyperband"], "description": "The pruner."},
                "min_epochs": {"type": "integer", "minimum": 1, "description": "Epochs before a trial may be pruned."},
                "reduction_factor": {"type": "integer", "minimum": 2, "description": "asha, hyperband: keep 1 in this many."},
                "startup_trials": {"type": "integer", "minimum": 0, "description": "median: trials finished first."}}},
            {"type": "null"}], "description": "Stops hopeless trials early (status pruned)."},
        "seed": {"type": "integer", "minimum": 0, "default": 0, "description": "The sampler's seed."},
        "enqueue": {"type": "array", "items": {"type": "object"}, "description": "Trials to try first: space keys to values."},
        "scheduler": {"anyOf": [
            {"type": "string", "enum": ["none", "successive_halving", "hyperband", "pbt"]},
            {"type": "object", "additionalProperties": False, "properties": {
                "type": {"type": "string", "enum": ["none", "successive_halving", "hyperband", "pbt"],
                         "description": "The scheduler."},
                "min_epochs": {"type": "integer", "minimum": 1, "description": "Epochs of the first rung."},
                "reduction_factor": {"type": "integer", "minimum": 2, "description": "Keep 1 in this many at each rung."},
                "interval": {"type": "integer", "minimum": 1,
                             "description": "pbt: epochs between two exploit/explore steps."},
                "quantile": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5,
                             "description": "pbt: the bottom quantile copies a checkpoint of the top quantile."},
                "perturb": {"type": "array", "items": {"type": "number"}, "minItems": 1,
                            "description": "pbt: factors the copied numeric parameters are multiplied by."},
                "keys": {"type": "array", "items": {"type": "string"},
                         "description": "pbt: the numeric space keys explore perturbs (default: all numeric ones)."}}},
            {"type": "null"}], "description": "Promotion: the best trials of a rung continue from their checkpoint, "
                                              "the others pause; pbt: population-based training (needs "
                                              "training.checkpoint; no pruner)."},
        "warm_start": {"type": "string", "description": "An earlier search's sweep folder: its finished trials that "
                                                        "fit this space seed the new study."},
    },
}
_SIDE = {"type": "object", "minProperties": 1, "additionalProperties": True}
CLAIMS_KEY = {
    "type": "array",
    "description": "dlhw sweep: what the sweep expects to find, checked by dlhw report --check (held, refuted or "
                   "inconclusive, from the repeats' confidence intervals; Holm-corrected p-values).",
    "items": {
        "type": "object", "additionalProperties": False, "required": ["metric"],
        "description": "better: + than: (one side beats the other) or same: (equivalent within ±within).",
        "anyOf": [{"required": ["better", "than"]}, {"required": ["same", "within"]}],
        "properties": {
            "better": {**_SIDE, "description": "Config keys to values: the runs claimed better, e.g. "
                                              "{training.optimizer.type: adam}."},
            "than": {**_SIDE, "description": "Config keys to values: the runs claimed worse."},
            "same": {**_SIDE, "description": "One key with a list of two values, e.g. {model.api: [sequential, "
                                            "functional]}, or one side (with as:)."},
            "as": {**_SIDE, "description": "same: the other side, when same: names one."},
            "metric": {"type": "string", "minLength": 1,
                       "description": "The metric compared, e.g. test_accuracy, val_loss (losses: lower is better)."},
            "within": {"type": "number", "exclusiveMinimum": 0,
                       "description": "same: the equivalence margin, in the metric's units."},
            "name": {"type": "string", "description": "A name shown instead of the spelled-out claim."},
        },
    },
}
RANGE = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "description": "A range: {log_uniform: [low, high]}, {uniform: [low, high]}, {int: [low, high], step, log} "
                   "or {float: [low, high], step, log}.",
    "properties": {k: {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                       "description": f"[low, high]: {what}."}
                   for k, what in (("log_uniform", "a number on a log scale (low above 0)"),
                                   ("uniform", "a number"), ("int", "a whole number"), ("float", "a number"))} | {
        "step": {"type": "number", "exclusiveMinimum": 0, "description": "int, float: the grid of values."},
        "log": {"type": "boolean", "description": "int, float: sample on a log scale (low above 0)."}},
}
EXPERIMENT_ABOUT = ("A dlhw experiment config (dlhw run, dlhw validate): data, model, training plan. "
                    "With base: it may leave out what its base file gives.")
SWEEP_ABOUT = ("A dlhw sweep file (dlhw sweep FILE, or a file of a swept folder): an experiment config, "
               "usually base: plus a grid: of dotted keys and the values each takes; repeats: and random: "
               "optional. Or base: plus search: and space: (an Optuna search).")


def experiment_schema() -> Dict[str, Any]:
    """The JSON Schema of an experiment config file (``dlhw schema``)."""
    defs = _definitions()
    return _document(defs, "dlhw experiment config", EXPERIMENT_ABOUT, {"base": BASE_KEY, "repeats": REPEATS_KEY,
                                                                                 "vary": VARY_KEY})


def sweep_schema() -> Dict[str, Any]:
    """The JSON Schema of a sweep file (``dlhw schema --sweep``); it accepts experiment configs too."""
    defs = _definitions()
    grid = _grid(defs)  # before base: and the sweep keys join the root: a grid cannot vary those
    space = copy.deepcopy(grid)  # search: the same dotted keys, each a list of choices or a range
    space["description"] = ("Dotted keys and what a search samples for each: a list of choices (categorical) "
                            "or a range, e.g. {log_uniform: [1.0e-4, 1.0e-1]}, {int: [16, 512], step: 16}.")
    for table in (space["properties"], space["patternProperties"]):
        for key, entry in table.items():
            table[key] = {"anyOf": [{k: v for k, v in entry.items() if k != "description"}, {"$ref": REF + "Range"}],
                          "description": entry["description"].replace("one trial each", "a search samples")}
    defs["Range"] = copy.deepcopy(RANGE)
    extra = {"base": BASE_KEY, "grid": grid, "random": RANDOM_KEY, "repeats": REPEATS_KEY, "vary": VARY_KEY,
             "search": SEARCH_KEY, "space": space, "executor": EXECUTOR_KEY, "claims": CLAIMS_KEY}
    return _document(defs, "dlhw sweep file", SWEEP_ABOUT, extra, {"random": ["grid"], "search": ["space"],
                                                                   "space": ["search"]})


def dumps(schema: Dict[str, Any]) -> str:
    """The schema as the text ``dlhw schema`` prints and writes."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------- the models
def _definitions() -> Dict[str, Dict[str, Any]]:
    """Every model's schema as draft-07, keyed by model name; ROOT is the experiment itself."""
    from dlhw.config.schema import ExperimentConfig

    raw = ExperimentConfig.model_json_schema(ref_template=REF + "{model}")
    defs = raw.pop("$defs", {})
    defs[ROOT] = raw
    for node in _nodes(defs):
        if "discriminator" in node:  # pydantic refuses a variant without its tag, even a defaulted one
            tag = node["discriminator"]["propertyName"]
            for branch in node["oneOf"]:
                variant = defs[branch["$ref"][len(REF):]]
                variant["properties"][tag].pop("default", None)  # required now: "Default: cnn" would mislead
                required = variant.setdefault("required", [])
                if tag not in required:
                    required.insert(0, tag)
    defs = {name: _draft07(node) for name, node in defs.items()}
    return _hoist_names(defs)


def _hoist_names(defs: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Each list of names (activations, optimizers, ...) defined once and referred to; pydantic
    spreads a name's two alternatives (the names, any letter case) into an Optional's anyOf."""
    from typing import get_args

    from dlhw.config import schema

    kinds = ("Activation", "Initializer", "DatasetSource", "BackboneName", "OptimizerName", "LossName", "MonitorName")
    found: Dict[str, Dict[str, Any]] = {}
    named = {}
    for kind in kinds:
        branches = get_args(getattr(schema, kind))[1].json_schema["anyOf"]
        named[json.dumps(branches, sort_keys=True)] = (kind, branches)

    def swap(node: Any) -> Any:
        if isinstance(node, list):
            return [swap(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: swap(v) for k, v in node.items()}
        branches = out.get("anyOf", [])
        for i in range(len(branches) - 1):
            hit = named.get(json.dumps(branches[i:i + 2], sort_keys=True))
            if hit:
                kind, found[kind] = hit[0], {"anyOf": hit[1]}
                rest = branches[:i] + [{"$ref": REF + kind}] + branches[i + 2:]
                del out["anyOf"]
                out["allOf" if len(rest) == 1 else "anyOf"] = rest  # allOf: draft-07 keeps no siblings of $ref
                break
        return out

    swapped = {name: swap(node) for name, node in defs.items()}
    return {**swapped, **found}
def _nodes(node: Any) -> Iterator[Dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v)


def _draft07(node: Any) -> Any:
    """pydantic's draft 2020-12 output as draft-07, without pydantic's titles; defaults in the descriptions."""
    if isinstance(node, list):
        return [_draft07(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: ({name: _draft07(s) for name, s in v.items()} if k == "properties" else _draft07(v))
           for k, v in node.items() if k not in ("title", "discriminator")}  # properties: names, kept all
    if "prefixItems" in out:  # a tuple such as image_size
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = False
    if "$ref" in out and len(out) > 1:  # draft-07 ignores the siblings of $ref: keep the description
        out["allOf"] = [{"$ref": out.pop("$ref")}]
    for prop in out.get("properties", {}).values():
        _describe_default(prop)
    return out


def _describe_default(prop: Dict[str, Any]) -> None:
    """Append "Default: x." to a key's description, for the hover (completion shows the default itself)."""
    text = prop.get("description", "")
    value = prop.get("default")
    if not text or value is None or "default" in text.lower() or isinstance(value, dict):
        return
    shown = value if isinstance(value, str) else json.dumps(value)
    if len(shown) <= 40:
        prop["description"] = f"{text.rstrip('.')}. Default: {shown}."


# --------------------------------------------------------- files with base:
def _partial(defs: Dict[str, Dict[str, Any]], node: Any) -> Any:
    """``node`` with nothing required, for a file merged onto its base; ``<Name>Partial`` definitions
    are made as references reach them. Array items are left complete: a list replaces the base's."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "$ref" in out:
        name = out["$ref"][len(REF):]
        if name + PARTIAL not in defs:
            defs[name + PARTIAL] = {}  # reserved first: a model may refer to itself
            defs[name + PARTIAL] = _partial(defs, defs[name])
        out["$ref"] = REF + name + PARTIAL
    out.pop("required", None)
    if "properties" in out:
        out["properties"] = {k: _partial(defs, v) for k, v in out["properties"].items()}
    for key in ("anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = [_partial(defs, v) for v in out[key]]
    if "oneOf" in out:  # partial variants overlap (a model with only output: fits all three)
        out["anyOf"] = out.pop("oneOf")
    return out


def _document(defs: Dict[str, Dict[str, Any]], title: str, about: str, extra: Dict[str, Any],
              dependencies: Dict[str, List[str]] | None = None) -> Dict[str, Any]:
    _partial(defs, {"$ref": REF + ROOT})
    extra = copy.deepcopy(extra)  # the module's constants stay as they are, whatever a caller does
    for key, value in list(extra.items()):
        if "properties" in value:  # grid:, random: defined once, for both roots
            defs[key.capitalize()] = value
            extra[key] = {"allOf": [{"$ref": REF + key.capitalize()}], "description": value["description"]}
    for root in (defs[ROOT], defs[ROOT + PARTIAL]):  # base: and the sweep keys are never merged: complete
        root["properties"] = {**extra, **root["properties"]}
        if dependencies:
            root["dependencies"] = dependencies
    return {
        "$schema": DRAFT_07,
        "title": title,
        "description": about,
        "$comment": "Written by `dlhw schema`; regenerate it after upgrading dlhw.",
        "type": "object",
        "if": {"required": ["base"]},
        "then": {"$ref": REF + ROOT + PARTIAL},
        "else": {"$ref": REF + ROOT},
        "definitions": dict(sorted(defs.items())),
    }


# ---------------------------------------------------------------- sweep grid
INDEX = "<N>"  # a list index in a dotted key


def _grid(defs: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """grid: every dotted key a config has (list items by index: model.layers.0.units) and the list
    of values it may take, each checked against the key's own schema (referred to by JSON pointer);
    an unknown key is refused, as the loader refuses it once set."""
    found: Dict[str, Dict[str, str]] = {}  # dotted key -> {schema text: pointer}
    for key, pointer, schema in _paths(defs, REF + ROOT, []):
        found.setdefault(key, {}).setdefault(json.dumps(schema, sort_keys=True), pointer)
    properties: Dict[str, Any] = {}
    patterns: Dict[str, Any] = {}
    for key, schemas in found.items():
        refs = [{"$ref": p} for p in schemas.values()]
        what = next((json.loads(t)["description"] for t in schemas if "description" in json.loads(t)), "")
        entry = {"type": "array", "minItems": 1, "items": refs[0] if len(refs) == 1 else {"anyOf": refs},
                 "description": f"The values {key.replace(INDEX, 'N')} takes, one trial each. {what}".rstrip()}
        if INDEX in key:
            patterns["^" + re.escape(key).replace(re.escape(INDEX), r"\d+") + "$"] = entry
        else:
            properties[key] = entry
    return {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "description": "Dotted keys (model.layers, training.optimizer.learning_rate, model.layers.0.units) and "
                       "the list of values each takes; every combination is a trial. A value replaces the "
                       "key's value whole.",
        "properties": properties,
        "patternProperties": patterns,
    }


def _paths(defs: Dict[str, Dict[str, Any]], pointer: str, prefix: List[str]) -> Iterator[Tuple[str, str, Any]]:
    """(dotted key, JSON pointer of its schema, the schema) for every key below the schema at
    ``pointer``, through every variant of a union."""
    for where, alt in _alternatives(defs, pointer):
        for name, child in alt.get("properties", {}).items():
            yield from _below(defs, f"{where}/properties/{name}", child, prefix + [name])
        items = alt.get("items")
        if isinstance(items, dict):
            yield from _below(defs, f"{where}/items", items, prefix + [INDEX])
        elif isinstance(items, list):  # a tuple: image_size.0, image_size.1
            for i, item in enumerate(items):
                yield from _below(defs, f"{where}/items/{i}", item, prefix + [str(i)])


def _below(defs: Dict[str, Dict[str, Any]], pointer: str, schema: Dict[str, Any],
           path: List[str]) -> Iterator[Tuple[str, str, Any]]:
    yield ".".join(path), pointer, schema
    yield from _paths(defs, pointer, path)


def _at(defs: Dict[str, Dict[str, Any]], pointer: str) -> Any:
    node: Any = {"definitions": defs}
    for part in pointer[2:].split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _alternatives(defs: Dict[str, Dict[str, Any]], pointer: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(pointer, schema) of the concrete schemas the one at ``pointer`` may be: references followed,
    unions and allOf opened."""
    node = _at(defs, pointer)
    if "$ref" in node:
        yield from _alternatives(defs, node["$ref"])
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for i in range(len(node.get(key, []))):
            yield from _alternatives(defs, f"{pointer}/{key}/{i}")
    yield pointer, node
