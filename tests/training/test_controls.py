"""Training controls (issue 16): augmentation layers, class weights, top-k and weighted
metrics, step decay, the CSV standardisation switch. Trained for real on tiny data."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.errors import ConfigError
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import make_image_folder
from tests.conftest import read_history as history

DIGITS = {"seed": 0, "dataset": {"source": "sklearn", "name": "digits", "max_samples": 400},
          "model": {"type": "mlp", "layers": [{"units": 16}]},
          "evaluation": {"samples": 0}}


def digits(**training):
    t = {"epochs": 1, "batch_size": 64, "tensorboard": False, "checkpoint": False}
    t.update(training)
    return {**DIGITS, "training": t}


def run(tmp_path, raw, name):
    cfg = validate({**raw, "name": name})
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    return out.run_dir, json.loads((out.run_dir / "metrics.json").read_text())


# ---------------------------------------------------------------- class weights
def test_balanced_class_weight_equals_sklearn():
    from sklearn.utils.class_weight import compute_class_weight

    from dlhw.training.class_weights import class_weights

    y = np.array([0] * 30 + [1] * 6 + [2] * 4)
    ds = SimpleNamespace(class_names=["a", "b", "c"], splits={"train": SimpleNamespace(y=y)})
    cfg = validate({**DIGITS, "training": {"class_weight": "balanced"}})
    expected = compute_class_weight("balanced", classes=np.unique(y), y=y)
    assert class_weights(cfg, ds) == pytest.approx(expected)
    cfg = validate({**DIGITS, "training": {"class_weight": {"b": 3.0}}})
    assert class_weights(cfg, ds).tolist() == [1.0, 3.0, 1.0]


@pytest.mark.slow  # issue 28: 31 s
def test_class_weight_end_to_end_is_recorded_and_changes_training(tmp_path):
    from sklearn.utils.class_weight import compute_class_weight

    _, plain = run(tmp_path, digits(), "plain")
    run_dir, balanced = run(tmp_path, digits(class_weight="balanced"), "balanced")
    from dlhw.data import load_dataset

    y = load_dataset(validate({**digits(), "name": "x"})).splits["train"].y
    expected = compute_class_weight("balanced", classes=np.arange(10), y=y)
    assert list(balanced["class_weight"].values()) == pytest.approx(expected, rel=1e-5)
    _, heavy = run(tmp_path, digits(class_weight={0: 50.0}), "heavy")
    assert heavy["class_weight"]["0"] == 50.0 and heavy["class_weight"]["1"] == 1.0
    assert "class_weight" not in plain
    # the weighted training loss differs from the unweighted one on the same batches
    assert float(history(tmp_path / "runs" / "heavy")[0]["loss"]) != pytest.approx(
        float(history(tmp_path / "runs" / "plain")[0]["loss"]), rel=1e-3)


def test_class_weight_on_image_folder_pipeline(tmp_path):
    folder = make_image_folder(tmp_path / "img", classes=("a", "b", "c"), per_class=8, size=16)
    raw = {"seed": 0, "dataset": {"source": "image_folder", "path": str(folder), "image_size": [16, 16]},
           "model": {"type": "cnn", "rescale": 1 / 255, "blocks": [{"type": "conv", "filters": 4, "pool": 2}],
                     "dense": []},
           "training": {"epochs": 1, "batch_size": 8, "tensorboard": False, "checkpoint": False,
                        "class_weight": {"c": 2.0}},
           "evaluation": {"samples": 0}}
    _, m = run(tmp_path, raw, "img_cw")
    assert m["class_weight"] == {"a": 1.0, "b": 1.0, "c": 2.0}


def test_class_weight_reaches_a_scikit_learn_classifier(tmp_path):
    import joblib

    folder = make_image_folder(tmp_path / "img", classes=("a", "b", "c"), per_class=6, size=32)
    raw = {"seed": 0, "dataset": {"source": "image_folder", "path": str(folder), "image_size": [32, 32]},
           "model": {"type": "backbone", "backbone": {"name": "vgg16", "weights": None, "pooling": "avg"},
                     "classifier": {"type": "logistic", "max_iter": 50}},
           "training": {"batch_size": 8, "tensorboard": False, "class_weight": {"b": 4.0}},
           "evaluation": {"samples": 0}}
    cfg = validate({**raw, "name": "clf_cw"})
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True, cache_dir=tmp_path / "cache")
    assert out.metrics["class_weight"] == {"a": 1.0, "b": 4.0, "c": 1.0}
    est = joblib.load(out.run_dir / "classifier.joblib")["estimator"]
    assert est.class_weight == {0: 1.0, 1: 4.0, 2: 1.0}


@pytest.mark.parametrize("value, words", [
    ({"seven": 2.0}, "class 'seven' is not a class"),
])
def test_class_weight_unknown_class_is_one_line(tmp_path, value, words):
    with pytest.raises(ConfigError, match=words) as err:
        run(tmp_path, digits(class_weight=value), "bad")
    assert "\n" not in str(err.value) and "training.class_weight" in str(err.value)


@pytest.mark.parametrize("value, words", [
    ({0: 0}, "the weight of class 0 must be a number > 0 .*; received 0$"),
    ({"3": -1.0}, "the weight of class '3' must be a number > 0 .*; received -1.0$"),
    ({0: "x"}, "the weight of class 0 must be a number > 0"),
    ("heavy", "must be balanced or a mapping {class: weight}; received 'heavy'$"),
])
def test_class_weight_bad_values_are_refused(value, words):
    with pytest.raises(ConfigError, match="training.class_weight: " + words):
        validate(digits(class_weight=value))


def test_class_weight_needs_classification():
    raw = {"task": "regression", "dataset": {"source": "csv", "path": "x.csv", "target": "y"},
           "training": {"class_weight": "balanced"}}
    with pytest.raises(ConfigError, match="training.class_weight: only for classification"):
        validate(raw)


# ------------------------------------------------------------------- step decay
def test_step_decay_halves_the_rate_every_two_epochs(tmp_path):
    raw = digits(epochs=5, optimizer={"type": "sgd", "learning_rate": 0.1,
                                      "schedule": {"type": "step", "step_size": 2, "gamma": 0.5}})
    run_dir, _ = run(tmp_path, raw, "step")
    lrs = [float(r["lr"]) for r in history(run_dir)]
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_step_decay_counts_from_each_stage(tmp_path):
    sched = {"type": "sgd", "learning_rate": 0.2, "schedule": {"type": "step", "step_size": 1, "gamma": 0.5}}
    raw = digits(stages=[{"name": "a", "epochs": 2, "optimizer": sched}, {"name": "b", "epochs": 2, "optimizer": sched}])
    run_dir, _ = run(tmp_path, raw, "stages")
    assert [float(r["lr"]) for r in history(run_dir)] == pytest.approx([0.2, 0.1, 0.2, 0.1])


@pytest.mark.parametrize("key, value, words", [("gamma", 0, "greater than 0"), ("gamma", 1.5, "less than or equal to 1"),
                                             ("step_size", 0, "greater than 0")])
def test_step_decay_bad_values(key, value, words):
    with pytest.raises(ConfigError, match=f"schedule.{key}: Input should be {words}; received {value}"):
        validate(digits(optimizer={"schedule": {"type": "step", key: value}}))
    validate(digits(optimizer={"schedule": {"type": "step", "step_size": 3, "gamma": 0.5}}))  # a good one passes


# --------------------------------------------------------------------- metrics
def test_top_k_and_weighted_metrics(tmp_path):
    from sklearn.metrics import f1_score, precision_score, recall_score, top_k_accuracy_score

    from dlhw.evaluation.metrics import top_k_accuracy, weighted_prf

    rng = np.random.default_rng(0)
    proba = rng.random((50, 6))
    y = rng.integers(0, 6, 50)
    for k in (1, 2, 4):
        assert top_k_accuracy(y, proba, k) == pytest.approx(top_k_accuracy_score(y, proba, k=k, labels=range(6)))
    pred = proba.argmax(1)
    w = weighted_prf(y, pred, list(range(6)))
    assert w["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert w["precision_weighted"] == pytest.approx(precision_score(y, pred, average="weighted", zero_division=0))
    assert w["recall_weighted"] == pytest.approx(recall_score(y, pred, average="weighted"))

    _, m = run(tmp_path, {**digits(), "evaluation": {"samples": 0, "top_k": 3}}, "topk")
    for split in ("train", "val", "test"):
        assert 1.0 >= m[split]["top_3_accuracy"] >= m[split]["accuracy"]
        assert {"precision_weighted", "recall_weighted", "f1_weighted"} <= set(m[split])
    _, m = run(tmp_path, digits(), "default")  # 10 classes: top-k off by default
    assert not any(k.startswith("top_") for k in m["test"])


def test_top_k_default_rule():
    from dlhw.evaluation.metrics import top_k_for

    cfg = validate(digits())
    assert top_k_for(cfg, 10) == 0 and top_k_for(cfg, 11) == 5 and top_k_for(cfg, 196) == 5
    assert top_k_for(validate({**digits(), "evaluation": {"top_k": 0}}), 196) == 0
    assert top_k_for(validate({**digits(), "evaluation": {"top_k": 3}}), 3) == 0  # k >= classes: meaningless
    with pytest.raises(ConfigError, match="evaluation.top_k"):
        validate({**digits(), "evaluation": {"top_k": -1}})


# ----------------------------------------------------------- CSV standardisation
def test_csv_standardize_switch(csv_file):
    import pandas as pd

    from dlhw.data import load_dataset

    base = {"seed": 0, "dataset": {"source": "csv", "path": str(csv_file), "target": "label"}}
    on = load_dataset(validate(base))
    assert abs(on.splits["train"].x[:, :2].mean(axis=0)).max() < 1e-5
    assert on.meta["standardize"] is not None
    off = load_dataset(validate({**base, "dataset": {**base["dataset"], "standardize": False}}))
    assert "standardize" not in off.meta
    raw = pd.read_csv(csv_file)[["a", "b"]].to_numpy(np.float32)
    rows = {tuple(r) for r in np.round(raw, 5)}
    assert all(tuple(r) in rows for r in np.round(off.splits["train"].x[:, :2], 5))  # the values as they are


def test_standardize_off_predicts_raw_rows(tmp_path, csv_file):
    from dlhw.data.preprocessing import csv_inputs

    raw = {"seed": 0, "dataset": {"source": "csv", "path": str(csv_file), "target": "label", "standardize": False},
           "model": {"type": "mlp", "layers": [{"units": 4}]},
           "training": {"epochs": 1, "tensorboard": False, "checkpoint": False}, "evaluation": {"samples": 0}}
    run_dir, _ = run(tmp_path, raw, "raw_csv")
    pre = json.loads((run_dir / "preprocessing.json").read_text())
    assert pre["standardize"] is None
    x, _ = csv_inputs(csv_file, pre)
    import pandas as pd

    assert x[:, :2] == pytest.approx(pd.read_csv(csv_file)[["a", "b"]].to_numpy(np.float32))


# ----------------------------------------------------------------- augmentation
AUG = {"flip": "horizontal", "crop": 0.2, "zoom": 0.1, "rotation": 0.1, "translation": 0.1, "contrast": 0.3}


def test_augmentation_layers_in_the_model_train_only(tmp_path):
    from dlhw.data import load_dataset
    from dlhw.models import build_model

    folder = make_image_folder(tmp_path / "img", per_class=6, size=16)
    cfg = validate({"seed": 0, "dataset": {"source": "image_folder", "path": str(folder), "image_size": [16, 16],
                                           "augment": AUG},
                    "model": {"type": "cnn", "rescale": 1 / 255, "blocks": [{"type": "conv", "filters": 4}]}})
    model, _ = build_model(cfg, load_dataset(cfg))
    names = [layer.name for layer in model.layers if layer.name.startswith("augment_")]
    assert names == ["augment_flip", "augment_crop", "augment_crop_resize", "augment_zoom", "augment_rotation",
                     "augment_translation", "augment_contrast"]
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    for name in ("augment_zoom", "augment_rotation", "augment_translation", "augment_contrast", "augment_flip"):
        layer = model.get_layer(name)
        assert np.asarray(layer(x, training=False)) == pytest.approx(x)  # inference: unchanged
    changed = np.asarray(model.get_layer("augment_rotation")(x, training=True))
    assert not np.allclose(changed, x)
    assert model.output_shape[1:] == (1,)  # two classes: one sigmoid unit


def test_augmentation_trains_end_to_end_and_true_means_flips(tmp_path):
    folder = make_image_folder(tmp_path / "img", per_class=6, size=16)
    raw = {"seed": 0, "dataset": {"source": "image_folder", "path": str(folder), "image_size": [16, 16],
                                  "augment": AUG},
           "model": {"type": "cnn", "rescale": 1 / 255, "blocks": [{"type": "conv", "filters": 4, "pool": 2}]},
           "training": {"epochs": 1, "batch_size": 4, "tensorboard": False, "checkpoint": False},
           "evaluation": {"samples": 0}}
    run_dir, m = run(tmp_path, raw, "aug")
    assert m["epochs_run"] == 1 and "augment_contrast" in (run_dir / "summary.txt").read_text()
    from dlhw.models.augment import augment_spec

    assert augment_spec(True).flip == "horizontal" and augment_spec(False) is None
    assert augment_spec(validate({**raw, "dataset": {**raw["dataset"], "augment": {}}}).dataset.augment) is None


def test_augmentation_on_image_arrays_and_feature_cache_reason(tmp_path):
    from dlhw.data.dataset import Dataset, Split
    from dlhw.models import build_model
    from dlhw.training.feature_cache import cache_reason

    x = np.zeros((8, 32, 32, 3), np.float32)
    split = Split(y=np.arange(8) % 2, x=x)
    ds = Dataset(splits={"train": split, "val": split, "test": split}, class_names=["a", "b"], input_shape=(32, 32, 3))
    raw = {"dataset": {"source": "keras", "name": "cifar10", "augment": {"rotation": 0.1}},
           "model": {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "avg"}}}
    cfg = validate(raw)
    model, _ = build_model(cfg, ds)
    assert model.get_layer("augment_rotation") is not None
    assert cache_reason(cfg, model, ds).startswith("dataset.augment is on")  # a frozen backbone sees augmented images
    plain = validate({**raw, "dataset": {"source": "keras", "name": "cifar10"}})
    assert cache_reason(plain, build_model(plain, ds)[0], ds) is None  # the cache is off only while augmenting


@pytest.mark.parametrize("aug, words", [
    ({"rotation": -0.1}, "rotation: Input should be greater than or equal to 0; received -0.1"),
    ({"crop": 1.0}, "crop: Input should be less than 1; received 1.0"),
    ({"flip": "diagonal"}, "flip: Input should be 'none', 'horizontal', .*; received 'diagonal'"),
    ({"shear": 0.1}, "unknown key 'shear'; the keys are: flip, crop, zoom, rotation, translation, contrast"),
    ("yes", "must be true, false or a mapping of flip, crop"),
])
def test_augmentation_bad_values(aug, words):
    with pytest.raises(ConfigError, match=f"dataset.augment: {words}") as err:
        validate({"dataset": {"source": "image_folder", "path": "x", "augment": aug}})
    assert "\n" not in str(err.value)
