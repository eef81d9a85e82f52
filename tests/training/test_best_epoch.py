"""evaluation.weights: best | last: which epoch's weights are evaluated and saved as model.keras."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.errors import ConfigError
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import crash_at_epoch, make_image_folder

# SGD at 2.0 overshoots: with seed 7 the best val_loss (epoch 4) is not the last epoch's
BASE = {
    "name": "best", "seed": 7,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 32, "dropout": 0.3}]},
    "training": {"epochs": 6, "batch_size": 64, "tensorboard": False, "checkpoint": "off",
                 "optimizer": {"type": "sgd", "learning_rate": 2.0}},
    "evaluation": {"samples": 0},
}


def config(training=None, **evaluation) -> dict:
    return {**BASE, "training": {**BASE["training"], **(training or {})},
            "evaluation": {**BASE["evaluation"], **evaluation}}


def history(run: Path) -> list:
    return [{k: (v if k == "stage" else float(v)) for k, v in r.items()}
            for r in csv.DictReader((run / "history.csv").open())]


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def predictions(run: Path, x) -> np.ndarray:
    import keras

    return np.asarray(keras.saving.load_model(run / "model.keras").predict(x, verbose=0))


def split_metrics(m: dict) -> dict:
    """{'val_loss': ..., 'test_accuracy': ...}: every split's figures, flat (for pytest.approx)."""
    return {f"{split}_{k}": v for split in ("train", "val", "test") for k, v in m[split].items()}


@pytest.mark.parametrize("monitor", [None, "val_accuracy"])
def test_best_epoch_is_evaluated_and_saved_without_checkpoints(tmp_path, monitor):
    extra = {"monitor": monitor} if monitor else {}
    cfg = validate(config(weights="best", **extra))
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    rows, m = history(run), metrics(run)
    key = monitor or "val_loss"
    pick = max if key == "val_accuracy" else min
    best = pick(rows, key=lambda r: r[key])
    assert best["epoch"] < len(rows)  # the premise: the best epoch is not the last
    ev = m["evaluated"]
    assert ev["weights"] == "best" and ev["epoch"] == best["epoch"] and ev["monitor"] == key
    assert ev["stage"] == "train" and ev["value"] == pytest.approx(best[key]) and key in ev["reason"]
    assert m["val"]["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert not (run / "checkpoints").exists()  # checkpoint: off writes nothing, even with best weights kept
    # the same run stopped at that epoch: the same metrics, and model.keras predicts the same
    short = run_experiment(validate(config({"epochs": int(best["epoch"])})), out=tmp_path / "short", quiet=True).run_dir
    assert split_metrics(m) == pytest.approx(split_metrics(metrics(short)))
    from dlhw.data import load_dataset

    x = load_dataset(cfg).splits["test"].x
    np.testing.assert_allclose(predictions(run, x), predictions(short, x), rtol=1e-5, atol=1e-6)


def test_last_is_the_default_and_says_so(tmp_path):
    cfg = validate(config())
    assert cfg.evaluation.weights == "last"
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    rows, m = history(run), metrics(run)
    assert m["evaluated"]["weights"] == "last" and m["evaluated"]["epoch"] == 6
    assert m["val"]["accuracy"] == pytest.approx(rows[-1]["val_accuracy"], abs=1e-6)
    # still reported, not evaluated: the epoch history.csv holds as best by the monitor's rule (val_loss, lowest)
    assert m["best_epoch"] is not None and 1 <= m["best_epoch"] <= 6
    assert rows[m["best_epoch"] - 1]["val_loss"] == min(r["val_loss"] for r in rows)


@pytest.mark.parametrize("weights", ["last", "best"])
def test_early_stopping_restored_the_best_epoch(tmp_path, weights):
    cfg = validate(config({"epochs": 10, "early_stopping": {"monitor": "val_loss", "patience": 1}}, weights=weights))
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    rows, m = history(run), metrics(run)
    best = min(rows, key=lambda r: r["val_loss"])
    assert len(rows) < 10 and best["epoch"] < len(rows)
    assert m["evaluated"]["epoch"] == best["epoch"] == m["best_epoch"]
    word = "early stopping" if weights == "last" else "evaluation.weights: best"
    assert word in m["evaluated"]["reason"]
    assert m["val"]["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)


STAGED = {"batch_size": 64, "stages": [
    {"name": "good", "epochs": 3, "optimizer": {"type": "adam", "learning_rate": 0.01}},
    {"name": "bad", "epochs": 3, "optimizer": {"type": "sgd", "learning_rate": 3.0}}]}


def test_best_epoch_over_stages(tmp_path):
    """The best epoch is in the first stage; the second (a learning rate far too high) is worse."""
    run = run_experiment(validate(config(STAGED, weights="best")), out=tmp_path, quiet=True).run_dir
    rows, m = history(run), metrics(run)
    best = min(rows, key=lambda r: r["val_loss"])
    assert best["stage"] == "good" and all(r["val_loss"] > best["val_loss"] for r in rows if r["stage"] == "bad")
    assert (m["evaluated"]["epoch"], m["evaluated"]["stage"]) == (best["epoch"], "good")
    good_only = {**STAGED, "stages": STAGED["stages"][:1]}  # (its best epoch is its last, epoch 3)
    short = run_experiment(validate(config(good_only)), out=tmp_path / "short", quiet=True).run_dir
    assert best["epoch"] == 3 and split_metrics(m) == pytest.approx(split_metrics(metrics(short)))


@pytest.mark.slow  # issue 28: 27 s
def test_resume_keeps_the_best_weights_from_the_checkpoint(tmp_path, monkeypatch):
    """Killed during the second stage, after the first stage's best epoch: the resumed process
    only knows that epoch's weights from the checkpoint, and ends as the uninterrupted run."""
    from dlhw.rundir.status import read_status
    from tests.training.test_checkpoint_policy import results

    raw = config({**STAGED, "checkpoint": "every_epoch"}, weights="best")
    full = run_experiment(validate(raw), out=tmp_path / "full", quiet=True).run_dir
    crash_at_epoch(monkeypatch, 5)
    with pytest.raises(RuntimeError):
        run_experiment(validate(raw), out=tmp_path / "cut", quiet=True)
    monkeypatch.undo()
    run = tmp_path / "cut" / "best"
    assert read_status(run)["status"] == "failed"
    run_experiment(validate(raw), resume=run, quiet=True)
    assert metrics(run)["evaluated"]["stage"] == "good"
    assert results(run) == results(full)
    assert not (full / "checkpoints" / "best.weights.h5").exists()  # model.keras holds the best weights (no copy)


def test_cached_head_then_fine_tuning_restores_the_backbone_too(tmp_path):
    """A head trained on cached features, then fine-tuning that ruins the model: the best epoch
    is the head's, so the backbone layers fine-tuning changed must be put back as they were."""
    folder = make_image_folder(tmp_path / "images", classes=("a", "b", "c"), per_class=10, size=32)
    raw = {"name": "bb", "seed": 4,
           "dataset": {"source": "image_folder", "path": str(folder), "image_size": [32, 32]},
           "model": {"type": "backbone", "backbone": {"name": "vgg16", "weights": None, "pooling": "avg"},
                     "head": [{"type": "dense", "units": 8, "activation": "relu"}]},
           "training": {"batch_size": 8, "tensorboard": False, "checkpoint": "off", "stages": [
               {"name": "head", "epochs": 3, "optimizer": {"type": "adam", "learning_rate": 0.01}},
               {"name": "finetune", "epochs": 2, "unfreeze": {"last_layers": 6},
                "optimizer": {"type": "sgd", "learning_rate": 1.0}}]},
           "evaluation": {"weights": "best", "samples": 0}}
    cfg = validate(raw)
    run = run_experiment(cfg, out=tmp_path / "runs", quiet=True, cache_dir=tmp_path / "cache").run_dir
    rows, m = history(run), metrics(run)
    assert m["feature_cache"]["used"]
    best = min(rows, key=lambda r: r["val_loss"])
    assert best["stage"] == "head" and m["evaluated"]["epoch"] == best["epoch"]
    assert m["val"]["loss"] == pytest.approx(best["val_loss"], rel=1e-4)
    assert m["val"]["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    # the saved backbone is the untouched one (frozen during the head stage), as built from the seed
    import keras

    from dlhw.data import load_dataset
    from dlhw.models import build_model
    from dlhw.models.backbones import find_backbone
    from dlhw.runtime.tfruntime import setup_runtime

    setup_runtime("cpu", cfg.seed)
    fresh, _ = build_model(cfg, load_dataset(cfg))
    saved = keras.saving.load_model(run / "model.keras")
    for a, b in zip(find_backbone(fresh).weights, find_backbone(saved).weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("value, words", [({"weights": "first"}, "weights"), ({"monitor": "val_acc"}, "val_accuracy")])
def test_bad_evaluation_values_are_refused(value, words):
    with pytest.raises(ConfigError) as info:
        validate(config(**value))
    assert words in str(info.value) and "\n" not in str(info.value)
