"""S4 regression heads: sigmoid outputs in 0..1, masked Euclidean loss over missing (NaN) landmarks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.errors import ConfigError
from dlhw.orchestration.experiment import run_experiment

TARGETS = ["p1_x", "p1_y", "p2_x", "p2_y"]


def landmark_csv(path, n=120, seed=0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    f = rng.uniform(size=(n, 4))
    df = pd.DataFrame(f, columns=["a", "b", "c", "d"])
    df["p1_x"], df["p1_y"] = 0.2 + 0.6 * f[:, 0], 0.1 + 0.5 * f[:, 1]
    df["p2_x"], df["p2_y"] = 0.8 - 0.5 * f[:, 2], 0.3 + 0.4 * f[:, 3]
    gone = rng.random(n) < 0.2
    df.loc[gone, ["p2_x", "p2_y"]] = np.nan
    df.to_csv(path, index=False)
    return path


def config(path, **training):
    return validate({"name": "lm", "task": "regression",
                     "dataset": {"source": "csv", "path": str(path), "target": TARGETS},
                     "model": {"type": "mlp", "layers": [{"units": 16}], "output": {"activation": "sigmoid"}},
                     "training": {"epochs": 3, "tensorboard": False, "checkpoint": False, **training}})


def test_masked_euclidean_trains_on_missing_landmarks(tmp_path):
    path = landmark_csv(tmp_path / "lm.csv")
    out = run_experiment(config(path, loss="masked_euclidean"), out=tmp_path / "runs", quiet=True)
    m = out.metrics
    for split in ("train", "val", "test"):
        assert math.isfinite(m[split]["loss"]) and math.isfinite(m[split]["mae"]) and m[split]["mae"] < 1
    import csv

    rows = list(csv.DictReader((out.run_dir / "history.csv").open()))
    assert all(math.isfinite(float(r["mae"])) for r in rows)  # the masked MAE metric, not NaN
    assert (out.run_dir / "predicted_vs_true.png").exists()
    pre = json.loads((out.run_dir / "preprocessing.json").read_text())
    assert pre["targets"] == TARGETS and pre["output"]["activation"] == "sigmoid"


def test_plain_losses_refuse_missing_targets_and_odd_pairs(tmp_path):
    from dlhw.data import load_dataset
    from dlhw.models.outputs import resolve_output

    path = landmark_csv(tmp_path / "lm.csv")
    cfg = config(path, loss="mse")
    with pytest.raises(ConfigError, match="missing \\(NaN\\) value"):
        resolve_output(cfg, load_dataset(cfg))
    odd = validate({"task": "regression", "dataset": {"source": "csv", "path": str(path), "target": ["p1_x", "p1_y", "a"],
                                 "features": ["b", "c", "d"]},
                    "training": {"loss": "masked_euclidean"}})
    with pytest.raises(ConfigError, match="even number of targets"):
        resolve_output(odd, load_dataset(odd))


def test_masked_loss_ignores_nan_points_exactly():
    from dlhw.models.layers import MaskedEuclideanLoss, masked_mae

    y_true = np.array([[0.0, 0.0, np.nan, np.nan], [0.0, 0.0, 3.0, 4.0]], dtype="float32")
    y_pred = np.array([[3.0, 4.0, 9.0, 9.0], [0.0, 0.0, 0.0, 0.0]], dtype="float32")
    loss = np.asarray(MaskedEuclideanLoss().call(y_true, y_pred))
    np.testing.assert_allclose(loss, [5.0, 2.5], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(masked_mae(y_true, y_pred)), [3.5, 1.75], rtol=1e-5)
