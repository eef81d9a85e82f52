"""dlhw summary CONFIG: the layer table and parameter totals of any model type, untrained,
reading no data when the config gives the input shape and the output size."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture
def no_data_loading(monkeypatch):
    """Any attempt to load a data set fails the test."""
    import dlhw.data

    def refuse(cfg):
        raise AssertionError("summary loaded the data set")

    monkeypatch.setattr(dlhw.data, "load_dataset", refuse)


def summary_cli(tmp_path, raw: dict, *args: str):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["summary", str(path), *args])
    assert result.exit_code == 0, result.output
    return result.output


def totals(text: str) -> tuple:
    """(total, trainable, non-trainable) as Keras' table prints them."""
    found = [int(re.search(rf"{kind} params: ([\d,]+)", text).group(1).replace(",", ""))
             for kind in ("Total", "Trainable", "Non-trainable")]
    return tuple(found)


def keras_count(*layers, input_shape) -> int:
    """The parameters Keras counts for these layers stacked on an input of ``input_shape``."""
    import keras

    return keras.Sequential([keras.Input(shape=input_shape), *layers]).count_params()


def test_mlp_on_a_known_dataset_reads_no_data(tmp_path, no_data_loading):
    import keras

    out = summary_cli(tmp_path, {"dataset": {"source": "sklearn", "name": "digits"},
                                 "model": {"type": "mlp", "layers": [{"units": 16}, {"units": 8, "batch_norm": True}]}})
    expected = keras_count(keras.layers.Dense(16), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                           keras.layers.Dense(10), input_shape=(64,))
    assert totals(out) == (expected, expected - 2 * 8, 2 * 8)  # BatchNorm's moving mean and variance
    assert "input shape [64] from the known shape of sklearn digits" in out and "(no data read)" in out


def test_cnn_on_an_absent_image_folder_reads_no_data(tmp_path, no_data_loading):
    import keras

    raw = {"dataset": {"source": "image_folder", "path": str(tmp_path / "absent"), "image_size": [20, 24],
                       "color_mode": "grayscale", "augment": True},
           "model": {"type": "cnn", "blocks": [{"type": "conv", "filters": 4, "kernel": 3, "pool": 2}],
                     "dense": [{"units": 6}], "output": {"units": 3}}}
    out = summary_cli(tmp_path, raw)
    expected = keras_count(keras.layers.Conv2D(4, 3, padding="same"), keras.layers.MaxPooling2D(2),
                           keras.layers.Flatten(), keras.layers.Dense(6), keras.layers.Dense(3),
                           input_shape=(20, 24, 1))
    assert totals(out) == (expected, expected, 0)
    assert "augment_flip (RandomFlip)" in out  # the streamed-image model, as a run builds it
    assert "input shape [20, 24, 1] from dataset.image_size and color_mode" in out


def test_conv1d_shipped_config_reads_no_data(tmp_path, no_data_loading):
    result = runner.invoke(app, ["summary", str(REPO / "configs" / "s3_conv1d.yaml"),
                                 "--set", f"dataset.path={tmp_path / 'absent.npz'}"])
    assert result.exit_code == 0, result.output
    assert totals(result.output) == (497_349, 497_349, 0)
    assert re.search(r"pool_3 \(MaxPooling1D\)\s+│ \(None, 59, 64\)", result.output)


def test_backbone_with_weights_null_reads_no_data(tmp_path, no_data_loading):
    import keras

    raw = {"dataset": {"source": "image_folder", "path": str(tmp_path / "absent"), "image_size": [32, 32]},
           "model": {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "avg"},
                     "head": [{"type": "dense", "units": 8}], "output": {"units": 1, "activation": "sigmoid"}}}
    out = summary_cli(tmp_path, raw)
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    head = keras_count(keras.layers.Dense(8), keras.layers.Dense(1), input_shape=(1280,))
    assert totals(out) == (backbone.count_params() + head, head, backbone.count_params())
    assert "block_1_expand" not in out  # nested layers only with --expand
    assert "block_1_expand" in summary_cli(tmp_path, raw, "--expand")


def test_a_backbone_with_imagenet_weights_is_counted_without_its_file(tmp_path, no_data_loading):
    import dlhw

    raw = {"dataset": {"source": "image_folder", "path": str(tmp_path / "absent"), "image_size": [32, 32]},
           "model": {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": "imagenet"},
                     "output": {"units": 4}}}
    s = dlhw.summary(raw)
    assert s.total == dlhw.summary(raw, {"model.backbone.weights": None}).total
    assert any("random weights" in note for note in s.notes)


def test_without_the_facts_only_what_tells_them_is_read(tmp_path):
    """A .npy file: its header gives the shape, its labels the classes; a CSV table: the whole file."""
    import dlhw
    from tests.conftest import make_csv

    np.save(tmp_path / "x.npy", np.zeros((12, 30, 2), np.float32))
    np.save(tmp_path / "y.npy", np.arange(12) % 4)
    raw = {"dataset": {"source": "sequences", "path": str(tmp_path / "x.npy"), "labels": str(tmp_path / "y.npy")},
           "model": {"type": "cnn1d", "blocks": [{"filters": 2, "kernel": 3}], "global_pool": "avg"}}
    s = dlhw.summary(raw)
    assert s.input_shape == (30, 2) and s.total == (3 * 2 + 1) * 2 + (2 + 1) * 4
    assert "from the array header of" in s.data and "data read: labels and headers only" in s.data
    with_units = dlhw.summary(raw, {"model.output.units": 4})
    assert with_units.total == s.total and "data read: file headers only" in with_units.data
    (tmp_path / "s.csv").write_text("label,v1,v2,v3,v4,v5,v6\n" + "".join(f"{i % 3},1,2,3,4,5,6\n" for i in range(9)))
    lines = dlhw.summary({"dataset": {"source": "sequences", "path": str(tmp_path / "s.csv")},
                          "model": {"type": "cnn1d", "blocks": [{"filters": 2, "kernel": 3}], "output": {"units": 3}}})
    assert lines.input_shape == (6, 1) and f"from the first line of {tmp_path / 's.csv'}" in lines.data
    csv = make_csv(tmp_path / "t.csv")
    table = dlhw.summary({"dataset": {"source": "csv", "path": str(csv), "target": "label"},
                          "model": {"type": "mlp", "layers": [{"units": 4}]}})
    assert table.input_shape == (5,) and "data read: the whole data set" in table.data  # a, b, 3 colours


def test_a_missing_data_file_that_is_needed_fails_in_one_line(tmp_path):
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"dataset": {"source": "sequences", "path": str(tmp_path / "absent.npz")},
                                    "model": {"type": "cnn1d", "blocks": [{"filters": 2}]}}))
    result = runner.invoke(app, ["summary", str(path)])
    assert result.exit_code == 2
    assert re.search(r"dataset\.path: sequences file not found: .*absent\.npz", result.output)
    assert "Traceback" not in result.output
