"""Unseen classes and open-set rejection on scikit-learn digits 0-4 (S5)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlhw.config import load_config
from dlhw.evaluation.open_set import fit_threshold, nearest_centre_distance, open_set_confusion, unseen_report
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import REPO

CONFIG = REPO / "configs" / "mnist_open_set.yaml"
FAST = ["training.epochs=4", "training.tensorboard=false", "training.checkpoint=false", "evaluation.samples=0"]


@pytest.mark.parametrize("method", ["distance", "max_prob"])
def test_open_set_on_digits_0_to_4(tmp_path, method):
    cfg = load_config(CONFIG, FAST + [f"evaluation.open_set.method={method}"])
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    m = json.loads((run / "metrics.json").read_text())
    assert m["class_names"] == ["0", "1", "2", "3", "4"]
    o = m["open_set"]
    assert o["method"] == method and o["percentile"] == 95
    for key in ("known_accuracy", "closed_set_accuracy", "known_false_rejection_rate", "unseen_rejection_rate",
                "open_set_accuracy"):
        assert 0.0 <= o[key] <= 1.0, key
    assert o["known_false_rejection_rate"] < 0.25  # ~5 % by construction on validation data
    assert o["unseen_rejection_rate"] > o["known_false_rejection_rate"]
    assert o["known_samples"] == m["test"]["samples"] and o["unseen_samples"] == m["unseen"]["samples"] == 134
    cm = np.array(o["confusion_matrix"])
    assert cm.shape == (10, 6) and o["columns"][-1] == "other" and cm.sum() == o["known_samples"] + 134
    assert np.isclose(cm[5:, 5].sum() / 134, o["unseen_rejection_rate"])
    header = (run / "open_set_confusion.csv").read_text().splitlines()[0]
    assert header.endswith(",pred:other") and (run / "open_set_confusion.png").exists()
    assert set(m["unseen"]["mistaken_for"]) == {"5", "6", "7", "8", "9"}
    assert set(m["unseen"]["mistaken_for"].values()) <= {"0", "1", "2", "3", "4"}


def test_known_vs_other_on_digits(tmp_path):
    """Known 0-4, 'other' trained on 5-6, unseen 7-9: reported like distance and max_prob."""
    cfg = load_config(CONFIG, FAST + ["dataset.other_classes=[5, 6]", "evaluation.open_set.method=other"])
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    m = json.loads((run / "metrics.json").read_text())
    assert m["class_names"] == ["0", "1", "2", "3", "4", "other"] and m["output"]["units"] == 6
    o = m["open_set"]
    assert o["method"] == "other" and o["threshold"] is None and o["other_classes"] == ["5", "6"]
    for key in ("known_accuracy", "closed_set_accuracy", "known_false_rejection_rate", "unseen_rejection_rate",
                "open_set_accuracy"):
        assert 0.0 <= o[key] <= 1.0, key
    from dlhw.data import load_dataset

    test_y = load_dataset(load_config(CONFIG, ["dataset.classes=null", "evaluation.open_set=null"])).splits["test"].y
    n_unseen = int(np.isin(test_y, [7, 8, 9]).sum())
    assert m["unseen"]["classes"] == ["7", "8", "9"] and o["unseen_samples"] == m["unseen"]["samples"] == n_unseen
    # the test split's 5s and 6s are trained 'other' samples: neither known nor unseen
    assert m["test"]["samples"] - o["known_samples"] == int(np.isin(test_y, [5, 6]).sum()) > 0
    assert o["known_samples"] == int(np.isin(test_y, range(5)).sum())
    cm = np.array(o["confusion_matrix"])
    assert cm.shape == (8, 6) and o["rows"][5:] == ["7", "8", "9"] and cm.sum() == o["known_samples"] + n_unseen
    assert np.isclose(cm[5:, 5].sum() / n_unseen, o["unseen_rejection_rate"])
    assert np.isclose(cm[:5, 5].sum() / o["known_samples"], o["known_false_rejection_rate"])
    assert o["unseen_rejection_by_class"].keys() == {"7", "8", "9"}
    assert o["unseen_rejection_rate"] > o["known_false_rejection_rate"]  # 'other' generalises beyond 5-6
    # the same run with distance: the 'other' answer also counts as a rejection, threshold fitted
    cfg = load_config(CONFIG, FAST + ["dataset.other_classes=[5, 6]", "evaluation.open_set.method=distance"])
    d = run_experiment(cfg, out=tmp_path, quiet=True).metrics["open_set"]
    assert d["threshold"] > 0 and d["known_samples"] == o["known_samples"]
    assert d["closed_set_accuracy"] == pytest.approx(o["closed_set_accuracy"])  # same model, same data


@pytest.mark.parametrize("sets, words", [
    (["dataset.classes=null", "evaluation.open_set=null", "dataset.other_classes=[5]"],
     "dataset.other_classes needs dataset.classes"),
    (["dataset.other_classes=[4, 5]"], "dataset.other_classes: class 4 is also in dataset.classes"),
    (["evaluation.open_set.method=other"], "evaluation.open_set.method: other needs dataset.other_classes"),
    (["dataset.other_classes=[]"], "dataset.other_classes: list at least one class"),
])
def test_known_vs_other_bad_configs(sets, words):
    from dlhw.errors import ConfigError

    with pytest.raises(ConfigError, match=words) as err:
        load_config(CONFIG, sets)
    assert "\n" not in str(err.value)


def test_known_vs_other_class_not_in_data(tmp_path):
    from dlhw.data import load_dataset
    from dlhw.errors import ConfigError

    with pytest.raises(ConfigError, match="dataset.other_classes: class '12' is not in the data"):
        load_dataset(load_config(CONFIG, ["dataset.other_classes=[12]"]))


def test_unseen_classes_are_reported_without_open_set(tmp_path):
    cfg = load_config(CONFIG, FAST + ["evaluation.open_set=null", "training.epochs=2"])
    out = run_experiment(cfg, out=tmp_path, quiet=True)
    assert "open_set" not in out.metrics and not (out.run_dir / "open_set_confusion.csv").exists()
    nine = out.metrics["unseen"]["per_class"]["9"]
    assert nine["samples"] == 27 and sum(nine["predicted_as"].values()) == 27
    assert nine["most_often"] == out.metrics["unseen"]["mistaken_for"]["9"]


def test_threshold_rules_and_confusion_layout():
    val = np.arange(1, 101, dtype=float)
    assert fit_threshold(val, "distance", 95) == pytest.approx(95.05)
    assert fit_threshold(val, "max_prob", 95) == pytest.approx(5.95)
    d = nearest_centre_distance(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [3.0, 0.0]]))
    assert d.tolist() == [0.0, 4.0]
    cm = open_set_confusion(np.array([0, 1]), np.array([0, 0]), np.array([False, True]),
                            np.array([0, 0]), np.array([1, 1]), np.array([True, False]), 2, 1)
    assert cm.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    rep = unseen_report(np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7]]), np.array([0, 0, 0]), ["a", "b"], ["c"])
    assert rep["mistaken_for"] == {"c": "b"} and rep["per_class"]["c"]["predicted_as"] == {"a": 1, "b": 2}
