"""Data: sources registry, the Dataset value and splits.

``load_dataset(cfg)`` turns a validated ExperimentConfig into a Dataset.
"""

from __future__ import annotations

from dlhw.data.dataset import SPLITS, Dataset, Split
from dlhw.data.sources import SOURCES


def load_dataset(cfg) -> Dataset:
    """The Dataset described by ``cfg.dataset`` for ``cfg.task``, split with ``cfg.seed``."""
    loader = SOURCES.get(cfg.dataset.source, "dataset.source")
    return loader(cfg.dataset, cfg.task, cfg.seed)


__all__ = ["SOURCES", "SPLITS", "Dataset", "Split", "load_dataset"]
