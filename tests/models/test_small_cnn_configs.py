"""S3: the shipped Sequential and Functional small-CNN configs build the same network."""

from __future__ import annotations

import pytest

from dlhw.config import load_config
from dlhw.data import load_dataset
from dlhw.models import build_model
from tests.conftest import REPO, make_image_folder


def layer_table(model):
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers if type(layer).__name__ != "InputLayer"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("cnn") / "images", per_class=5, size=32)


def build(name, folder):
    cfg = load_config(REPO / "configs" / f"{name}.yaml", [f"dataset.path={folder}", "dataset.image_size=[32, 32]"])
    model, _ = build_model(cfg, load_dataset(cfg))
    return cfg, model


def test_sequential_and_functional_are_the_same_network(folder):
    seq_cfg, seq = build("small_cnn_sequential", folder)
    fun_cfg, fun = build("small_cnn_functional", folder)
    assert (seq_cfg.model.api, fun_cfg.model.api) == ("sequential", "functional")
    assert type(seq).__name__ == "Sequential" and type(fun).__name__ == "Functional"
    assert layer_table(seq) == layer_table(fun)
    assert seq.count_params() == fun.count_params()
    kinds = [t[1] for t in layer_table(seq)]
    assert kinds[0] == "Rescaling" and kinds.count("Conv2D") == 3 and kinds.count("BatchNormalization") == 3
    assert kinds.count("MaxPooling2D") == 3 and kinds[-4:] == ["Flatten", "Dense", "Dropout", "Dense"]
    assert layer_table(seq)[-1][2] == (None, 1)
    # 32x32 input, three 2x2 pools: a 4x4x128 map flattened into Dense(128)
    assert layer_table(seq)[-4][2] == (None, 4 * 4 * 128)


def test_inception_config_builds(folder):
    _, model = build("small_cnn_inception", folder)
    names = [layer.name for layer in model.layers]
    assert "inception_2" in names
    assert tuple(model.get_layer("inception_2").output.shape) == (None, 16, 16, 16 + 32 + 16 + 16)


def test_summary_lists_parameters_per_layer_off_a_terminal(folder):
    from dlhw.orchestration.experiment import model_summary

    _, model = build("small_cnn_functional", folder)
    text = model_summary(model)
    assert "Param #" in text
    conv_1 = next(line for line in text.splitlines() if "conv_1 (Conv2D)" in line)
    assert conv_1.rstrip().rstrip("│").strip().endswith("896")  # 3*3*3*32 + 32


def test_shipped_small_cnn_uses_the_study_layer_order(folder):
    """S3's code: Conv2D(relu, same) -> BatchNorm -> MaxPool, three times (no separate Activation)."""
    _, model = build("small_cnn_sequential", folder)
    kinds = [t[1] for t in layer_table(model)]
    assert kinds[:10] == ["Rescaling"] + ["Conv2D", "BatchNormalization", "MaxPooling2D"] * 3
    assert "Activation" not in kinds
    assert all(model.get_layer(f"conv_{i}").get_config()["activation"] == "relu" for i in (1, 2, 3))


def test_inception_host_network_of_the_study(monkeypatch):
    """Input 32x32x3 -> Conv2D(64) -> MaxPool -> inception -> Flatten -> Dense(10, softmax),
    counted layer by layer as the study's summary did (CIFAR-10 stand-in: no download)."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)

    def load_data():
        def part(n):
            return rng.integers(0, 255, size=(n, 32, 32, 3)).astype("uint8"), (np.arange(n) % 10).reshape(-1, 1)
        return part(60), part(20)

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", load_data)
    cfg = load_config(REPO / "configs" / "inception_host.yaml")
    model, _ = build_model(cfg, load_dataset(cfg))
    table = layer_table(model)
    assert [t[1] for t in table] == ["Conv2D", "MaxPooling2D", "InceptionBlock", "Flatten", "Dense"]
    assert [t[2] for t in table] == [(None, 32, 32, 64), (None, 16, 16, 64), (None, 16, 16, 96),
                                     (None, 16 * 16 * 96), (None, 10)]
    conv = (3 * 3 * 3 + 1) * 64
    branches = [(64, 1, 16), (64, 1, 16), (16, 3, 32), (64, 1, 16), (16, 5, 32), (64, 1, 16)]  # (in, k, out)
    inception = sum((k * k * c + 1) * f + 4 * f for c, k, f in branches)  # biased conv + BatchNorm
    dense = (16 * 16 * 96 + 1) * 10
    assert [t[3] for t in table] == [conv, 0, inception, 0, dense]
    assert model.count_params() == 1792 + 22144 + 245770
