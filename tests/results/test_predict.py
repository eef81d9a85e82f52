"""dlhw predict: real runs asked about CSV rows and image files, and bad inputs refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import load_config, validate
from dlhw.errors import DataError
from dlhw.orchestration.experiment import run_experiment
from dlhw.results.predict import predict_run
from tests.conftest import make_image_folder, tiny_overrides

runner = CliRunner()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, ):
    from tests.conftest import REPO

    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(REPO / "configs" / "quickstart.yaml", tiny_overrides(4) + ["training.checkpoint=false"])
    return run_experiment(cfg, out=out, quiet=True).run_dir


def digits_csv(path, n=40, with_target=True, header=True):
    import pandas as pd
    from sklearn.datasets import load_digits

    d = load_digits()
    df = pd.DataFrame(d.data[:n], columns=d.feature_names)
    if with_target:
        df["target"] = d.target[:n]
    df.to_csv(path, index=False, header=header)
    return path, d.target[:n]


def test_digits_csv_rows_get_class_names_and_probabilities(digits_run, tmp_path):
    path, truth = digits_csv(tmp_path / "digits.csv")
    assert (digits_run / "preprocessing.json").exists()
    preds = predict_run(digits_run, [str(path)], top_k=3)
    assert len(preds) == 40 and preds[0].input == "digits.csv:1"
    for p in preds:
        assert len(p.top) == 3
        probs = [t["probability"] for t in p.top]
        assert probs == sorted(probs, reverse=True) and 0 <= probs[-1] <= probs[0] <= 1
        assert all(t["class"] in [str(i) for i in range(10)] for t in p.top)
    accuracy = np.mean([p.top[0]["class"] == str(t) for p, t in zip(preds, truth)])
    assert accuracy > 0.8  # same preprocessing as training: the model's accuracy carries over


def test_digits_csv_without_header_or_target_gives_the_same_answers(digits_run, tmp_path):
    a, _ = digits_csv(tmp_path / "a.csv")
    b, _ = digits_csv(tmp_path / "b.csv", with_target=False, header=False)
    pa, pb = predict_run(digits_run, [str(a)], 1), predict_run(digits_run, [str(b)], 1)
    assert [p.top for p in pa] == [p.top for p in pb]


def test_cli_json_and_table(digits_run, tmp_path):
    path, _ = digits_csv(tmp_path / "d.csv", n=3)
    r = runner.invoke(app, ["predict", str(digits_run), str(path), "--top-k", "2", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert len(data) == 3 and [len(d["top"]) for d in data] == [2, 2, 2]
    assert set(data[0]["top"][0]) == {"class", "probability"}
    r = runner.invoke(app, ["predict", str(digits_run), str(path)])
    assert r.exit_code == 0 and "d.csv:3" in r.output and "#3" in r.output


def test_wrong_columns_and_inputs_are_one_line_errors(digits_run, tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(tmp_path / "bad.csv", index=False)
    r = runner.invoke(app, ["predict", str(digits_run), str(tmp_path / "bad.csv")])
    assert r.exit_code == 2 and "expected 64 feature columns" in r.output and "received 2" in r.output
    img = make_image_folder(tmp_path / "imgs", per_class=1)
    r = runner.invoke(app, ["predict", str(digits_run), str(img)])
    assert r.exit_code == 2 and "trained on tabular data (64 features)" in r.output
    r = runner.invoke(app, ["predict", str(digits_run), str(tmp_path / "missing.png")])
    assert r.exit_code == 2 and "input not found" in r.output
    r = runner.invoke(app, ["predict", str(tmp_path), str(tmp_path / "bad.csv")])
    assert r.exit_code == 2 and "no model.keras" in r.output


def test_cnn_run_predicts_images_and_folders(tmp_path):
    images = make_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=10)
    cfg = validate({
        "name": "cnn", "dataset": {"source": "image_folder", "path": str(images), "image_size": [16, 16]},
        "model": {"type": "cnn", "rescale": 1 / 255, "blocks": [{"type": "conv", "filters": 4, "pool": 2}],
                  "dense": [{"units": 8}]},
        "training": {"epochs": 2, "batch_size": 4, "tensorboard": False, "checkpoint": False},
        "evaluation": {"samples": 4},
    })
    run = run_experiment(cfg, out=tmp_path / "runs", quiet=True).run_dir
    assert (run / "samples.png").exists()
    pre = json.loads((run / "preprocessing.json").read_text())
    assert pre["image_size"] == [16, 16] and pre["channels"] == 3 and pre["class_names"] == ["cat", "dog"]
    one = images / "dog" / "dog_003.png"
    preds = predict_run(run, [str(images / "cat"), str(one)], top_k=5)
    assert len(preds) == 11 and preds[-1].input == str(one)
    assert all(len(p.top) == 2 for p in preds)  # top-k is capped at the number of classes
    assert all(abs(sum(t["probability"] for t in p.top) - 1) < 1e-5 for p in preds)
    with pytest.raises(DataError, match="trained on images"):
        predict_run(run, [str(tmp_path / "x.csv")] if (tmp_path / "x.csv").write_text("a\n1\n") else [])


def test_backbone_svm_run_predicts_with_its_classifier(tmp_path):
    """S2 (e): a classifier run (model.keras = feature extractor + classifier.joblib) answers too."""
    images = make_image_folder(tmp_path / "images", classes=("cat", "dog", "fox"), per_class=6, size=32)
    cfg = validate({
        "name": "svm", "dataset": {"source": "image_folder", "path": str(images), "image_size": [32, 32]},
        "model": {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "avg"},
                  "classifier": {"type": "svm", "kernel": "linear"}},
        "training": {"batch_size": 8, "tensorboard": False}, "evaluation": {"samples": 0}, "cache": "off",
    })
    run = run_experiment(cfg, out=tmp_path / "runs", quiet=True).run_dir
    assert (run / "classifier.joblib").exists()
    r = runner.invoke(app, ["predict", str(run), str(images / "fox"), "--json", "-k", "2"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert len(data) == 6 and all(len(d["top"]) == 2 for d in data)
    assert all(t["class"] in ("cat", "dog", "fox") and 0 <= t["probability"] <= 1 for d in data for t in d["top"])


def test_logits_on_request_are_the_output_layer_before_softmax(digits_run, tmp_path):
    """Probabilities by default; --logits adds each class's raw output value (S2 printed logits)."""
    path, _ = digits_csv(tmp_path / "rows.csv", n=5)
    plain = predict_run(digits_run, [str(path)], top_k=10)
    raw = predict_run(digits_run, [str(path)], top_k=10, logits=True)
    assert all("logit" not in t for p in plain for t in p.top)
    for p, q in zip(plain, raw):
        assert [t["class"] for t in p.top] == [t["class"] for t in q.top]
        z = np.array([t["logit"] for t in q.top])
        soft = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_allclose(soft, [t["probability"] for t in q.top], rtol=1e-4, atol=1e-6)
        assert z.max() > 1.0  # logits, not probabilities
    r = runner.invoke(app, ["predict", str(digits_run), str(path), "--logits", "-k", "1"])
    assert r.exit_code == 0 and "logit" in r.output


def test_logits_of_a_single_sigmoid_unit_are_log_odds(tmp_path):
    from dlhw.results.predict import results

    pre = {"task": "classification", "class_names": ["no", "yes"],
           "output": {"units": 1, "activation": "sigmoid", "loss": "binary_crossentropy", "from_logits": False,
                      "encoding": "binary", "accuracy": "binary", "num_classes": 2}}
    z = np.array([[2.0], [-1.0]])
    out = results(1 / (1 + np.exp(-z)), ["a", "b"], pre, None, 2, logits=z)
    assert out[0].top[0] == {"class": "yes", "probability": pytest.approx(0.8808, abs=1e-4), "logit": 2.0}
    assert out[1].top[0]["class"] == "no" and out[1].top[0]["logit"] == 1.0
