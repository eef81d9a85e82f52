"""Data: sources registry, the Dataset value and splits.

``load_dataset(cfg)`` turns a validated ExperimentConfig into a Dataset.
"""

from __future__ import annotations

from dlhw.data.dataset import SPLITS, Dataset, Split
from dlhw.data.sources import SOURCES
from dlhw.registry import lazy

# Registered here, not in sources.py: image_table reuses sources' CSV cell checks (no import cycle).
SOURCES.register("image_csv", lazy("dlhw.data.image_table", "load_image_csv"))


def load_dataset(cfg) -> Dataset:
    """The Dataset described by ``cfg.dataset`` for ``cfg.task``, split with ``cfg.seed`` (or ``dataset.split_seed``).

    Missing data paths fail first, naming the config file and the fix (dlhw.data.paths)."""
    from dlhw.data.dataset import check_input_shape, use_test_for_validation
    from dlhw.data.paths import check_data_paths

    loader = SOURCES.get(cfg.dataset.source, "dataset.source")
    check_data_paths(cfg.dataset, getattr(cfg, "_source", None))
    from dlhw.data.folds import split_seed

    dataset = loader(cfg.dataset, cfg.task, split_seed(cfg))
    check_input_shape(cfg.dataset, dataset, getattr(cfg, "_source", None))
    return use_test_for_validation(dataset, cfg)


__all__ = ["SOURCES", "SPLITS", "Dataset", "Split", "load_dataset"]
