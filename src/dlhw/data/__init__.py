"""Data: sources registry, the Dataset value and splits.

``load_dataset(cfg)`` turns a validated ExperimentConfig into a Dataset.
"""

from __future__ import annotations

from dlhw.data.dataset import SPLITS, Dataset, Split
from dlhw.data.sources import SOURCES


def load_dataset(cfg) -> Dataset:
    """The Dataset described by ``cfg.dataset`` for ``cfg.task``, split with ``cfg.seed``."""
    from dlhw.data.dataset import use_test_for_validation

    loader = SOURCES.get(cfg.dataset.source, "dataset.source")
    return use_test_for_validation(loader(cfg.dataset, cfg.task, cfg.seed), cfg)


__all__ = ["SOURCES", "SPLITS", "Dataset", "Split", "load_dataset"]
