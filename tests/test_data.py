"""Data sources and splits on data the tests make or scikit-learn ships."""

from __future__ import annotations

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.data import SOURCES, load_dataset
from dlhw.data.dataset import stratified_indices
from dlhw.config.names import DATASET_SOURCES
from dlhw.errors import ConfigError, DataError


def cfg(dataset: dict, **top):
    return validate({"dataset": dataset, **top})


def test_registry_matches_config_names():
    assert SOURCES.names() == sorted(DATASET_SOURCES)


@pytest.mark.parametrize("name, n, k", [("digits", 1797, 10), ("iris", 150, 3), ("wine", 178, 3), ("breast_cancer", 569, 2)])
def test_sklearn_sets_split_stratified(name, n, k):
    ds = load_dataset(cfg({"source": "sklearn", "name": name}))
    sizes = {s: len(v) for s, v in ds.splits.items()}
    assert sum(sizes.values()) == n and ds.num_classes == k
    assert abs(sizes["test"] / n - 0.15) < 0.03
    # every class in every split, in proportion
    for split in ds.splits.values():
        assert set(np.unique(split.y)) == set(range(k))
    # standardised on train statistics
    assert abs(float(ds.splits["train"].x.mean())) < 1e-3


def test_split_is_seeded_and_disjoint():
    y = np.repeat(np.arange(3), 20)
    a = stratified_indices(y, [0.6, 0.2, 0.2], seed=1)
    b = stratified_indices(y, [0.6, 0.2, 0.2], seed=1)
    c = stratified_indices(y, [0.6, 0.2, 0.2], seed=2)
    assert all((x == z).all() for x, z in zip(a, b))
    assert any((x != z).any() for x, z in zip(a, c))
    assert sorted(np.concatenate(a).tolist()) == list(range(60))
    assert [len(p) for p in a] == [36, 12, 12]


def test_classes_subset_keeps_unseen_test_samples():
    ds = load_dataset(cfg({"source": "sklearn", "name": "digits", "classes": [0, 1, 2, 3, 4]}))
    assert ds.class_names == ["0", "1", "2", "3", "4"]
    assert ds.unseen_names == ["5", "6", "7", "8", "9"]
    assert len(ds.unseen) > 100 and set(np.unique(ds.unseen.y)) == set(range(5))
    with pytest.raises(ConfigError, match="dataset.classes"):
        load_dataset(cfg({"source": "sklearn", "name": "digits", "classes": [0, 11]}))


def test_csv_numeric_and_categorical(csv_file):
    ds = load_dataset(cfg({"source": "csv", "path": str(csv_file), "target": "label"}))
    assert ds.input_shape == (5,)  # a, b and 3 one-hot colours
    assert ds.class_names == ["0", "1", "2"]
    assert ds.meta["categorical"] == {"color": ["blue", "green", "red"]}
    x = ds.splits["train"].x
    assert np.allclose(x[:, :2].mean(axis=0), 0, atol=1e-5)
    assert set(np.unique(x[:, 2:])) <= {0.0, 1.0}


def test_csv_errors(tmp_path, csv_file):
    import pandas as pd

    with pytest.raises(ConfigError, match="dataset.target: column 'lable'.*did you mean 'label'"):
        load_dataset(cfg({"source": "csv", "path": str(csv_file), "target": "lable"}))
    with pytest.raises(DataError, match="CSV file not found"):
        load_dataset(cfg({"source": "csv", "path": str(tmp_path / "x.csv"), "target": "label"}))
    df = pd.read_csv(csv_file)
    df.loc[3, "a"] = None
    df.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match="column 'a' has 1 empty/NaN"):
        load_dataset(cfg({"source": "csv", "path": str(tmp_path / "nan.csv"), "target": "label"}))
    df = pd.read_csv(csv_file)
    df["a"] = df["a"].astype(object)
    df.loc[5, "a"] = "12a"
    df.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match="column 'a' is numeric but row 7 holds '12a'"):
        load_dataset(cfg({"source": "csv", "path": str(tmp_path / "text.csv"), "target": "label"}))


def _csv_with(tmp_path, csv_file, column: str, row: int, value) -> str:
    import pandas as pd

    df = pd.read_csv(csv_file)
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    out = tmp_path / f"edited_{column}_{row}.csv"
    df.to_csv(out, index=False)
    return str(out)


@pytest.mark.parametrize(
    "column, row, value, shown",
    [("a", 3, "inf", "inf"), ("b", 7, "-inf", "-inf"), ("a", 0, "1e308", "1e+308"), ("b", 11, "-1e308", "-1e+308"),
     ("a", 5, "3.5e38", "3.5e+38"), ("b", 2, "9" * 400, "inf"), ("label", 2, "9" * 400, "<an integer of about 400 digits>"), ("label", 9, "inf", "inf")],
)
def test_csv_refuses_values_that_are_not_finite_in_float32(tmp_path, csv_file, column, row, value, shown):
    """An inf (or 1e308, inf once cast to float32) made the column NaN after scaling and the run
    'completed' with a constant model: refused, naming the column and the row."""
    path = _csv_with(tmp_path, csv_file, column, row, value)
    with pytest.raises(DataError) as err:
        load_dataset(cfg({"source": "csv", "path": path, "target": "label"}))
    msg = str(err.value)
    assert f"column '{column}', data row {row + 1} (line {row + 2}) holds {shown}" in msg, msg
    assert "finite" in msg and "\n" not in msg


def test_csv_inf_as_a_word_in_a_text_column_is_a_category(tmp_path, csv_file):
    path = _csv_with(tmp_path, csv_file, "color", 4, "inf")
    ds = load_dataset(cfg({"source": "csv", "path": path, "target": "label"}))
    assert ds.meta["categorical"]["color"] == ["blue", "green", "inf", "red"]
    assert np.isfinite(ds.splits["train"].x).all()


def test_csv_duplicate_column_names_are_refused(tmp_path, csv_file):
    """pandas renames a second 'label' to 'label.1', which then leaked the target into the features."""
    import pandas as pd

    df = pd.read_csv(csv_file)
    dup = tmp_path / "dup.csv"
    df.assign(extra=df["label"]).to_csv(dup, index=False, header=["a", "b", "color", "label", "label"])
    with pytest.raises(DataError, match=r"dup.csv: column name 'label' appears twice in the header \(columns 4 and 5\)"):
        load_dataset(cfg({"source": "csv", "path": str(dup), "target": "label"}))
    df.to_csv(dup, index=False, header=["a", "a", "color", "label"])
    with pytest.raises(DataError, match="column name 'a' appears twice"):
        load_dataset(cfg({"source": "csv", "path": str(dup), "target": "label"}))
    with pytest.raises(ConfigError, match="dataset.features: 'label' is also the target"):
        load_dataset(cfg({"source": "csv", "path": str(csv_file), "target": "label", "features": ["a", "label"]}))
    with pytest.raises(ConfigError, match="dataset.features: column 'a' is listed twice"):
        load_dataset(cfg({"source": "csv", "path": str(csv_file), "target": "label", "features": ["a", "a"]}))


def test_image_folder_lists_splits_and_streams(image_folder):
    from dlhw.data.images import tf_images

    ds = load_dataset(cfg({"source": "image_folder", "path": str(image_folder), "image_size": [16, 16]}))
    assert ds.class_names == ["cat", "dog"] and ds.input_shape == (16, 16, 3)
    assert sum(len(s) for s in ds.splits.values()) == 24
    tfds = tf_images(ds.splits["train"].files, ds.splits["train"].y, (16, 16), 3, batch_size=4)
    x, y = next(iter(tfds))
    assert tuple(x.shape) == (4, 16, 16, 3) and float(x.numpy().max()) <= 255


def test_image_folder_skips_corrupt_and_non_images(image_folder, capsys):
    (image_folder / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    (image_folder / "dog" / "notes.txt").write_text("hello")
    ds = load_dataset(cfg({"source": "image_folder", "path": str(image_folder), "image_size": [16, 16]}))
    assert sum(len(s) for s in ds.splits.values()) == 24
    err = capsys.readouterr().err
    assert "broken.png: unreadable image" in err and "notes.txt: not an image file" in err


def test_image_folder_errors(tmp_path, image_folder):
    from tests.conftest import make_image_folder

    with pytest.raises(DataError, match="image folder not found"):
        load_dataset(cfg({"source": "image_folder", "path": str(tmp_path / "none")}))
    (image_folder / "empty").mkdir()
    with pytest.raises(DataError, match="empty: class folder has no readable images"):
        load_dataset(cfg({"source": "image_folder", "path": str(image_folder)}))
    one = make_image_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(DataError, match="single class folder"):
        load_dataset(cfg({"source": "image_folder", "path": str(one)}))


def test_presplit_image_folder(tmp_path):
    from tests.conftest import make_image_folder

    make_image_folder(tmp_path / "d" / "train", per_class=10)
    make_image_folder(tmp_path / "d" / "test", per_class=3, seed=1)
    ds = load_dataset(cfg({"source": "image_folder", "path": str(tmp_path / "d"), "image_size": [16, 16]}))
    assert len(ds.splits["test"]) == 6 and len(ds.splits["train"]) + len(ds.splits["val"]) == 20


def test_keras_source_offline_message(monkeypatch, tmp_path):
    import keras

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError) as err:
        load_dataset(cfg({"source": "keras", "name": "mnist"}))
    msg = str(err.value)
    assert "mnist.npz" in msg and str(tmp_path / "kh" / "datasets") in msg


def test_keras_reuters_multi_hot(monkeypatch):
    from tests.conftest import fake_reuters

    fake_reuters(monkeypatch, n=200, vocab=50, n_test=50)
    ds = load_dataset(cfg({"source": "keras", "name": "reuters", "num_words": 30}))
    x = ds.splits["train"].x
    assert x.shape[1] == 30 and set(np.unique(x)) <= {0.0, 1.0}
    assert len(ds.splits["test"]) == 50
