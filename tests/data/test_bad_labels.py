"""Labels that are not labels (issue 27): each a DataError naming the file, the column or key,
and what was found; never a class called 'nan', a TypeError or a ValueError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlhw.config import load_config
from dlhw.data import load_dataset
from dlhw.errors import DataError


def load(tmp_path: Path, task: str = "classification", **dataset):
    cfg = {"name": "t", "task": task, "dataset": dataset, "model": {"type": "mlp"}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_dataset(load_config(path))


X = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
TWO = np.arange(40) % 2


@pytest.mark.parametrize("name, arrays, found", [
    ("nan", {"x": X, "y": np.r_[TWO[:-1], np.nan]}, "1 label(s) are NaN (the first at index 39)"),
    ("complex", {"x": X, "y": TWO + 1j}, "labels are complex numbers (dtype complex128)"),
    ("blank", {"x": X, "y": np.array(["a", "b"] * 19 + ["a", " "])}, "1 empty label(s) (the first at index 39)"),
    ("no_labels", {"x": X, "y": np.zeros(0)}, "no labels (shape [0])"),
])
def test_npz_labels(tmp_path, name, arrays, found):
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as err:
        load(tmp_path, source="sequences", path=str(path))
    assert f"{path}, array 'y'" in str(err.value) and found in str(err.value)


def test_empty_npz_and_empty_arrays(tmp_path):
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(DataError, match=r"empty.npz has no array 'x' \(it holds: none\)"):
        load(tmp_path, source="sequences", path=str(tmp_path / "empty.npz"))
    np.savez(tmp_path / "zero.npz", x=np.zeros((0, 6), np.float32), y=np.zeros(0))
    with pytest.raises(DataError, match=r"zero.npz: the inputs hold no sequences \(shape \[0, 6\]\)"):
        load(tmp_path, source="sequences", path=str(tmp_path / "zero.npz"))


def test_npy_labels_of_objects_and_nan_regression(tmp_path):
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.array([1, "a"] * 20, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"dataset.labels: .*y.npy: an array of Python objects"):
        load(tmp_path, source="sequences", path=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
    np.save(tmp_path / "y.npy", np.full(40, np.nan))
    with pytest.raises(DataError, match=r"y.npy: a target is NaN in every row"):
        load(tmp_path, "regression", source="sequences", path=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))


def test_sequences_csv_label_read_as_nan(tmp_path):
    lines = [f"{i % 2},{i},{i + 1},{i + 2}" for i in range(20)] + ["nan,1,2,3"]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"s.csv, column 1 \(the labels\): 1 label\(s\) read as NaN"):
        load(tmp_path, source="sequences", path=str(tmp_path / "s.csv"))


def test_csv_labels(tmp_path):
    df = pd.DataFrame({"a": np.arange(30.0), "label": ["x", "y", None] * 10})
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"t.csv: column 'label' has 10 empty/NaN cell\(s\) \(lines \[4, 7, 10\]\)"):
        load(tmp_path, source="csv", path=str(tmp_path / "t.csv"), target="label")
    df.assign(label=np.nan).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"column 'label' has 30 empty/NaN cell\(s\) \(every row: the column is empty\)"):
        load(tmp_path, source="csv", path=str(tmp_path / "t.csv"), target="label")
    with pytest.raises(DataError, match=r"t.csv: target column 'label' is empty in every row"):
        load(tmp_path, "regression", source="csv", path=str(tmp_path / "t.csv"), target="label")


def test_empty_csv_files(tmp_path):
    (tmp_path / "zero.csv").write_text("")
    with pytest.raises(DataError, match=r"zero.csv: the CSV is empty \(no header, no rows\)"):
        load(tmp_path, source="csv", path=str(tmp_path / "zero.csv"), target="label")
    (tmp_path / "head.csv").write_text("a,label\n")
    with pytest.raises(DataError, match=r"head.csv: the CSV has no data rows"):
        load(tmp_path, source="csv", path=str(tmp_path / "head.csv"), target="label")


def test_mixed_label_kinds_are_refused():
    from dlhw.data.encoder import check_labels

    with pytest.raises(DataError, match=r"f.csv: label column 'y' mixes text and numbers \(int, str\)"):
        check_labels(pd.Series([1, "a", 2, "b"], dtype=object), "y", Path("f.csv"))
    with pytest.raises(DataError, match=r"label column 'y' holds complex numbers"):
        check_labels(pd.Series([1 + 1j, 2 + 0j]), "y", Path("f.csv"))
