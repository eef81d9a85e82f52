"""Data: sources registry, the Dataset value and splits.

``load_dataset(cfg)`` turns a validated ExperimentConfig into a Dataset.
"""

from __future__ import annotations

from dlhw.data.dataset import SPLITS, Dataset, Split
from dlhw.data.sources import SOURCES


def load_dataset(cfg) -> Dataset:
    """The Dataset described by ``cfg.dataset`` for ``cfg.task``, split with ``cfg.seed`` (or ``dataset.split_seed``).

    Missing data paths fail first, naming the config file and the fix (dlhw.data.paths)."""
    from dlhw.data.dataset import use_test_for_validation
    from dlhw.data.paths import check_data_paths

    loader = SOURCES.get(cfg.dataset.source, "dataset.source")
    check_data_paths(cfg.dataset, getattr(cfg, "_source", None))
    from dlhw.data.folds import split_seed

    return use_test_for_validation(loader(cfg.dataset, cfg.task, split_seed(cfg)), cfg)


__all__ = ["SOURCES", "SPLITS", "Dataset", "Split", "load_dataset"]
