"""Optimizers, schedules, early stopping, stages and tasks, trained for real on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.config.names import OPTIMIZERS as OPTIMIZER_NAMES
from dlhw.orchestration.experiment import run_experiment
from dlhw.training.optimizers import OPTIMIZERS, build_optimizer
from tests.conftest import read_history as history

IRIS = {"dataset": {"source": "sklearn", "name": "iris"}, "model": {"type": "mlp", "layers": [{"units": 8}]}}


def test_optimizer_registry_matches_config_names():
    assert OPTIMIZERS.names() == sorted(OPTIMIZER_NAMES)


@pytest.mark.parametrize("name", sorted(OPTIMIZER_NAMES))
def test_every_optimizer_builds_with_its_options(name):
    cfg = validate({**IRIS, "training": {"optimizer": {"type": name, "learning_rate": 0.01, "momentum": 0.5 if name in ("sgd", "rmsprop") else 0.0,
                                                       "nesterov": name == "sgd", "clipnorm": 1.0}}})
    opt = build_optimizer(cfg.training.optimizer)
    assert type(opt).__name__.lower() == name
    assert abs(float(opt.learning_rate) - 0.01) < 1e-9
    if name == "adamw":
        assert opt.weight_decay == pytest.approx(0.004)


def test_cosine_schedule_lowers_the_logged_learning_rate(tmp_path):
    cfg = validate({**IRIS, "training": {"epochs": 3, "tensorboard": False, "optimizer": {
        "type": "sgd", "learning_rate": 0.1, "schedule": {"type": "cosine", "decay_steps": 12}}}})
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    lrs = [float(r["lr"]) for r in history(run)]
    assert lrs[0] < 0.1 and lrs == sorted(lrs, reverse=True) and lrs[-1] < lrs[0]


def test_reduce_on_plateau_and_early_stopping(tmp_path):
    cfg = validate({**IRIS, "training": {
        "epochs": 40, "tensorboard": False,
        "optimizer": {"type": "sgd", "learning_rate": 1e-9, "schedule": {"type": "reduce_on_plateau", "patience": 0, "factor": 0.5}},
        "early_stopping": {"monitor": "val_loss", "patience": 2, "min_delta": 1.0}}})
    out = run_experiment(cfg, out=tmp_path, quiet=True)
    rows = history(out.run_dir)
    assert len(rows) == 3 and out.metrics["epochs_run"] == 3 and out.metrics["stopped_early"] == ["train"]
    # history logs the rate each epoch trained with: the cut after epoch 2 shows in epoch 3
    assert float(rows[2]["lr"]) < float(rows[1]["lr"]) == float(rows[0]["lr"])


def test_stages_number_epochs_continuously_and_carry_weights(tmp_path):
    cfg = validate({**IRIS, "training": {"tensorboard": False, "stages": [
        {"name": "warmup", "epochs": 2, "optimizer": {"type": "adam", "learning_rate": 0.01}},
        {"name": "slow", "epochs": 2, "optimizer": {"type": "sgd", "learning_rate": 0.001}}]}})
    out = run_experiment(cfg, out=tmp_path, quiet=True)
    rows = history(out.run_dir)
    assert [(r["stage"], r["epoch"]) for r in rows] == [("warmup", "1"), ("warmup", "2"), ("slow", "3"), ("slow", "4")]
    assert float(rows[2]["lr"]) == pytest.approx(0.001)
    # weights carried: the second stage starts where the first ended, not from scratch
    assert float(rows[2]["loss"]) < float(rows[0]["loss"])
    assert [s["stage"] for s in out.metrics["params_per_stage"]] == ["warmup", "slow"]


def test_multilabel_from_csv(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "pos_a": (x[:, 0] > 0).astype(int), "pos_b": (x[:, 1] > 0).astype(int)})
    df.to_csv(tmp_path / "ml.csv", index=False)
    cfg = validate({"task": "multilabel", "dataset": {"source": "csv", "path": str(tmp_path / "ml.csv"), "target": ["pos_a", "pos_b"]},
                    "model": {"type": "mlp", "layers": [{"units": 8}]}, "training": {"epochs": 2, "tensorboard": False}})
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    m = json.loads((out.run_dir / "metrics.json").read_text())
    assert m["output"]["units"] == 2 and m["output"]["activation"] == "sigmoid"
    assert 0 <= m["test"]["subset_accuracy"] <= m["test"]["accuracy"] <= 1
