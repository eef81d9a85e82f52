"""``source: sequences``: fixed-length sequences from .npz, .npy (+ labels .npy) or CSV files;
the loader is dlhw.data.sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from dlhw.data.sources.base import SOURCES, Count, Shape, Source


class SequencesSource(Source):
    name = "sequences"
    path_kind = "sequences file"

    def load(self, cfg, task: str, seed: int):
        from dlhw.data.sequences import load_sequences

        return load_sequences(cfg, task, seed)

    def paths(self, dcfg) -> List[Tuple[str, str, str]]:
        found = super().paths(dcfg)
        if getattr(dcfg, "labels", None):
            found.append(("dataset.labels", str(dcfg.labels), "labels file"))
        return found

    def check_kind(self, key: str, path: Path, prefix: str) -> None:
        from dlhw.errors import DataError

        if path.is_dir():
            raise DataError(f"{prefix}{key}: {path} is a folder; source 'sequences' needs a .npz, .npy or .csv file")

    def header_shape(self, dcfg) -> Optional[Shape]:
        from dlhw.data.sequences import array_header, csv_width, kind_of

        path = Path(dcfg.path)
        if kind_of(path) == "csv":
            width = csv_width(path)
            return None if width is None else ((width, 1), f"the first line of {path}")
        shape = array_header(dcfg)
        sample = tuple(int(v) for v in shape[1:]) + ((1,) if len(shape) == 2 else ())
        return sample, f"the array header of {path}"

    def output_count(self, cfg) -> Optional[Count]:
        from dlhw.data.sequences import read_labels

        d = cfg.dataset
        self.check_present(d, getattr(cfg, "_source", None))
        y = read_labels(d)
        where = f"the labels of {d.labels or d.path}"
        if cfg.task == "classification":
            return len(np.unique(y)), where, "labels"
        return (1 if y.ndim == 1 else int(np.prod(y.shape[1:]))), where, "labels"

    def predict_inputs(self, inputs: Sequence[str], pre: Dict[str, Any]):
        from dlhw.data.sequences import predict_inputs

        return predict_inputs(inputs, pre["input_shape"])


SOURCES.register("sequences", SequencesSource())
