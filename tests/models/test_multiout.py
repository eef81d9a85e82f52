"""S4 landmarks: images listed in a CSV (source image_csv) and models with several named outputs
(model.outputs), masked losses over missing keypoints, per-output metrics, curves and predictions."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import validate
from dlhw.errors import ConfigError, DataError
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import REPO, without_timings

runner = CliRunner()


def _generator():
    spec = importlib.util.spec_from_file_location("make_landmark_images", REPO / "data" / "make_landmark_images.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()
COORDS, PRESENT = GEN.coordinate_columns(), GEN.present_columns()


@pytest.fixture(scope="module")
def landmarks(tmp_path_factory) -> Path:
    """24 drawn faces at 32 px, some keypoints occluded (empty cells)."""
    path = GEN.make(tmp_path_factory.mktemp("lm") / "landmarks.csv", count=24, size=32, seed=1, missing=0.15)
    import pandas as pd

    assert pd.read_csv(path)[COORDS].isna().any().any()  # the test data really has missing cells
    return path


def raw_config(path: Path, **model) -> dict:
    return {
        "name": "lm", "seed": 3, "task": "regression",
        "dataset": {"source": "image_csv", "path": str(path), "image_size": [32, 32],
                    "split": {"train": 0.5, "val": 0.25, "test": 0.25}},
        "model": {"type": "cnn", "rescale": 1 / 255, "global_pool": "avg", "dense": [{"units": 8}],
                  "blocks": [{"type": "conv", "filters": 4, "pool": 2}],
                  "outputs": {"coords": {"targets": COORDS, "activation": "sigmoid", "loss": "masked_mse"},
                              "present": {"targets": PRESENT, "activation": "sigmoid",
                                          "loss": "binary_crossentropy", "loss_weight": 0.5}}, **model},
        "training": {"epochs": 2, "batch_size": 8, "tensorboard": False},
        "evaluation": {"samples": 4},
    }


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def run(landmarks, tmp_path_factory):
    """One run through the CLI, whose table shows each output's loss and metric."""
    root = tmp_path_factory.mktemp("runs")
    config = root / "lm.yaml"
    config.write_text(yaml.safe_dump(raw_config(landmarks)))
    r = runner.invoke(app, ["run", str(config), "--out", str(root / "out")])
    assert r.exit_code == 0, r.output
    for column in ("coords loss", "coords mae", "present loss", "present accuracy"):
        assert column in r.output, column
    return SimpleNamespace(run_dir=root / "out" / "lm")


def test_metrics_per_output_in_every_split(run):
    m = json.loads((run.run_dir / "metrics.json").read_text())
    assert m["output"]["loss"] == "multi" and [h["name"] for h in m["output"]["heads"]] == ["coords", "present"]
    for split in ("train", "val", "test"):
        outs = m[split]["outputs"]
        assert set(outs) == {"coords", "present"}
        assert math.isfinite(m[split]["loss"]) and math.isfinite(outs["coords"]["loss"])
        assert set(outs["coords"]) >= {"mse", "mae", "rmse", "r2", "missing_targets"}
        assert 0 <= outs["present"]["accuracy"] <= 1 and outs["present"]["loss_weight"] == 0.5
        # the total loss is the weighted sum of the outputs' losses
        total = outs["coords"]["loss"] + 0.5 * outs["present"]["loss"]
        assert m[split]["loss"] == pytest.approx(total, rel=1e-4)
    assert sum(m[s]["outputs"]["coords"]["missing_targets"] for s in ("train", "val", "test")) > 0


def test_history_and_curves_per_output(run):
    rows = list(csv.DictReader((run.run_dir / "history.csv").open()))
    assert len(rows) == 2
    for key in ("loss", "coords_loss", "coords_mae", "present_loss", "present_accuracy",
                "val_coords_loss", "val_present_accuracy"):
        assert all(math.isfinite(float(r[key])) for r in rows), key  # NaN targets never reach a loss
    for name in ("curves.png", "curves_outputs.png", "predicted_vs_true.png", "samples.png", "model.keras"):
        assert (run.run_dir / name).stat().st_size > 0, name


def test_predict_prints_each_output_by_name(run, landmarks):
    image = landmarks.parent / "images" / "face_0000.png"
    r = runner.invoke(app, ["predict", str(run.run_dir), str(image), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)[0]["outputs"]
    assert list(got) == ["coords", "present"]
    assert list(got["coords"]) == COORDS and list(got["present"]) == PRESENT
    assert all(0 <= v <= 1 for v in got["present"].values())  # sigmoid outputs
    table = runner.invoke(app, ["predict", str(run.run_dir), str(image)])
    assert table.exit_code == 0 and "coords" in table.output and "present" in table.output
    assert "left_eye_present=" in table.output


def test_sequential_and_functional_cnn_build_the_same_heads(landmarks):
    from dlhw.data import load_dataset
    from dlhw.models import build_model
    from dlhw.training.trainer import count_params

    cfgs = [validate(raw_config(landmarks, api=api)) for api in ("sequential", "functional")]
    data = load_dataset(cfgs[0])
    (seq, spec), (fun, _) = (build_model(c, data) for c in cfgs)
    assert count_params(seq) == count_params(fun)
    head = seq.get_layer("output")
    assert [d.name for d in head.dense] == ["coords", "present"] and spec.units == len(COORDS) + len(PRESENT)
    assert tuple(fun.output.shape) == (None, 15)
    x = np.zeros((2, 32, 32, 3), "float32")
    np.testing.assert_allclose(np.asarray(seq(x)).shape, (2, 15))


def test_tabular_mlp_with_outputs_and_single_masked_mse(tmp_path):
    """Any model feeds the outputs: an MLP on a CSV table; masked_mse also trains a single output."""
    import pandas as pd

    rng = np.random.default_rng(0)
    f = rng.uniform(size=(80, 3))
    df = pd.DataFrame(f, columns=["a", "b", "c"])
    df["x"], df["y"], df["on"] = f[:, 0] * 2, f[:, 1] - f[:, 2], (f[:, 2] > 0.5).astype(int)
    df.loc[rng.random(80) < 0.2, "y"] = np.nan
    df.to_csv(tmp_path / "t.csv", index=False)
    base = {"task": "regression", "dataset": {"source": "csv", "path": str(tmp_path / "t.csv"),
                                              "features": ["a", "b", "c"]},
            "training": {"epochs": 2, "tensorboard": False, "checkpoint": False}, "evaluation": {"samples": 0}}
    multi = validate({**base, "model": {"type": "mlp", "layers": [{"units": 8}], "outputs": {
        "xy": {"targets": ["x", "y"], "loss": "masked_mse"},
        "on": {"targets": ["on"], "activation": "sigmoid", "loss": "binary_crossentropy"}}}})
    assert multi.dataset.target == ["x", "y", "on"]  # derived from the outputs when not given
    m = run_experiment(multi, out=tmp_path / "runs", quiet=True).metrics
    assert set(m["test"]["outputs"]) == {"xy", "on"} and math.isfinite(m["test"]["loss"])
    single = validate({**base, "dataset": {**base["dataset"], "target": ["x", "y"]},
                       "training": {**base["training"], "loss": "masked_mse"}})
    m = run_experiment(single, out=tmp_path / "runs", quiet=True).metrics
    assert math.isfinite(m["test"]["loss"]) and math.isfinite(m["test"]["mae"])


# --------------------------------------------------------- the losses, by value
def test_masked_losses_ignore_missing_cells_exactly():
    import tensorflow as tf

    from dlhw.models.layers import MaskedMSELoss
    from dlhw.models.multi_output import HeadMetric, MultiOutputLoss, masked_mse_values

    nan = np.nan
    y_true = np.array([[0.0, nan, 1.0], [1.0, 2.0, 0.0]], dtype="float32")
    y_pred = np.array([[1.0, 100.0, 0.8], [1.0, 0.0, 0.1]], dtype="float32")
    # row 1: only the first cell is present -> 1; row 2: (0 + 4) / 2 = 2
    np.testing.assert_allclose(np.asarray(masked_mse_values(y_true[:, :2], y_pred[:, :2])), [1.0, 2.0], rtol=1e-6)
    other = y_pred.copy()
    other[0, 1] = -7.0  # what the model says where the target is missing does not matter
    np.testing.assert_allclose(np.asarray(masked_mse_values(y_true[:, :2], other[:, :2])), [1.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(float(MaskedMSELoss()(y_true[:, :2], y_pred[:, :2])), 1.5, rtol=1e-6)

    heads = [{"name": "xy", "targets": ["x", "y"], "columns": [0, 1], "start": 0, "units": 2, "loss": "masked_mse",
              "loss_weight": 2.0, "from_logits": False},
             {"name": "on", "targets": ["on"], "columns": [2], "start": 2, "units": 1,
              "loss": "binary_crossentropy", "loss_weight": 0.5, "from_logits": False}]
    bce = -np.array([np.log(0.8), np.log(0.9)])  # targets 1 and 0, predictions 0.8 and 0.1
    expected = 2.0 * np.array([1.0, 2.0]) + 0.5 * bce
    np.testing.assert_allclose(np.asarray(MultiOutputLoss(heads).call(y_true, y_pred)), expected, rtol=1e-4)
    pred = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        loss = MultiOutputLoss(heads)(y_true, pred)
    grad = tape.gradient(loss, pred).numpy()
    assert np.isfinite(float(loss)) and np.isfinite(grad).all() and grad[0, 1] == 0.0  # no pull toward a NaN
    acc = HeadMetric(heads[1], "accuracy")
    acc.update_state(y_true, y_pred)
    assert float(acc.result()) == 1.0


# ------------------------------------------------------------------ bad input
def test_output_without_a_loss_or_with_a_negative_weight_is_one_line(landmarks):
    raw = raw_config(landmarks)
    del raw["model"]["outputs"]["coords"]["loss"]
    with pytest.raises(ConfigError, match=r"^config: model\.outputs\.coords\.loss: required key is missing$"):
        validate(raw)
    raw = raw_config(landmarks)
    raw["model"]["outputs"]["present"]["loss_weight"] = -1
    with pytest.raises(ConfigError, match=r"model\.outputs\.present\.loss_weight: .*greater than or equal to 0"):
        validate(raw)
    raw = raw_config(landmarks)
    raw["dataset"]["target"] = COORDS + PRESENT
    raw["model"]["outputs"]["present"]["targets"] = ["left_eye_present"]
    with pytest.raises(ConfigError, match=r"^config: dataset\.target: column 'right_eye_present' is predicted by no"):
        validate(raw)
    raw = raw_config(landmarks)
    raw["training"]["loss"] = "mse"
    with pytest.raises(ConfigError, match=r"^config: training\.loss: with model\.outputs each output has its own"):
        validate(raw)


def test_a_plain_loss_on_missing_targets_names_the_output(landmarks):
    from dlhw.data import load_dataset
    from dlhw.models.outputs import resolve_output

    raw = raw_config(landmarks)
    raw["model"]["outputs"]["coords"]["loss"] = "mse"
    cfg = validate(raw)
    with pytest.raises(ConfigError, match=r"model\.outputs\.coords\.loss: its targets hold \d+ missing \(NaN\)"):
        resolve_output(cfg, load_dataset(cfg))


def test_image_column_that_does_not_exist(landmarks):
    from dlhw.data import load_dataset

    raw = raw_config(landmarks)
    raw["dataset"]["image_column"] = "img"
    with pytest.raises(ConfigError, match=r"dataset\.image_column: column 'img' is not in .*landmarks\.csv"):
        load_dataset(validate(raw))


def test_missing_image_names_the_row_and_the_cli_exits_2(landmarks, tmp_path):
    import pandas as pd

    df = pd.read_csv(landmarks)
    df.loc[4, "image"] = "images/nowhere.png"
    broken = landmarks.parent / "broken.csv"
    df.to_csv(broken, index=False)
    from dlhw.data import load_dataset

    with pytest.raises(DataError, match=r"broken\.csv: row 5 \(line 6\), column 'image': image 'images/nowhere"):
        load_dataset(validate(raw_config(broken)))
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump(raw_config(broken)))
    r = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "row 5 (line 6)" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# ---------------------------------------------------------------------- resume
@pytest.mark.slow  # issue 28: 44 s; resume stays in test_resume
def test_interrupted_run_resumes_equal(landmarks, tmp_path, monkeypatch):
    from dlhw.rundir.status import RunStatus
    from dlhw.runtime import signals

    raw = raw_config(landmarks)
    raw["training"]["epochs"] = 3
    raw["model"]["dense"] = [{"units": 8, "dropout": 0.3}]
    full = run_experiment(validate(raw), out=tmp_path / "full", quiet=True, cache_dir=tmp_path / "c").run_dir
    beat = RunStatus.heartbeat

    def heartbeat(self, **extra):
        beat(self, **extra)
        if extra.get("epoch") == 1:
            signals.STATE.requested = signal.SIGTERM

    monkeypatch.setattr(RunStatus, "heartbeat", heartbeat)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(validate(raw), out=tmp_path / "cut", quiet=True, cache_dir=tmp_path / "c")
    monkeypatch.setattr(RunStatus, "heartbeat", beat)
    cut = tmp_path / "cut" / "lm"
    run_experiment(validate(raw), resume=cut, quiet=True, cache_dir=tmp_path / "c")

    def metrics(run):
        return without_timings(json.loads((run / "metrics.json").read_text()))

    assert metrics(cut) == metrics(full)
    assert (cut / "history.csv").read_text() == (full / "history.csv").read_text()


@pytest.mark.slow
def test_frozen_backbone_feeds_the_outputs_through_the_feature_cache(landmarks, tmp_path):
    raw = raw_config(landmarks, type="backbone")
    raw["model"] = {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "avg"},
                    "head": [{"type": "dense", "units": 8, "activation": "relu"}],
                    "outputs": raw["model"]["outputs"]}
    out = run_experiment(validate(raw), out=tmp_path / "runs", quiet=True, cache_dir=tmp_path / "c")
    assert out.status == "completed" and set(out.metrics["test"]["outputs"]) == {"coords", "present"}
    assert out.metrics["feature_cache"]["used"]
