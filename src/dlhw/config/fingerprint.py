"""The one config hash: what checkpoints, ``--resume`` and a sweep's trial matching compare.

``fingerprint(cfg_or_dump)`` takes a validated config (``ExperimentConfig``)
or its resolved dump (``cfg.dump()``, or a run folder's config.yaml read back
as plain data: the two give the same hash). 16 hex digits of the SHA-256 of
the dump as compact JSON with sorted keys: the formula checkpoints
(``checkpoints/last.ckpt.npz``, ``config_hash``) have stored since resume
existed, so every run folder written before keeps resuming.

The run name is part of the hash. The name is a key of the resolved config,
written to the run folder's config.yaml, and a run folder is identified by
its whole config: ``dlhw run --resume`` refuses a config that differs from
the folder's in any key, the name included, and a sweep finds a trial's
folders by the trial's name. A trial or run renamed with ``--set name=...``
is therefore a new experiment (it trains into a folder of its own) and its
fingerprint differs. Before, a sweep's hash left the name out and a
checkpoint's kept it; the two now agree (sweep.json's ``hash`` values change
once, its format does not; sweep.json's hashes are only ever compared after
being computed again).

``shape_fingerprint`` is the related hash without what does not change the
time one epoch takes (name, seed, tracking, epoch counts, early stopping, TensorBoard,
checkpoints): trials of one shape cost the same per epoch (sweep estimates).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict

# Keys of a resolved config that do not change what a trial computes per epoch.
_SHAPE_IGNORED = ("name", "seed", "tracking", "slurm")
_SHAPE_IGNORED_TRAINING = ("epochs", "early_stopping", "tensorboard", "checkpoint", "keep_checkpoints")
_SHAPE_IGNORED_STAGE = ("epochs", "early_stopping")


def _dump(cfg_or_dump: Any) -> Dict[str, Any]:
    if isinstance(cfg_or_dump, dict):
        return cfg_or_dump
    dump = getattr(cfg_or_dump, "dump", None)
    if dump is None:
        raise TypeError(f"fingerprint: expected a config or its dump (a dict); received {type(cfg_or_dump).__name__}")
    return dump()


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(cfg_or_dump: Any) -> str:
    """The config's hash, run name included (see the module doc for why)."""
    return _digest(_without_late_defaults(_without_keeping(_dump(cfg_or_dump))))


# Keys added to the schema after the hash's formula was fixed, with their defaults. While a
# key holds its default it is left out of the hash, so a config that does not use it hashes as
# it did before the key existed: run folders and sweeps written by an older dlhw keep resuming
# and keep their finished trials. A key set to anything else is hashed as usual. Every key
# added to the schema belongs here (tests/config/test_fingerprint.py holds hashes of the shipped
# configs from before these keys and fails when a new default changes one). ``*``: every item.
LATE_DEFAULTS: Dict[str, Any] = {
    # issue 16
    "dataset.labels": None, "dataset.input_shape": None, "dataset.image_column": "image",
    "dataset.other_classes": None, "dataset.standardize": True, "dataset.folds": None,
    "dataset.fold": None, "dataset.split_seed": None,
    "model.outputs": None, "model.blocks.*.pool_padding": "valid",
    "training.class_weight": None, "evaluation.top_k": None,
    "training.optimizer.schedule.step_size": 10, "training.optimizer.schedule.gamma": 0.1,
    "training.stages.*.optimizer.schedule.step_size": 10, "training.stages.*.optimizer.schedule.gamma": 0.1,
    # issue 18
    "training.precision": "float32", "training.jit_compile": "auto", "training.distribute": "none",
    "training.batch_size_per": "global",
    # issues 25 and 27 (data)
    "dataset.impute": False,
    "dataset.limits": {"max_image_pixels": 100_000_000, "max_frames": 1_000, "max_array_bytes": 4 * 1024**3},
}


def _drop(node: Any, parts: list, default: Any) -> Any:
    """``node`` without the key at ``parts`` when it holds ``default`` (new containers on the
    path only; nothing is modified in place)."""
    if not parts:
        return node
    head, rest = parts[0], parts[1:]
    if head == "*":
        if not isinstance(node, list):
            return node
        return [_drop(item, rest, default) for item in node]
    if not isinstance(node, dict) or head not in node:
        return node
    if not rest:
        value = node[head]
        if value == default or (isinstance(value, (list, tuple)) and isinstance(default, (list, tuple))
                                and list(value) == list(default)):
            return {k: v for k, v in node.items() if k != head}
        return node
    child = _drop(node[head], rest, default)
    return node if child is node[head] else {**node, head: child}


def _without_late_defaults(data: Dict[str, Any]) -> Dict[str, Any]:
    for path, default in LATE_DEFAULTS.items():
        data = _drop(data, path.split("."), default)
    return data


def _without_keeping(data: Dict[str, Any]) -> Dict[str, Any]:
    """The dump without ``training.keep_checkpoints``, ``tracking`` and ``slurm``: what a completed run
    keeps on disk, where copies of it go (MLflow) and where it runs change nothing it computes, and configs written
    before the keys existed keep their hash (their trials stay done in a sweep, their checkpoints
    resumable)."""
    if "tracking" in data or "slurm" in data:  # slurm: where a trial runs (dlhw.config.slurm)
        data = {k: v for k, v in data.items() if k not in ("tracking", "slurm")}
    training = data.get("training")
    if not isinstance(training, dict) or "keep_checkpoints" not in training:
        return data
    return {**data, "training": {k: v for k, v in training.items() if k != "keep_checkpoints"}}


def shape_fingerprint(cfg_or_dump: Any) -> str:
    """A hash that leaves out name, seed and epoch counts: same shape, same seconds per epoch."""
    # new dicts only where keys are left out (no deep copy: a 10,000-trial plan hashes each trial)
    data = {k: v for k, v in _dump(cfg_or_dump).items() if k not in _SHAPE_IGNORED}
    dataset = data.get("dataset")
    if isinstance(dataset, dict) and ("split_seed" in dataset or "fold" in dataset):  # another split or fold: same shape
        data["dataset"] = {k: v for k, v in dataset.items() if k not in ("split_seed", "fold")}
    training = data.get("training")
    if isinstance(training, dict):
        training = {k: v for k, v in training.items() if k not in _SHAPE_IGNORED_TRAINING}
        if training.get("stages"):
            training["stages"] = [{k: v for k, v in stage.items() if k not in _SHAPE_IGNORED_STAGE}
                                  if isinstance(stage, dict) else stage for stage in training["stages"]]
        data["training"] = training
    return _digest(data)
