"""The shared last steps of the in-memory sources (sklearn, csv, keras): max_samples, the seeded
split or fold, dataset.classes, standardisation and the empty-split check."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from dlhw.data.dataset import SPLITS, Dataset, Split, fingerprint, subsample
from dlhw.errors import ConfigError, DataError


def standardize(splits: Dict[str, Split], meta: Dict[str, Any]) -> None:
    """Scale features to zero mean, unit variance using train statistics only."""
    x = splits["train"].x
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    for s in splits.values():
        s.x = ((s.x - mean) / std).astype(np.float32)
    meta["standardize"] = {"mean": mean.tolist(), "std": std.tolist()}


def finish(whole: Split, names: List[str], cfg, task: str, seed: int, meta: Dict[str, Any],
           scale: bool = True) -> Dataset:
    """The Dataset of one table of samples: subsample, split (or fold), classes, scale."""
    stratify = task == "classification"
    if cfg.max_samples:
        whole = subsample(whole, cfg.max_samples, seed, stratify)
    from dlhw.data.folds import make_splits

    splits = make_splits(whole, cfg, seed, stratify, names)
    return build(splits, names, cfg, task, meta, scale, whole)


def build(splits, names, cfg, task, meta, scale, whole) -> Dataset:
    from dlhw.data.dataset import select_classes

    unseen, unseen_names = None, []
    if cfg.classes:
        if task != "classification":
            raise ConfigError(f"dataset.classes: only for classification; task is {task}")
        splits, names, unseen, unseen_names = select_classes(splits, names, cfg.classes,
                                                             other=getattr(cfg, "other_classes", None))
    if scale and getattr(cfg, "standardize", True):  # dataset.standardize: false feeds the values as they are
        standardize(splits, meta)
        if unseen is not None:
            st = meta["standardize"]
            unseen.x = ((unseen.x - np.array(st["mean"])) / np.array(st["std"])).astype(np.float32)
    for name in SPLITS:
        if len(splits[name]) == 0 and (name == "train" or cfg.split.model_dump()[name] > 0):
            raise DataError(f"dataset.split: the {name} split is empty; use more data or larger fractions")
    return Dataset(
        splits=splits,
        class_names=names,
        input_shape=tuple(splits["train"].x.shape[1:]),
        task=task,
        fingerprint=fingerprint(whole.x, whole.y, cfg.classes, cfg.max_samples,
                                *([cfg.other_classes] if getattr(cfg, "other_classes", None) else [])),
        unseen=unseen,
        unseen_names=unseen_names,
        meta=meta,
    )
