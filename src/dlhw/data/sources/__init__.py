"""Data sources as plugins: one module per source, each registering one ``Source`` object
(dlhw.data.sources.base) in ``SOURCES``. ``source_for(name)`` gives it.

Modules: sklearn, csv, image_csv, image_folder, keras, sequences. A new source is one more
module here and its import below; nothing else in the package branches on a source's name.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from dlhw.data.sources import csv, image_csv, image_folder, keras, sequences, sklearn  # noqa: F401  (register)
from dlhw.data.sources.base import SOURCES, Source
from dlhw.data.sources.csv import check_csv_targets
from dlhw.data.sources.keras import KERAS_SETS, keras_cache_dir, keras_download_target, multi_hot
from dlhw.data.sources.sklearn import SKLEARN_SETS
from dlhw.data.table import read_table


def source_for(name: Any) -> Source:
    """The registered source called ``name`` (a ConfigError naming dataset.source otherwise)."""
    return SOURCES.get(str(name), "dataset.source")


def data_paths(dataset: Any) -> List[Tuple[str, str, str]]:
    """(key, path, what) for every file or folder the dataset section points at."""
    return source_for(dataset.source).paths(dataset)


def check_data_paths(dataset: Any, where: Optional[str] = None) -> List[str]:
    """Raise DataError for the first data path that is missing or of the wrong kind (the dataset's
    source decides what it needs); else the paths checked. No TensorFlow: ``dlhw validate``."""
    return source_for(dataset.source).check_present(dataset, where)


__all__ = ["check_csv_targets", "check_data_paths", "data_paths", "KERAS_SETS", "SKLEARN_SETS", "SOURCES", "Source", "keras_cache_dir", "keras_download_target",
           "multi_hot", "read_table", "source_for"]
