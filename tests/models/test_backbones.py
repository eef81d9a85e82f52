"""Backbones: the registry, builds at tiny sizes (weights null), preprocessing, freezing and
unfreezing, weights files and the offline-ImageNet message, stages, and the shipped configs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dlhw.config import load_config, validate
from dlhw.config.names import BACKBONES as CONFIG_NAMES
from dlhw.config.schema import BackboneModel, UnfreezeConfig
from dlhw.errors import ConfigError
from dlhw.models.backbones import BACKBONES, apply_unfreeze, build_backbone_model, find_backbone
from dlhw.models.outputs import OutputSpec
from tests.conftest import REPO, make_image_folder

# Small enough to build and run in the default suite; the rest build under -m slow.
QUICK = ("densenet121", "resnet50", "mobilenet_v2", "efficientnet_b0")  # torch, caffe, tf, built-in
HEAVY = tuple(n for n in sorted(BACKBONES) if n not in QUICK)
BINARY = OutputSpec(1, "sigmoid", "binary_crossentropy", False, "binary", "binary", 2)
CARS = OutputSpec(196, "softmax", "sparse_categorical_crossentropy", False, "index", "sparse_categorical", 196)


def model_cfg(name="resnet50", pooling="avg", trainable=False, head=(), weights=None, **kw):
    return BackboneModel(backbone={"name": name, "weights": weights, "pooling": pooling, "trainable": trainable},
                         head=list(head), **kw)


def params(model):
    from dlhw.training.trainer import count_params

    return count_params(model)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DLHW_CACHE_DIR", str(tmp_path / "feature-cache"))


@pytest.fixture(scope="module")
def resnet50_frozen():
    """ResNet50 (random weights, 32x32) frozen + avg pooling + Dense(196): the S2 (b) shape."""
    return build_backbone_model(model_cfg(), (32, 32, 3), CARS)


# --------------------------------------------------------------- registry
def test_registry_covers_every_config_name_and_constructor():
    import keras

    assert set(BACKBONES) == set(CONFIG_NAMES)
    for entry in BACKBONES.values():
        assert callable(getattr(keras.applications, entry.constructor)), entry.name
        assert entry.preprocessing in ("caffe", "torch", "tf", "none")
        assert entry.weights_file(224).endswith(".h5")
    assert BACKBONES["densenet201"].weights_file(128) == "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert BACKBONES["mobilenet_v2"].weights_file(128).endswith("_1.0_128_no_top.h5")
    assert {BACKBONES[n].preprocessing for n in ("densenet121", "resnet50", "resnet50v2", "vgg16",
                                                 "efficientnet_b0", "mobilenet_v2")} == {"torch", "caffe", "tf", "none"}


def _check_build(name: str) -> None:
    entry = BACKBONES[name]
    model = build_backbone_model(model_cfg(name, head=[{"type": "dense", "units": 4, "activation": "relu"}]),
                                 (32, 32, 3), BINARY)
    assert model.output.shape == (None, 1)
    assert model.get_layer("features").output.shape == (None, entry.channels)
    backbone = find_backbone(model)
    layer_names = [layer.name for layer in backbone.layers]
    for block in entry.blocks:  # every advertised from_block prefix names real layers
        assert any(n.startswith(block) for n in layer_names[1:]), (name, block)
    assert params(model)["trainable"] == entry.channels * 4 + 4 + 4 + 1
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    out = model.predict(x, verbose=0)
    assert out.shape == (2, 1) and np.all(np.isfinite(out))


@pytest.mark.parametrize("name", QUICK)
def test_build_quick_backbones(name):
    _check_build(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVY)
def test_build_heavy_backbones(name):
    _check_build(name)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_image_below_minimum_size_is_refused(name):
    with pytest.raises(ConfigError, match=r"^dataset\.image_size: .* at least 32x32; received \[24, 40\]"):
        build_backbone_model(model_cfg(name), (24, 40, 3), BINARY)


def test_non_image_input_is_refused():
    with pytest.raises(ConfigError, match="model.type: backbone needs image input"):
        build_backbone_model(model_cfg(), (64,), BINARY)


@pytest.mark.parametrize("mode,module", [("caffe", "resnet"), ("torch", "densenet"), ("tf", "resnet_v2")])
def test_preprocessing_matches_keras_applications(mode, module):
    import keras

    from dlhw.models.layers import ImagePreprocess

    x = np.random.default_rng(1).uniform(0, 255, size=(3, 8, 8, 3)).astype("float32")
    expected = getattr(keras.applications, module).preprocess_input(x.copy())
    got = keras.ops.convert_to_numpy(ImagePreprocess(mode)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    gray = keras.ops.convert_to_numpy(ImagePreprocess(mode)(x[..., :1]))
    assert gray.shape == (3, 8, 8, 3)


# ---------------------------------------------------------------- freezing
def test_frozen_resnet50_trains_only_the_dense_head(resnet50_frozen):
    p = params(resnet50_frozen)
    assert p["trainable"] == 2048 * 196 + 196 == 401_604
    assert p["total"] == 23_587_712 + 401_604
    assert all(not layer.trainable for layer in find_backbone(resnet50_frozen).layers)


def test_trainable_backbone_trains_everything_but_batchnorm_statistics():
    import keras

    model = build_backbone_model(model_cfg(trainable=True), (32, 32, 3), CARS)
    p = params(model)
    bn_stats = sum(2 * layer.moving_mean.shape[0] for layer in find_backbone(model).layers
                   if isinstance(layer, keras.layers.BatchNormalization))
    assert p["total"] == 23_587_712 + 401_604 and p["non_trainable"] == bn_stats


def test_saved_model_loads_in_safe_mode(tmp_path):
    import keras

    model = build_backbone_model(model_cfg("mobilenet_v2", head=[{"type": "batch_norm"}]), (32, 32, 1), BINARY)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)  # ImagePreprocess is no Lambda
    x = np.random.default_rng(2).uniform(0, 255, size=(2, 32, 32, 1)).astype("float32")  # grayscale -> 3 channels
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert params(again) == params(model) and params(model)["trainable"] == 1280 * 2 + 1281


def _fresh():
    return build_backbone_model(model_cfg(), (32, 32, 3), CARS)


def test_unfreeze_from_block_conv5_keeps_batchnorm_frozen():
    import keras

    model = _fresh()
    apply_unfreeze(model, UnfreezeConfig(from_block="conv5"))
    backbone = find_backbone(model)
    start = next(i for i, layer in enumerate(backbone.layers) if layer.name.startswith("conv5"))
    conv5 = sum(int(np.prod(w.shape)) for layer in backbone.layers[start:]
                if not isinstance(layer, keras.layers.BatchNormalization) for w in layer.weights)
    assert params(model)["trainable"] == 401_604 + conv5
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert not layer.trainable
        elif layer.weights:
            assert layer.trainable == layer.name.startswith("conv5"), layer.name


def test_unfreeze_from_layer_and_last_layers_agree():
    a, b = _fresh(), _fresh()
    n = len(find_backbone(a).layers)
    apply_unfreeze(a, UnfreezeConfig(from_layer=n - 12))
    apply_unfreeze(b, UnfreezeConfig(last_layers=12))
    assert params(a)["trainable"] == params(b)["trainable"] > 401_604


@pytest.mark.parametrize("ucfg,pattern", [
    ({"from_layer": 175}, r"^unfreeze\.from_layer: resnet50 has 175 layers \(indices 0-174\); received 175$"),
    ({"last_layers": 500}, r"^unfreeze\.last_layers: resnet50 has 174 layers after its input; received 500$"),
    ({"from_block": "conv9"}, r"^unfreeze\.from_block: no resnet50 layer .*'conv9'.*blocks are: conv1, conv2, "
                              r"conv3, conv4, conv5; received conv9$"),
])
def test_unfreeze_out_of_range_is_refused(resnet50_frozen, ucfg, pattern):
    with pytest.raises(ConfigError, match=pattern):
        apply_unfreeze(resnet50_frozen, UnfreezeConfig(**ucfg))


def test_unfreeze_needs_a_backbone():
    import keras

    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ConfigError, match="only a model.type: backbone model"):
        apply_unfreeze(plain, UnfreezeConfig(last_layers=1))


def test_frozen_backbone_is_reused_within_a_process_with_identical_weights():
    """A sweep builds the same frozen backbone once; the models are as if built afresh."""
    import keras

    head = [{"type": "dense", "units": 4, "activation": "relu"}, {"type": "dropout", "rate": 0.5}]

    def build():
        keras.utils.set_random_seed(7)
        return build_backbone_model(model_cfg("mobilenet_v2", head=head), (32, 32, 3), BINARY)

    a, b = build(), build()
    assert find_backbone(a) is find_backbone(b)
    for wa, wb in zip(a.get_weights(), b.get_weights()):  # head initialised the same way too
        np.testing.assert_array_equal(wa, wb)
    apply_unfreeze(b, UnfreezeConfig(last_layers=3))  # b's backbone may now change: not reused again
    c = build()
    assert find_backbone(c) is not find_backbone(a)
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wc)
    find_backbone(c).layers[1].set_weights([w + 1 for w in find_backbone(c).layers[1].get_weights()])
    assert find_backbone(build()) is not find_backbone(c)  # weights written into it (init_from): rebuilt


# ----------------------------------------------------------------- weights
def test_weights_file_is_loaded(tmp_path):
    import keras

    src = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "mnv2.weights.h5"
    src.save_weights(path)
    model = build_backbone_model(model_cfg("mobilenet_v2", weights=str(path)), (32, 32, 3), BINARY)
    for a, b in zip(find_backbone(model).get_weights(), src.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match=r"^model\.backbone\.weights: weights file not found.*received .*nope\.h5$"):
        build_backbone_model(model_cfg("mobilenet_v2", weights=str(tmp_path / "nope.h5")), (32, 32, 3), BINARY)
    with pytest.raises(ConfigError, match=r"does not fit vgg16 without its top"):
        build_backbone_model(model_cfg("vgg16", weights=str(path)), (32, 32, 3), BINARY)


def _offline(monkeypatch, tmp_path):
    from keras.src.utils import file_utils

    def no_network(fname, origin=None, **kw):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))


def test_offline_imagenet_names_the_file_and_the_cache_folder(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path)
    with pytest.raises(ConfigError) as err:
        build_backbone_model(model_cfg("densenet121", weights="imagenet"), (32, 32, 3), BINARY)
    msg = str(err.value)
    assert msg.startswith("model.backbone.weights: the ImageNet weights of densenet121 are not cached")
    assert f"place densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5 in {tmp_path / 'kh' / 'models'}" in msg
    assert msg.endswith("received imagenet") and "\n" not in msg


def test_offline_imagenet_exits_2_from_the_cli(monkeypatch, tmp_path, image_folder):
    from typer.testing import CliRunner

    from dlhw.cli import app

    _offline(monkeypatch, tmp_path)
    res = CliRunner().invoke(app, ["run", str(REPO / "configs" / "resnet50_frozen.yaml"), "--out", str(tmp_path / "runs"),
                                   "--set", f"dataset.path={image_folder}", "dataset.image_size=[32,32]",
                                   "model.output.units=null", "training.epochs=1"])
    assert res.exit_code == 2, res.output
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in res.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# -------------------------------------------------------- stages, end to end
def _two_stage(folder, stages=True, **over):
    data = {
        "name": "stages", "seed": 3,
        "dataset": {"source": "image_folder", "path": str(folder), "image_size": [32, 32]},
        "model": {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "avg"},
                  "head": [{"type": "dense", "units": 8, "activation": "relu"}]},
        "training": {"batch_size": 8, "tensorboard": False, "checkpoint": False, "stages": [
            {"name": "head", "epochs": 2, "optimizer": {"type": "adam", "learning_rate": 0.01}}]},
    }
    if stages:
        data["training"]["stages"].append({"name": "finetune", "epochs": 1, "unfreeze": {"last_layers": 9},
                                           "optimizer": {"type": "adam", "learning_rate": 1e-4}})
    data.update(over)
    return validate(data)


def test_stages_carry_weights_and_record_params(tmp_path, monkeypatch):
    """The finetune stage starts from the head stage's weights (compared with a head-only
    run of the same seed); history and params are recorded per stage."""
    import keras

    import dlhw.models.backbones as B
    from dlhw.orchestration.experiment import run_experiment

    folder = make_image_folder(tmp_path / "img", per_class=10, size=32)
    head_only = run_experiment(_two_stage(folder, stages=False), out=tmp_path / "runs", quiet=True)
    expected = keras.saving.load_model(head_only.run_dir / "model.keras", safe_mode=True)
    seen = {}
    real = B.apply_unfreeze

    def spy(model, ucfg, key="unfreeze"):
        seen["head"] = [w.copy() for w in model.get_layer("head_1_dense").get_weights()]
        seen["output"] = [w.copy() for w in model.get_layer("output").get_weights()]
        return real(model, ucfg, key)

    monkeypatch.setattr(B, "apply_unfreeze", spy)
    out = run_experiment(_two_stage(folder), out=tmp_path / "runs", quiet=True)
    for name in ("head", "output"):
        layer = "head_1_dense" if name == "head" else "output"
        for got, want in zip(seen[name], expected.get_layer(layer).get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    rows = list(csv.DictReader((out.run_dir / "history.csv").open()))
    assert [(r["stage"], r["epoch"]) for r in rows] == [("head", "1"), ("head", "2"), ("finetune", "3")]
    per_stage = out.metrics["params_per_stage"]
    assert [s["stage"] for s in per_stage] == ["head", "finetune"]
    assert per_stage[0]["trainable"] == 1280 * 8 + 8 + 9 < per_stage[1]["trainable"]
    assert per_stage[0]["total"] == per_stage[1]["total"]
    # the head stage read the features the head-only run cached; the finetune stage trained on images
    assert out.metrics["feature_cache"]["hits"] == ["train", "val"] and out.metrics["feature_cache"]["misses"] == []


def test_bad_unfreeze_in_a_stage_is_refused_before_the_run_folder(tmp_path):
    from dlhw.orchestration.experiment import run_experiment

    folder = make_image_folder(tmp_path / "img", per_class=4, size=32)
    cfg = _two_stage(folder)
    cfg.training.stages[1].unfreeze = UnfreezeConfig(from_block="conv5")
    with pytest.raises(ConfigError, match=r"^training\.stages\[1\]\.unfreeze\.from_block: no mobilenet_v2 layer .*"
                                          r"blocks are: Conv1, expanded_conv, block_1, block_2, "):
        run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------- the shipped configs
def _config(name, folder, *extra):
    sets = [f"dataset.path={folder}", "model.backbone.weights=null", "dataset.image_size=[32,32]",
            "training.tensorboard=false", "training.checkpoint=false", "training.batch_size=8", *extra]
    return load_config(REPO / "configs" / f"{name}.yaml", sets)


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("cars") / "cars", classes=("a", "b", "c"), per_class=8, size=32)


@pytest.fixture(scope="module")
def two_class(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("two") / "two_class", classes=("0", "1"), per_class=10, size=32)


@pytest.mark.slow  # issue 28: 58 s; the shipped S2 configs
def test_s2_configs_frozen_then_svm_then_finetune(tmp_path, three_classes):
    """S2 (b) -> (c) on the same cached features -> (d) from (b)'s run, unfreezing conv5."""
    from dlhw.orchestration.experiment import run_experiment

    one = ["model.output.units=null", "training.epochs=1"]
    frozen = run_experiment(_config("resnet50_frozen", three_classes, *one), out=tmp_path, quiet=True)
    assert frozen.metrics["params"]["trainable"] == 2048 * 3 + 3
    assert frozen.metrics["feature_cache"]["misses"] == ["train", "val", "test"]
    svm = run_experiment(_config("resnet50_svm", three_classes), out=tmp_path, quiet=True)
    assert svm.metrics["feature_cache"]["hits"] == ["train", "val", "test"]
    assert svm.metrics["classifier"]["kernel"] == "poly" and (svm.run_dir / "classifier.joblib").exists()
    fine = run_experiment(_config("resnet50_finetune", three_classes, "model.output.units=null",
                                  "training.stages.0.epochs=1", f"model.init_from={frozen.run_dir}"),
                          out=tmp_path, quiet=True)
    per_stage = fine.metrics["params_per_stage"]
    assert per_stage[0]["stage"] == "finetune" and per_stage[0]["trainable"] > 2048 * 3 + 3
    assert json.loads((fine.run_dir / "status.json").read_text())["status"] == "completed"


def test_densenet_head_config(tmp_path, two_class):
    from dlhw.orchestration.experiment import run_experiment

    out = run_experiment(_config("densenet_head", two_class, "training.epochs=1",
                                 "model.backbone.name=densenet121"), out=tmp_path, quiet=True)
    assert out.metrics["output"]["units"] == 1
    # Flatten of densenet121 at 32x32 (1x1x1024) -> Dense(256) -> BatchNorm (gamma, beta train) -> Dense(1)
    assert out.metrics["params"]["trainable"] == 1024 * 256 + 256 + 2 * 256 + 257


@pytest.mark.slow
def test_densenet_finetune_config(tmp_path, two_class):
    from dlhw.orchestration.experiment import run_experiment

    out = run_experiment(_config("densenet_finetune", two_class, "training.stages.0.epochs=1",
                                 "training.stages.1.epochs=1"), out=tmp_path, quiet=True)
    stages = out.metrics["params_per_stage"]
    assert [s["stage"] for s in stages] == ["head", "finetune"] and stages[1]["trainable"] > stages[0]["trainable"]


@pytest.mark.slow
def test_resnet152_head_config(tmp_path, two_class):
    from dlhw.orchestration.experiment import run_experiment

    out = run_experiment(_config("resnet152_head", two_class, "training.epochs=1"), out=tmp_path, quiet=True)
    assert out.metrics["output"]["from_logits"] is True and out.metrics["output"]["units"] == 2
    assert out.metrics["params"]["trainable"] == 2048 * 1024 + 1024 + 1024 * 64 + 64 + 64 * 2 + 2


@pytest.mark.slow
def test_resnet50_scratch_config(tmp_path, three_classes):
    from dlhw.orchestration.experiment import run_experiment

    out = run_experiment(_config("resnet50_scratch", three_classes, "model.output.units=null", "training.epochs=1"),
                         out=tmp_path, quiet=True)
    p = out.metrics["params"]
    assert p["trainable"] > 23_000_000 and out.metrics["feature_cache"]["used"] is False


# ------------------------------------------ BatchNorm while fine-tuning
def _finetuned_bn(batch_norm):
    """MobileNetV2's last 9 layers unfrozen with batch_norm frozen / trainable, one training step."""
    import keras

    from dlhw.config.schema import ExperimentConfig

    cfg = ExperimentConfig(dataset={"source": "sklearn", "name": "digits"},
                           model=model_cfg("mobilenet_v2", head=[]),
                           training={"stages": [{"name": "ft", "epochs": 1,
                                                 "unfreeze": {"last_layers": 9, "batch_norm": batch_norm}}]})
    from dlhw.models.backbones import bn_training_needed

    model = build_backbone_model(cfg.model, (32, 32, 3), BINARY, bn_training=bn_training_needed(cfg))
    apply_unfreeze(model, cfg.training.stages[0].unfreeze)
    bn = find_backbone(model).get_layer("Conv_1_bn")
    before = [np.array(w) for w in (bn.moving_mean, bn.gamma)]
    trainable = params(model)["trainable"]
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, size=(8, 32, 32, 3)).astype("float32")
    model.fit(x, np.arange(8) % 2, epochs=1, batch_size=8, verbose=0)
    after = [np.array(w) for w in (bn.moving_mean, bn.gamma)]
    return bn, trainable, [not np.array_equal(a, b) for a, b in zip(before, after)]  # random weights: tiny moves


def test_finetune_batchnorm_frozen_by_default_or_trainable_as_the_studies():
    bn, frozen_trainable, moved = _finetuned_bn("frozen")
    assert bn.trainable is False and moved == [False, False]      # statistics and gamma stay put
    bn, bn_trainable, moved = _finetuned_bn("trainable")
    assert bn.trainable is True and moved == [True, True]         # batch statistics used and updated
    # gamma and beta of the three BatchNormalization layers among the last 9:
    # block_16_depthwise_BN (960 channels), block_16_project_BN (320), Conv_1_bn (1280)
    assert bn_trainable == frozen_trainable + 2 * (960 + 320 + 1280)
    assert UnfreezeConfig(last_layers=2).batch_norm == "frozen"


def test_trainable_batchnorm_needs_a_model_built_for_it(resnet50_frozen):
    with pytest.raises(ConfigError, match=r"^unfreeze\.batch_norm: trainable needs the model built for it"):
        apply_unfreeze(resnet50_frozen, UnfreezeConfig(from_block="conv5", batch_norm="trainable"))


def test_s2_pytorch_parameter_counts_come_out_of_the_keras_model():
    """S2 reports PyTorch's counts: 23,909,636 in all and 15,366,340 trainable with layer4 (conv5)
    unfrozen. Keras counts more: its ResNet convolutions have biases and BatchNorm's moving
    statistics are weights; param_breakdown takes both out."""
    from dlhw.models.backbones import param_breakdown

    model = build_backbone_model(model_cfg(), (32, 32, 3), CARS, bn_training=True)
    every = param_breakdown(model)
    assert every["total"] == params(model)["total"] == 23_989_316
    assert every["conv_bias"] == every["bn_moving"] // 2 == 26_560  # one bias per conv filter, each conv has a BN
    assert every["pytorch_equivalent"] == 23_909_636
    apply_unfreeze(model, UnfreezeConfig(from_block="conv5", batch_norm="trainable"))
    trainable = param_breakdown(model, trainable_only=True)
    assert trainable["total"] == params(model)["trainable"]
    assert trainable["pytorch_equivalent"] == 15_366_340
