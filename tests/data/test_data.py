"""Data sources and splits on data the tests make or scikit-learn ships."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.config.names import DATASET_SOURCES
from dlhw.data import SOURCES, load_dataset
from dlhw.data.dataset import stratified_indices
from dlhw.errors import ConfigError, DataError
from tests.conftest import REPO


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
    from dlhw.data.image_cache import tf_images

    ds = load_dataset(cfg({"source": "image_folder", "path": str(image_folder), "image_size": [16, 16]}))
    assert ds.class_names == ["cat", "dog"] and ds.input_shape == (16, 16, 3)
    assert sum(len(s) for s in ds.splits.values()) == 24
    tfds = tf_images(ds.splits["train"].files, ds.splits["train"].y, (16, 16), 3, batch_size=4)
    x, y = next(iter(tfds))
    assert tuple(x.shape) == (4, 16, 16, 3) and float(x.numpy().max()) <= 255


def test_image_folder_skips_corrupt_and_non_images(image_folder, caplog):
    (image_folder / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    (image_folder / "dog" / "notes.txt").write_text("hello")
    ds = load_dataset(cfg({"source": "image_folder", "path": str(image_folder), "image_size": [16, 16]}))
    assert sum(len(s) for s in ds.splits.values()) == 24
    from tests.conftest import warned

    err = warned(caplog)
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


# ------------------------------------------------ missing data paths (issue 12)
def test_a_missing_data_path_names_the_config_key_path_and_fix(tmp_path):
    from dlhw.config import load_config

    cfg_file = tmp_path / "exp.yaml"
    cfg_file.write_text(f"dataset: {{source: csv, path: {tmp_path / 'none.csv'}, target: label}}\n")
    with pytest.raises(DataError) as err:
        load_dataset(load_config(cfg_file))
    msg = str(err.value)
    assert msg.startswith(f"{cfg_file}: dataset.path: CSV file not found: {tmp_path / 'none.csv'}; ")
    assert "data/README.md" in msg and "\n" not in msg
    with pytest.raises(DataError, match=r"^config: dataset.path: image folder not found: .*nowhere"):
        load_dataset(cfg({"source": "image_folder", "path": str(tmp_path / "nowhere")}))  # a config from Python


def test_every_shipped_data_path_has_a_working_generator_command():
    import shlex

    import yaml

    from dlhw.data.paths import GENERATORS, fix_for

    repo = REPO
    shipped = set()
    for f in sorted((repo / "configs").rglob("*.yaml")):
        path = ((yaml.safe_load(f.read_text()) or {}).get("dataset") or {}).get("path")
        if path:
            shipped.add(path)
            assert "make the stand-in with `python data/make_" in fix_for(path), f
    assert shipped <= set(GENERATORS)
    readme = (repo / "data" / "README.md").read_text()
    for path, command in GENERATORS.items():
        words = shlex.split(command)
        script = (repo / words[1]).read_text()
        assert all(w in script for w in words[2:] if w.startswith("--")), command
        assert command in readme, command  # data/README.md says the same
        if "--out" in words:
            assert words[words.index("--out") + 1] == path
    assert "point dataset.path at your data" in fix_for("elsewhere/mine.csv")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    return go_offline(tmp_path, monkeypatch)


def go_offline(tmp_path, monkeypatch) -> list:
    """A real failed download: an empty Keras cache and every request sent to a closed local port.
    Returns the list of URLs Keras tries to fetch."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    import urllib.request

    # urlopen builds its opener once and keeps the proxies of that moment: an earlier urlopen in
    # this process (the browser test's DevTools calls) would otherwise bypass the proxy set above
    monkeypatch.setattr(urllib.request, "_opener", None)
    from keras.src.utils import file_utils

    calls = []
    real = file_utils.urlretrieve

    def counting(url, *args, **kwargs):
        calls.append(url)
        return real(url, *args, **kwargs)

    monkeypatch.setattr(file_utils, "urlretrieve", counting)
    return calls


def test_an_offline_keras_dataset_names_the_file_keras_wants_in_one_line(tmp_path, offline):
    import socket

    import keras.src.datasets.mnist as mnist_module
    from keras.src.utils import file_utils

    with pytest.raises(DataError) as err:
        load_dataset(cfg({"source": "keras", "name": "mnist"}))
    msg = str(err.value)
    assert offline == ["https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"]  # one attempt
    assert msg.startswith("dataset.name: keras dataset 'mnist' is not in the Keras cache and could not be "
                          "downloaded (") and "\n" not in msg
    assert "Connection refused)" in msg  # the reason whole, not cut mid-word
    assert f"fetch {offline[0]} on a machine with internet and save it as {tmp_path / 'keras' / 'datasets' / 'mnist.npz'}" in msg
    assert mnist_module.get_file is file_utils.get_file and socket.getdefaulttimeout() is None  # left as found


def test_an_archive_keras_dataset_names_the_archive_file_keras_reads():
    from dlhw.data.sources import keras_download_target

    t = keras_download_target("cifar-10-batches-py-target", "https://x/cifar-10-python.tar.gz", cache_dir="/k",
                              extract=True)
    assert t == Path("/k/datasets/cifar-10-batches-py-target_archive")
    assert keras_download_target(None, "https://x/y/mnist.npz", cache_dir="/k") == Path("/k/datasets/mnist.npz")
    t = keras_download_target("a.gz", "https://x/a.gz", cache_dir="/k", cache_subdir="datasets/fashion-mnist")
    assert t == Path("/k/datasets/fashion-mnist/a.gz")
