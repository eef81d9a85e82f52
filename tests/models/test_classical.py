"""Classical heads on backbone features (S2 c): SVM and logistic regression end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.errors import ConfigError
from tests.conftest import make_image_folder


def config(folder, classifier, name="clf", **extra):
    return validate({
        "name": name, "seed": 0,
        "dataset": {"source": "image_folder", "path": str(folder), "image_size": [32, 32]},
        "model": {"type": "backbone", "backbone": {"name": "vgg16", "weights": None, "pooling": "avg"},
                  "classifier": classifier},
        "training": {"batch_size": 8, "tensorboard": False},
        "evaluation": {"samples": 0},
        **extra,
    })


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("clf") / "img", classes=("red", "green", "blue"),
                             per_class=10, size=32)


def test_class_scores_agree_with_the_estimators_predictions():
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    from dlhw.models.classical import class_scores

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    for k in (2, 4):
        y = rng.integers(0, k, size=60)
        x_shift = x + y[:, None] * 0.8
        for est in (SVC(kernel="poly", degree=3), SVC(kernel="linear"), LogisticRegression(max_iter=500)):
            est.fit(x_shift, y)
            s = class_scores(est, x_shift, k)
            assert s.shape == (60, k)
            np.testing.assert_allclose(s.sum(axis=1), 1.0)
            assert (s.argmax(axis=1) == est.predict(x_shift)).mean() >= 0.95
    assert class_scores(SVC().fit(x, y), x[:0], 4).shape == (0, 4)


def test_svm_run_folder(tmp_path, folder):
    from dlhw.data.image_cache import tf_images
    from dlhw.models.classical import load_classifier_run, predict_proba
    from dlhw.orchestration.experiment import run_experiment

    cache = tmp_path / "cache"
    out = run_experiment(config(folder, {"type": "svm", "kernel": "poly", "degree": 3, "C": 1.0}),
                         out=tmp_path / "runs", quiet=True, cache_dir=cache)
    run = out.run_dir
    names = {p.name for p in run.iterdir()}
    assert {"metrics.json", "classifier.joblib", "model.keras", "confusion_matrix.csv", "confusion_matrix.png",
            "roc.png", "curves.txt", "summary.txt", "config.yaml", "status.json"} <= names
    assert "curves.png" not in names and "history.csv" not in names
    note = (run / "curves.txt").read_text()
    assert note.startswith("No learning curves and no history.csv: an SVM (classifier.joblib) is fitted in one step")
    m = json.loads((run / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        assert {"accuracy", "f1_macro", "auc", "loss"} <= set(m[split])
    assert m["train"]["accuracy"] >= 0.9
    assert m["classifier"]["kernel"] == "poly" and m["classifier"]["feature_size"] == 512
    assert "decision_function" in m["classifier"]["scores"] and m["classifier"]["support_vectors"] > 0
    assert m["params"]["trainable"] == 0 and m["epochs_run"] == 0
    assert m["feature_cache"]["misses"] == ["train", "val", "test"]
    cm = np.loadtxt(run / "confusion_matrix.csv", delimiter=",", skiprows=1, usecols=range(1, 4))
    assert cm.sum() == m["test"]["samples"]
    assert json.loads((run / "status.json").read_text())["status"] == "completed"

    extractor, bundle = load_classifier_run(run)
    assert extractor.output.shape == (None, 512) and bundle["class_names"] == ["blue", "green", "red"]  # sorted folders
    from dlhw.data import load_dataset

    ds = load_dataset(config(folder, {"type": "svm"}))  # the same seeded split as the run
    test_files = ds.splits["test"].files
    images = np.concatenate([b.numpy() for b in tf_images(test_files, None, [32, 32], 3, 8)])
    scores = predict_proba(run, images)
    assert scores.shape == (len(test_files), 3)
    accuracy = float((scores.argmax(axis=1) == ds.splits["test"].y).mean())
    assert accuracy == pytest.approx(m["test"]["accuracy"])


def test_logistic_reuses_the_cached_features(tmp_path, folder):
    from dlhw.orchestration.experiment import run_experiment

    cache = tmp_path / "cache"
    first = run_experiment(config(folder, {"type": "svm", "kernel": "linear"}, name="svm"),
                           out=tmp_path / "runs", quiet=True, cache_dir=cache)
    out = run_experiment(config(folder, {"type": "logistic", "C": 0.5, "max_iter": 300}, name="logistic"),
                         out=tmp_path / "runs", quiet=True, cache_dir=cache)
    m = out.metrics
    assert first.metrics["feature_cache"]["misses"] == ["train", "val", "test"]
    assert m["feature_cache"]["hits"] == ["train", "val", "test"]
    assert m["classifier"]["type"] == "logistic" and m["classifier"]["scores"] == "LogisticRegression.predict_proba"
    assert 0.0 <= m["test"]["auc"] <= 1.0 and m["train"]["accuracy"] >= 0.9
    assert "logistic regression" in (out.run_dir / "curves.txt").read_text()


def test_classifier_refusals(tmp_path, folder):
    from dlhw.orchestration.experiment import run_experiment

    cfg = config(folder, {"type": "svm"})
    cfg.model.backbone.trainable = True
    with pytest.raises(ConfigError, match=r"^model\.backbone\.trainable: a classifier is fitted on frozen features"):
        run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()


def test_svm_with_cache_off_stores_nothing(tmp_path):
    from dlhw.orchestration.experiment import run_experiment

    folder = make_image_folder(tmp_path / "img", per_class=8, size=32)
    out = run_experiment(config(folder, {"type": "svm", "kernel": "rbf"}, cache="off"), out=tmp_path / "runs",
                         quiet=True, cache_dir=tmp_path / "cache")
    assert out.metrics["feature_cache"]["used"] is False and not (tmp_path / "cache").exists()
    assert out.metrics["test"]["samples"] > 0


def test_svm_and_logistic_refuse_features_over_the_memory_budget(tmp_path, folder, monkeypatch):
    from dlhw.orchestration.experiment import run_experiment

    monkeypatch.setenv("DLHW_CACHE_MEMORY", "1KB")  # vgg16 avg pooling: 512 floats (2 KB) per image
    for kind in ("svm", "logistic"):
        with pytest.raises(ConfigError) as info:
            run_experiment(config(folder, {"type": kind}), out=tmp_path / "runs", quiet=True,
                           cache_dir=tmp_path / "cache")
        msg = str(info.value)
        assert msg.startswith(f"model.classifier.type: {kind} needs the training features in memory") and "\n" not in msg
        assert "pooling: avg" in msg and "type: sgd" in msg and f"received type={kind}" in msg
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()  # refused before any work


def test_sgd_fits_features_on_disk_chunk_by_chunk(tmp_path, folder, monkeypatch):
    """sgd: partial_fit over the features read from disk gives the same scores as over an array."""
    from dlhw.models import classical
    from dlhw.orchestration.experiment import run_experiment

    monkeypatch.setattr(classical, "chunk_rows", lambda row_bytes, target=0: 7)  # several chunks per pass
    ccfg = {"type": "sgd", "C": 10.0, "epochs": 20}
    memory = run_experiment(config(folder, ccfg, name="memory"), out=tmp_path / "runs", quiet=True,
                            cache_dir=tmp_path / "c1")
    monkeypatch.setenv("DLHW_CACHE_MEMORY", "1")
    disk = run_experiment(config(folder, ccfg, name="disk"), out=tmp_path / "runs", quiet=True,
                          cache_dir=tmp_path / "c2")
    assert memory.metrics["feature_cache"]["on_disk"] == []
    assert disk.metrics["feature_cache"]["on_disk"] == ["train", "val", "test"]
    m = disk.metrics
    assert m["classifier"]["type"] == "sgd" and "SGDClassifier" in m["classifier"]["scores"]
    assert m["train"]["accuracy"] >= 0.9 and 0.0 <= m["test"]["auc"] <= 1.0
    for split in ("train", "val", "test"):
        assert m[split]["accuracy"] == memory.metrics[split]["accuracy"]
        assert m[split]["loss"] == pytest.approx(memory.metrics[split]["loss"], rel=1e-6)
    assert "SGD" in (disk.run_dir / "curves.txt").read_text()
