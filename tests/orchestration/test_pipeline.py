"""End to end through the Python API: real tiny trainings, real run folders."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dlhw.config import load_config, validate
from dlhw.errors import DataError, DivergedError
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import tiny_overrides

RUN_FILES = {"config.yaml", "status.json", "metrics.json", "history.csv", "curves.png", "confusion_matrix.png",
             "confusion_matrix.csv", "roc.png", "summary.txt", "model.keras", "env.json"}


def test_quickstart_run_folder_is_complete(tmp_path, quickstart):
    cfg = load_config(quickstart, ["training.epochs=3"])
    outcome = run_experiment(cfg, out=tmp_path, quiet=True)
    run = outcome.run_dir
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert (run / "tb").is_dir() and any((run / "tb").rglob("*tfevents*"))
    m = json.loads((run / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        assert {"loss", "accuracy", "precision_macro", "recall_macro", "f1_macro", "auc"} <= set(m[split])
    assert m["test"]["accuracy"] > 0.85
    assert m["params"] == {"total": 153354, "trainable": 153354, "non_trainable": 0}
    assert m["epochs_run"] == 3 and 1 <= m["best_epoch"] <= 3
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert {"stage", "loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(rows[0])
    cm = np.loadtxt(run / "confusion_matrix.csv", delimiter=",", skiprows=1, usecols=range(1, 11))
    assert cm.sum() == m["test"]["samples"] and (run / "confusion_matrix.csv").read_text().startswith("true\\pred,pred:0")
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed"
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 0 and env["dataset_fingerprint"] and env["versions"]["keras"].startswith("3")
    assert "Total params: 153,354" in (run / "summary.txt").read_text()


def test_second_run_gets_a_suffix_not_an_overwrite(tmp_path, quickstart):
    cfg = load_config(quickstart, ["training.epochs=1"] + tiny_overrides(1))
    a = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    b = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    assert a.name == "quickstart" and b.name == "quickstart-2"
    c = run_experiment(cfg, out=tmp_path, quiet=True, overwrite=True).run_dir
    assert c == a


def test_csv_binary_run(tmp_path, csv_file):
    import pandas as pd

    df = pd.read_csv(csv_file)
    df["label"] = np.where(df["label"] == 2, "high", "low")
    df.to_csv(tmp_path / "two.csv", index=False)
    cfg = validate({"name": "csv", "dataset": {"source": "csv", "path": str(tmp_path / "two.csv"), "target": "label"},
                    "model": {"type": "mlp", "layers": [{"units": 8}]}, "training": {"epochs": 2, "tensorboard": False}})
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert out.metrics["output"]["units"] == 1 and out.metrics["class_names"] == ["high", "low"]
    assert 0 <= out.metrics["test"]["auc"] <= 1


def test_cnn_on_image_folder(tmp_path, image_folder):
    cfg = validate({
        "name": "cnn", "dataset": {"source": "image_folder", "path": str(image_folder), "image_size": [16, 16]},
        "model": {"type": "cnn", "api": "sequential", "rescale": 1 / 255,
                  "blocks": [{"type": "conv", "filters": 4, "batch_norm": True, "pool": 2}],
                  "dense": [{"units": 8}], "output": {"units": 1, "activation": "sigmoid"}},
        "training": {"epochs": 2, "batch_size": 4, "tensorboard": False},
    })
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert out.metrics["test"]["samples"] + out.metrics["val"]["samples"] + out.metrics["train"]["samples"] == 24
    assert "cat" in (out.run_dir / "confusion_matrix.csv").read_text()


def test_regression_run(tmp_path, csv_file):
    cfg = validate({"name": "reg", "task": "regression",
                    "dataset": {"source": "csv", "path": str(csv_file), "target": "b", "features": ["a", "color"]},
                    "model": {"type": "mlp", "layers": [{"units": 8}]}, "training": {"epochs": 2, "tensorboard": False}})
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert {"mse", "mae", "rmse", "r2"} <= set(out.metrics["test"])
    assert (out.run_dir / "predicted_vs_true.png").exists()


def test_nan_loss_marks_run_diverged_without_results(tmp_path, quickstart):
    cfg = load_config(quickstart, ["training.optimizer.type=sgd", "training.optimizer.learning_rate=1e12",
                                   "training.epochs=3", "training.tensorboard=false"])
    with pytest.raises(DivergedError, match="NaN/inf"):
        run_experiment(cfg, out=tmp_path, quiet=True)
    run = tmp_path / "quickstart"
    assert json.loads((run / "status.json").read_text())["status"] == "diverged"
    assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()
    assert (run / "history.csv").exists() and (run / "curves.png").exists()


def test_bad_data_leaves_no_run_folder(tmp_path):
    cfg = validate({"dataset": {"source": "image_folder", "path": str(tmp_path / "missing")}})
    with pytest.raises(DataError):
        run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()
