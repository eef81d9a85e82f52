"""What a model needs to know about the data, read with as little reading as possible.

A model is built from two facts: the shape of one input sample and the number of
outputs (classes, or regression / multilabel targets). ``data_facts(cfg)`` finds them
for ``dlhw summary`` in this order, and says where each came from:

- the config: ``dataset.input_shape``, an image folder's ``image_size`` and ``color_mode``,
  the known shapes and class counts of the keras and sklearn sets, ``model.output.units``,
  ``dataset.classes``, a csv ``target`` list (regression / multilabel);
- the data's headers: a sequences .npz / .npy file's array header, a sequences CSV's first line,
  an image folder's class sub-folders (listed, no image opened), a CSV's header and its
  label column, a sequences file's labels;
- else the whole data set (a csv source's input width depends on its text columns' categories).

``dlhw.data.dataset.check_input_shape`` compares ``dataset.input_shape`` with the data once it
is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from dlhw.data.dataset import SPLITS, Dataset, Split

KERAS_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3), "cifar100": (32, 32, 3)}
KERAS_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "reuters": 46, "imdb": 2}
SKLEARN_FEATURES = {"digits": 64, "iris": 4, "wine": 13, "breast_cancer": 30}
SKLEARN_CLASSES = {"digits": 10, "iris": 3, "wine": 3, "breast_cancer": 2}


@dataclass
class DataFacts:
    """One sample's shape and the output count, and where each was found."""

    input_shape: Tuple[int, ...]
    outputs: int
    shape_from: str
    outputs_from: str
    read: str  # what was read of the data: nothing, headers, labels, everything
    dataset: Optional[Dataset] = None  # the loaded Dataset, when everything was read

    def stand_in(self, cfg) -> Dataset:
        """A Dataset with empty splits and these facts, enough to build the model."""
        if self.dataset is not None:
            return self.dataset
        classification = cfg.task == "classification"
        y = np.zeros(0, np.int64) if classification else np.zeros((0, self.outputs), np.float32)
        files = [] if cfg.dataset.source == "image_folder" else None  # streamed: augmentation layers
        names = [str(i) for i in range(self.outputs)] if cfg.task != "regression" else []
        return Dataset(splits={s: Split(y=y, files=files) for s in SPLITS}, class_names=names,
                       input_shape=tuple(self.input_shape), task=cfg.task)


def config_shape(dcfg) -> Optional[Tuple[Tuple[int, ...], str]]:
    """(one sample's shape, where from) when the config alone says it, else None."""
    if dcfg.input_shape:
        return tuple(dcfg.input_shape), "dataset.input_shape"
    if dcfg.source == "image_folder":
        channels = 1 if dcfg.color_mode == "grayscale" else 3
        return (*dcfg.image_size, channels), "dataset.image_size and color_mode"
    if dcfg.source == "keras":
        if dcfg.name in ("reuters", "imdb"):
            return (dcfg.num_words,), "dataset.num_words"
        if dcfg.name in KERAS_SHAPES:
            return KERAS_SHAPES[dcfg.name], f"the known shape of keras {dcfg.name}"
    if dcfg.source == "sklearn" and dcfg.name in SKLEARN_FEATURES:
        return (SKLEARN_FEATURES[dcfg.name],), f"the known shape of sklearn {dcfg.name}"
    return None


def header_shape(dcfg) -> Optional[Tuple[Tuple[int, ...], str]]:
    """(one sample's shape, where from) from a sequences file's header or first line, else None."""
    if dcfg.source != "sequences":
        return None
    from dlhw.data.sequences import array_header, csv_width, kind_of

    path = Path(dcfg.path)
    if kind_of(path) == "csv":
        width = csv_width(path)
        return None if width is None else ((width, 1), f"the first line of {path}")
    shape = array_header(dcfg)
    sample = tuple(int(v) for v in shape[1:]) + ((1,) if len(shape) == 2 else ())
    return sample, f"the array header of {path}"


def _class_count(cfg) -> Optional[Tuple[int, str, str]]:
    """(classes, where from, what was read) for classification, without the inputs; else None."""
    d = cfg.dataset
    if d.classes:
        return len(d.classes), "dataset.classes", "nothing"
    if d.source == "keras" and d.name in KERAS_CLASSES:
        return KERAS_CLASSES[d.name], f"the known classes of keras {d.name}", "nothing"
    if d.source == "sklearn" and d.name in SKLEARN_CLASSES:
        return SKLEARN_CLASSES[d.name], f"the known classes of sklearn {d.name}", "nothing"
    if d.source in ("image_folder", "sequences", "csv"):
        from dlhw.data.paths import check_data_paths

        check_data_paths(d, getattr(cfg, "_source", None))
    if d.source == "image_folder":
        root = Path(d.path)
        folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        train = next((f for f in folders if f.lower() == "train"), None)
        if train:
            folders = sorted(p.name for p in (root / train).iterdir() if p.is_dir() and not p.name.startswith("."))
        return len(folders), f"the class folders of {root}", "headers"
    if d.source == "sequences":
        from dlhw.data.sequences import read_labels

        return len(np.unique(read_labels(d))), f"the labels of {d.labels or d.path}", "labels"
    if d.source == "csv":
        import pandas as pd

        col = pd.read_csv(d.path, usecols=[d.target] if isinstance(d.target, str) else list(d.target)).iloc[:, 0]
        return int(col.nunique()), f"column '{col.name}' of {d.path}", "labels"
    return None


def _output_count(cfg) -> Optional[Tuple[int, str, str]]:
    """(outputs, where from, what was read), else None (the data must be loaded)."""
    units = cfg.model.output.units
    if units is not None:
        return (max(units, 2) if cfg.task == "classification" else units), "model.output.units", "nothing"
    if cfg.task == "classification":
        return _class_count(cfg)
    d = cfg.dataset
    if d.source == "csv":
        targets = [d.target] if isinstance(d.target, str) else list(d.target)
        return len(targets), "dataset.target", "nothing"
    if d.source == "sequences":
        from dlhw.data.paths import check_data_paths
        from dlhw.data.sequences import read_labels

        check_data_paths(d, getattr(cfg, "_source", None))
        y = read_labels(d)
        return (1 if y.ndim == 1 else int(np.prod(y.shape[1:]))), f"the labels of {d.labels or d.path}", "labels"
    return None


READ_ORDER = ("nothing", "headers", "labels", "everything")


def data_facts(cfg) -> DataFacts:
    """The input shape and output count of ``cfg``'s data, read as little as possible."""
    from dlhw.data.paths import check_data_paths

    known = config_shape(cfg.dataset)
    outputs = _output_count(cfg) if known is not None or cfg.dataset.source == "sequences" else None
    if known is not None and outputs is not None:
        return DataFacts(known[0], outputs[0], known[1], outputs[1], outputs[2])
    if known is None and cfg.dataset.source == "sequences":
        check_data_paths(cfg.dataset, getattr(cfg, "_source", None))
        known = header_shape(cfg.dataset)
        if known is not None and outputs is not None:
            read = max("headers", outputs[2], key=READ_ORDER.index)
            return DataFacts(known[0], outputs[0], known[1], outputs[1], read)
    from dlhw.data import load_dataset

    dataset = load_dataset(cfg)
    n = dataset.num_classes if cfg.task == "classification" else dataset.num_targets
    where = f"the data ({cfg.dataset.path or cfg.dataset.name})"
    return DataFacts(tuple(dataset.input_shape), n, where, where, "everything", dataset)


def describe_read(facts: DataFacts) -> str:
    """One line: where the shape and the output count came from, and what was read of the data."""
    said: List[str] = [f"input shape {list(facts.input_shape)} from {facts.shape_from}",
                       f"output size from {facts.outputs_from}"]
    read = {"nothing": "no data read", "headers": "data read: file headers only",
            "labels": "data read: labels and headers only", "everything": "data read: the whole data set"}[facts.read]
    return "; ".join(said) + f" ({read})"
