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
from typing import List, Optional, Tuple

import numpy as np

from dlhw.data.dataset import SPLITS, Dataset, Split
from dlhw.data.sources import source_for


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
        files = [] if source_for(cfg.dataset.source).streamed else None  # streamed: augmentation layers
        names = [str(i) for i in range(self.outputs)] if cfg.task != "regression" else []
        return Dataset(splits={s: Split(y=y, files=files) for s in SPLITS}, class_names=names,
                       input_shape=tuple(self.input_shape), task=cfg.task)


def config_shape(dcfg) -> Optional[Tuple[Tuple[int, ...], str]]:
    """(one sample's shape, where from) when the config alone says it, else None."""
    if dcfg.input_shape:
        return tuple(dcfg.input_shape), "dataset.input_shape"
    return source_for(dcfg.source).config_shape(dcfg)


def header_shape(dcfg) -> Optional[Tuple[Tuple[int, ...], str]]:
    """(one sample's shape, where from) from the data's headers (a sequences file's), else None."""
    return source_for(dcfg.source).header_shape(dcfg)


def _output_count(cfg) -> Optional[Tuple[int, str, str]]:
    """(outputs, where from, what was read), else None (the data must be loaded)."""
    units = cfg.model.output.units
    if units is not None:
        return (max(units, 2) if cfg.task == "classification" else units), "model.output.units", "nothing"
    if cfg.task == "classification" and cfg.dataset.classes:
        return len(cfg.dataset.classes), "dataset.classes", "nothing"
    return source_for(cfg.dataset.source).output_count(cfg)


READ_ORDER = ("nothing", "headers", "labels", "everything")


def data_facts(cfg) -> DataFacts:
    """The input shape and output count of ``cfg``'s data, read as little as possible."""
    from dlhw.data.sources import check_data_paths

    known = config_shape(cfg.dataset)
    if known is None:
        check_data_paths(cfg.dataset, getattr(cfg, "_source", None))
        known = header_shape(cfg.dataset)
        read_shape = "headers"
    else:
        read_shape = "nothing"
    outputs = _output_count(cfg) if known is not None else None
    if known is not None and outputs is not None:
        read = max(read_shape, outputs[2], key=READ_ORDER.index)
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
