"""Model builders, output/loss resolution, and the two Keras APIs building one graph."""

from __future__ import annotations

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.data.dataset import Dataset, Split
from dlhw.errors import ConfigError
from dlhw.models import MODELS, build_model, resolve_output
from dlhw.models.outputs import encode_labels, scores_to_proba


def fake_dataset(k: int, shape=(6,), task="classification", targets=1) -> Dataset:
    y = np.arange(20) % k if task == "classification" else np.zeros((20, targets), dtype=np.float32)
    split = Split(y=y, x=np.zeros((20,) + shape, dtype=np.float32))
    names = [str(i) for i in range(k)] if task == "classification" else []
    return Dataset(splits={"train": split, "val": split, "test": split}, class_names=names, input_shape=shape, task=task)


def cfg(model=None, training=None, task="classification"):
    data = {"task": task, "dataset": {"source": "sklearn", "name": "digits"}}
    if model:
        data["model"] = model
    if training:
        data["training"] = training
    return validate(data)


@pytest.mark.parametrize(
    "k, output, loss, expect",
    [
        (2, {}, None, (1, "sigmoid", "binary_crossentropy", "binary", False)),
        (5, {}, None, (5, "softmax", "sparse_categorical_crossentropy", "index", False)),
        (5, {"activation": "sigmoid"}, "binary_crossentropy", (5, "sigmoid", "binary_crossentropy", "onehot", False)),
        (5, {"activation": "softmax"}, "categorical_crossentropy", (5, "softmax", "categorical_crossentropy", "onehot", False)),
        (5, {"activation": "sigmoid"}, "mse", (5, "sigmoid", "mse", "onehot", False)),
        (5, {"activation": "softmax"}, "mse", (5, "softmax", "mse", "onehot", False)),
        (5, {"activation": "linear"}, "mse", (5, "linear", "mse", "onehot", False)),
        (2, {"units": 2, "activation": "linear"}, None, (2, "linear", "sparse_categorical_crossentropy", "index", True)),
    ],
)
def test_output_resolution_covers_s4_pairings(k, output, loss, expect):
    training = {"loss": loss} if loss else None
    spec = resolve_output(cfg({"type": "mlp", "output": output}, training), fake_dataset(k))
    assert (spec.units, spec.activation, spec.loss, spec.encoding, spec.from_logits) == expect


@pytest.mark.parametrize(
    "k, output, loss, words",
    [
        (3, {"units": 1, "activation": "softmax"}, None, "1 output unit cannot tell 3 classes"),
        (2, {"units": 1, "activation": "softmax"}, None, "softmax over 1 unit"),
        (4, {"units": 3}, None, "does not match the 4 classes"),
        (2, {"units": 1}, "sparse_categorical_crossentropy", "needs one output unit per class"),
    ],
)
def test_incompatible_outputs_refused(k, output, loss, words):
    with pytest.raises(ConfigError, match=words):
        resolve_output(cfg({"type": "mlp", "output": output}, {"loss": loss} if loss else None), fake_dataset(k))


def test_encodings_and_probabilities():
    spec = resolve_output(cfg({"type": "mlp", "output": {"activation": "linear"}}, {"loss": "mse"}), fake_dataset(3))
    y = np.array([0, 2, 1])
    assert encode_labels(y, spec).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    p = scores_to_proba(np.array([[2.0, -1.0, 0.0], [0.1, 0.1, 0.8]]), spec)
    assert np.allclose(p.sum(axis=1), 1) and p.argmax(axis=1).tolist() == [0, 2]
    logits = resolve_output(cfg({"type": "mlp", "output": {"units": 2, "activation": "linear"}}), fake_dataset(2))
    p = scores_to_proba(np.array([[0.0, 0.0], [5.0, -5.0]]), logits)
    assert np.allclose(p[0], [0.5, 0.5]) and p[1, 0] > 0.99


def test_mlp_parameter_count_and_flatten():
    model, _ = build_model(cfg({"type": "mlp", "layers": [{"units": 256}, {"units": 512, "dropout": 0.2}]}), fake_dataset(10, (64,)))
    assert model.count_params() == 64 * 256 + 256 + 256 * 512 + 512 + 512 * 10 + 10
    img, _ = build_model(cfg({"type": "mlp", "layers": [{"units": 8, "batch_norm": True}]}), fake_dataset(3, (4, 4, 1)))
    assert img.layers[1].name == "flatten" and img.output_shape == (None, 3)


CNN = {
    "type": "cnn", "rescale": 1 / 255,
    "blocks": [
        {"type": "conv", "filters": 8, "kernel": 3, "batch_norm": True, "pool": 2},
        {"type": "inception", "b1": 4, "b3_reduce": 4, "b3": 8, "b5_reduce": 2, "b5": 4, "pool_proj": 4, "pool": 2},
    ],
    "dense": [{"units": 16, "dropout": 0.5}],
    "output": {"units": 1, "activation": "sigmoid"},
}


def test_cnn_sequential_and_functional_are_the_same_graph():
    ds = fake_dataset(2, (16, 16, 3))
    seq, _ = build_model(cfg({**CNN, "api": "sequential"}), ds)
    fun, _ = build_model(cfg({**CNN, "api": "functional"}), ds)
    assert seq.count_params() == fun.count_params()
    def describe(m):  # Functional models list their InputLayer, Sequential ones do not
        return [(lyr.name, type(lyr).__name__, tuple(lyr.output.shape), lyr.count_params())
                for lyr in m.layers if type(lyr).__name__ != "InputLayer"]

    assert describe(seq) == describe(fun)
    assert [lyr for lyr in fun.layers if lyr.name == "inception_2"][0].output.shape[-1] == 20


def test_inception_block_survives_safe_mode_round_trip(tmp_path):
    import keras

    model, _ = build_model(cfg({**CNN, "api": "functional"}), fake_dataset(2, (16, 16, 3)))
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 16, 16, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert np.allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-6)


def test_cnn_refuses_flat_input():
    with pytest.raises(ConfigError, match="cnn needs image input"):
        build_model(cfg({**CNN}), fake_dataset(2, (6,)))


def test_registry_names():
    assert MODELS.names() == ["backbone", "cnn", "cnn1d", "mlp"]
    with pytest.raises(ConfigError, match="did you mean 'mlp'"):
        MODELS.get("mpl", "model.type")


def test_masked_euclidean_ignores_missing_points():
    from dlhw.models.layers import MaskedEuclideanLoss

    loss = MaskedEuclideanLoss()
    y_true = np.array([[0.0, 0.0, np.nan, np.nan]], dtype="float32")
    y_pred = np.array([[3.0, 4.0, 100.0, 100.0]], dtype="float32")
    assert abs(float(loss(y_true, y_pred)) - 5.0) < 1e-4


# ------------------------------------------- block order and conv bias (S3)
def _kinds(model):
    return [(lyr.name, type(lyr).__name__, lyr.get_config().get("activation"))
            for lyr in model.layers if type(lyr).__name__ != "InputLayer"]


def test_conv_block_order_puts_the_activation_inside_the_convolution_before_batchnorm():
    block = {"type": "conv", "filters": 4, "kernel": 3, "batch_norm": True, "pool": 2}
    ds = fake_dataset(2, (16, 16, 3))
    base = {"type": "cnn", "output": {"units": 1, "activation": "sigmoid"}}
    default, _ = build_model(cfg({**base, "blocks": [block]}), ds)
    study, _ = build_model(cfg({**base, "blocks": [{**block, "order": "conv_act_bn"}]}), ds)
    assert _kinds(default)[:4] == [("conv_1", "Conv2D", "linear"), ("conv_1_bn", "BatchNormalization", None),
                                   ("conv_1_relu", "Activation", "relu"), ("pool_1", "MaxPooling2D", None)]
    assert _kinds(study)[:3] == [("conv_1", "Conv2D", "relu"), ("conv_1_bn", "BatchNormalization", None),
                                 ("pool_1", "MaxPooling2D", None)]
    assert default.count_params() == study.count_params()
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    # BatchNorm at initialisation (inference) is nearly the identity: the study's order leaves
    # non-negative values after the ReLU, the default order's ReLU comes last; both differ in general
    conv = study.get_layer("conv_1")(x)
    bn = study.get_layer("conv_1_bn")(conv, training=False)
    assert float(np.min(conv)) >= 0.0 and np.allclose(np.asarray(bn), np.asarray(conv) / np.sqrt(1 + 1e-3), atol=1e-5)


def test_inception_branches_take_the_study_order_and_bias():
    from dlhw.models.layers import InceptionBlock

    def count(**kw):
        block = InceptionBlock(16, 16, 32, 16, 32, 16, **kw)
        block.build((None, 16, 16, 64))
        return block, block.count_params()

    plain, n_plain = count()
    study, n_study = count(order="conv_act_bn", use_bias=True)
    convs = 64 * 16 + 64 * 16 + 16 * 9 * 32 + 64 * 16 + 16 * 25 * 32 + 64 * 16      # kernels
    bns = 4 * (16 + 16 + 32 + 16 + 32 + 16)                                          # gamma, beta, mean, var
    assert n_plain == convs + bns
    assert n_study == convs + (16 + 16 + 32 + 16 + 32 + 16) + bns                    # + one bias per filter
    assert [type(lyr).__name__ for lyr in study.branch3] == ["Conv2D", "Activation", "BatchNormalization"] * 2
    assert [type(lyr).__name__ for lyr in plain.branch3] == ["Conv2D", "BatchNormalization", "Activation"] * 2
    assert study.get_config()["order"] == "conv_act_bn" and study.get_config()["use_bias"] is True
    with pytest.raises(ConfigError, match="order"):
        cfg({"type": "cnn", "blocks": [{"type": "inception", "b1": 1, "b3_reduce": 1, "b3": 1, "b5_reduce": 1,
                                        "b5": 1, "pool_proj": 1, "order": "bn_conv"}]})
