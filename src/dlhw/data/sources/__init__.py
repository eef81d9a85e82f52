"""Data sources as plugins: one module per source, each registering one ``Source`` object
(dlhw.data.sources.base) in ``SOURCES``. ``source_for(name)`` gives it.

Modules: sklearn, csv, image_csv, image_folder, keras, sequences. A new source is one more
module here and its import below; nothing else in the package branches on a source's name.
"""

from __future__ import annotations

from dlhw.data.sources.base import SOURCES, Source, source_for
from dlhw.data.sources import csv, image_csv, image_folder, keras, sequences, sklearn  # noqa: F401  (register)
from dlhw.data.sources.keras import KERAS_SETS, keras_cache_dir, keras_download_target, multi_hot
from dlhw.data.sources.sklearn import SKLEARN_SETS
from dlhw.data.table import read_table

__all__ = ["KERAS_SETS", "SKLEARN_SETS", "SOURCES", "Source", "keras_cache_dir", "keras_download_target",
           "multi_hot", "read_table", "source_for"]
