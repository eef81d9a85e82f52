"""Dataset.in_memory / batches / image_batches: the one place that decides "arrays or files"."""

from __future__ import annotations

import re

import numpy as np

from dlhw.config import validate
from dlhw.data import load_dataset
from dlhw.data.dataset import Split
from tests.conftest import REPO


def _cfg(dataset: dict):
    return validate({"name": "b", "seed": 0, "dataset": dataset, "model": {"type": "mlp", "layers": [{"units": 4}]}})


def test_arrays_are_sliced_in_memory():
    ds = load_dataset(_cfg({"source": "sklearn", "name": "iris"}))
    test = ds.splits["test"]
    assert ds.in_memory() and ds.in_memory("test") and ds.in_memory(test)
    batches = list(ds.batches("test", 4))
    assert [len(b) for b in batches] == [4] * (len(test) // 4) + ([len(test) % 4] if len(test) % 4 else [])
    np.testing.assert_array_equal(np.concatenate(batches), test.x)
    assert [len(b) for b in ds.batches("test", 4, limit=6)] == [4, 2]
    both = Split.concat([ds.splits["val"], test])
    assert len(both) == len(ds.splits["val"]) + len(test) and both.files is None
    np.testing.assert_array_equal(np.concatenate(list(ds.batches(both, 5))), np.concatenate([ds.splits["val"].x, test.x]))


def test_image_files_stream_through_tf_data(image_folder):
    ds = load_dataset(_cfg({"source": "image_folder", "path": str(image_folder), "image_size": [8, 8]}))
    train = ds.splits["train"]
    assert not ds.in_memory() and not ds.in_memory(train)
    batches = [np.asarray(b) for b in ds.batches("train", 5, limit=7)]
    assert [b.shape for b in batches] == [(5, 8, 8, 3), (2, 8, 8, 3)]
    assert batches[0].dtype == np.float32 and 0 <= batches[0].min() and batches[0].max() <= 255
    labelled = next(iter(ds.image_batches(train, 3, train.y)))
    assert np.asarray(labelled[0]).shape == (3, 8, 8, 3) and list(np.asarray(labelled[1])) == list(train.y[:3])
    np.testing.assert_array_equal(np.asarray(labelled[0]), batches[0][:3])
    both = Split.concat([train, ds.splits["val"]])
    assert both.x is None and both.files == train.files + ds.splits["val"].files


def test_no_other_module_decides_arrays_or_files():
    """Code outside dlhw.data asks the Dataset (in_memory / batches / image_batches) instead of
    looking at a split's files or x itself, or building its own image pipeline."""
    src = REPO / "src" / "dlhw"
    pattern = re.compile(r"\.files is (not )?None|\.is_images\b|isinstance\([^)]*\.x, np\.ndarray\)|tf_images\(\w*\.files")
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.parent.name != "data" and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
