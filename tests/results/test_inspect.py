"""dlhw inspect --activations: zero fractions per ReLU-like layer, nested models, several runs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import validate
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import make_image_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inspect")
    images = make_image_folder(tmp / "images", per_class=10)
    base = {"dataset": {"source": "image_folder", "path": str(images), "image_size": [16, 16]},
            "training": {"epochs": 1, "batch_size": 8, "tensorboard": False, "checkpoint": False},
            "evaluation": {"samples": 0}}
    cnn = validate({**base, "name": "cnn", "model": {
        "type": "cnn", "rescale": 1 / 255,
        "blocks": [{"type": "conv", "filters": 4, "batch_norm": True, "pool": 2},
                   {"type": "inception", "b1": 2, "b3_reduce": 2, "b3": 2, "b5_reduce": 2, "b5": 2, "pool_proj": 2}],
        "dense": [{"units": 8}]}})
    mlp = validate({**base, "name": "mlp", "model": {"type": "mlp", "layers": [{"units": 6}, {"units": 5, "activation": "tanh"}]}})
    return [run_experiment(c, out=tmp / "runs", quiet=True).run_dir for c in (cnn, mlp)]


def test_one_run_writes_csv_and_chart_into_the_run(runs):
    r = runner.invoke(app, ["inspect", str(runs[0]), "--activations", "--samples", "4"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((runs[0] / "activations.csv").open()))
    assert [x["layer"] for x in rows] == ["conv_1_relu", "inception_2", "dense_1"]
    assert rows[1]["kind"].startswith("InceptionBlock")
    assert all(x["samples"] == "4" and 0.0 <= float(x["zero_fraction"]) <= 1.0 for x in rows)
    assert rows[0]["units"] == str(16 * 16 * 4) and rows[1]["units"] == str(8 * 8 * 8)
    assert (runs[0] / "activations.png").stat().st_size > 5000


def test_several_runs_share_one_chart(runs, tmp_path):
    r = runner.invoke(app, ["inspect", *map(str, runs), "--activations", "-n", "3", "--out", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "cmp" / "activations.csv").open()))
    assert {x["run"] for x in rows} == {"cnn", "mlp"}
    assert [x["layer"] for x in rows if x["run"] == "mlp"] == ["dense_1"]  # the tanh layer is not ReLU-like
    assert (tmp_path / "cmp" / "activations.png").exists()


def test_zero_fraction_matches_a_hand_count_and_nested_models_are_searched():
    import keras

    from dlhw.results.inspection import Probe

    inner_in = keras.Input((4,))
    h = keras.layers.Dense(5, activation="relu", name="inner_dense")(inner_in)
    h = keras.layers.Activation("relu6", name="inner_act")(h)
    inner = keras.Model(inner_in, keras.layers.LeakyReLU(name="leaky")(h), name="backbone")
    x_in = keras.Input((3,))
    a = keras.layers.Dense(4, activation="relu", name="outer_dense")(x_in)
    out = keras.layers.Dense(2, name="head")(keras.layers.ReLU(name="relu_layer")(inner(a)))
    model = keras.Model(x_in, out)
    probe = Probe(model)
    assert [n for n, _ in probe.names()] == ["outer_dense", "relu_layer", "backbone/inner_dense", "backbone/inner_act"]
    x = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    outs = probe.run(x)
    first = np.maximum(x @ model.get_layer("outer_dense").get_weights()[0]
                       + model.get_layer("outer_dense").get_weights()[1], 0)
    np.testing.assert_allclose(outs[0], first, rtol=1e-5, atol=1e-6)
    assert [o.shape for o in outs] == [(7, 4), (7, 5), (7, 5), (7, 5)]


def test_inspect_needs_a_mode_and_a_completed_run(tmp_path, runs):
    r = runner.invoke(app, ["inspect", str(runs[0])])
    assert r.exit_code == 2 and "--activations" in r.output
    r = runner.invoke(app, ["inspect", str(tmp_path), "--activations"])
    assert r.exit_code == 2 and "no model.keras" in r.output


def test_activations_on_one_chosen_input(runs, tmp_path):
    """--input FILE: the zero fractions of that one image (S2's chart was on one image)."""
    import keras

    from dlhw.data.preprocessing import image_inputs
    from dlhw.results.predict import load_preprocessing

    image = sorted((runs[0].parent.parent / "images" / "dog").glob("*.png"))[0]
    r = runner.invoke(app, ["inspect", str(runs[0]), "--activations", "--input", str(image), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "activations.csv").open()))
    assert all(x["samples"] == "1" for x in rows)
    model = keras.saving.load_model(runs[0] / "model.keras", safe_mode=True)
    x = np.concatenate([np.asarray(b) for b in image_inputs([str(image)], load_preprocessing(runs[0]))])
    dense = keras.Model(model.inputs, model.get_layer("dense_1").output)(x, training=False)
    want = float(np.mean(np.asarray(dense) == 0))
    assert float(next(x for x in rows if x["layer"] == "dense_1")["zero_fraction"]) == pytest.approx(want, abs=1e-6)
    r = runner.invoke(app, ["inspect", str(runs[0]), "--activations", "--input", str(tmp_path / "nope.png")])
    assert r.exit_code == 2 and "nope.png: input not found" in r.output


def test_inception_with_batchnorm_last_is_not_counted_as_relu():
    from dlhw.models.layers import InceptionBlock
    from dlhw.results.inspection import relu_kind

    assert relu_kind(InceptionBlock(2, 2, 2, 2, 2, 2)).startswith("InceptionBlock")
    assert relu_kind(InceptionBlock(2, 2, 2, 2, 2, 2, order="conv_act_bn")) is None
