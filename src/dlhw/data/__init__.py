"""Data: the sources (one plugin module each, dlhw.data.sources), the Dataset value and splits.

``load_dataset(cfg)`` turns a validated ExperimentConfig into a Dataset.
"""

from __future__ import annotations

from dlhw.data.dataset import SPLITS, Dataset, Split
from dlhw.data.sources import SOURCES, source_for


def load_dataset(cfg) -> Dataset:
    """The Dataset described by ``cfg.dataset`` for ``cfg.task``, split with ``cfg.seed`` (or ``dataset.split_seed``).

    Missing data paths fail first, naming the config file and the fix (the source's check_present)."""
    from dlhw.data.dataset import check_input_shape, use_test_for_validation
    from dlhw.data.folds import split_seed

    source = source_for(cfg.dataset.source)
    source.check_present(cfg.dataset, getattr(cfg, "_source", None))
    dataset = source.load(cfg.dataset, cfg.task, split_seed(cfg))
    check_input_shape(cfg.dataset, dataset, getattr(cfg, "_source", None))
    return use_test_for_validation(dataset, cfg)


__all__ = ["SOURCES", "SPLITS", "Dataset", "Split", "load_dataset", "source_for"]
