"""The same config twice gives the same metrics.json, apart from timings (MLP, CNN, backbone head)."""

from __future__ import annotations

import json

import pytest

from dlhw.config import validate
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import make_image_folder


def without_timings(data):
    """metrics.json minus wall-clock fields (train_seconds, feature_cache.seconds, ...)."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if "seconds" not in k and k != "folder"}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


def twice(tmp_path, raw: dict) -> tuple[dict, dict]:
    out = []
    for i in range(2):
        cfg = validate(raw)
        outcome = run_experiment(cfg, out=tmp_path / f"runs{i}", quiet=True, cache_dir=tmp_path / f"cache{i}")
        out.append(json.loads((outcome.run_dir / "metrics.json").read_text()))
    return out[0], out[1]


def test_mlp_twice_identical(tmp_path):
    raw = {"name": "mlp", "seed": 7, "dataset": {"source": "sklearn", "name": "digits"},
           "model": {"type": "mlp", "layers": [{"units": 32, "dropout": 0.3, "batch_norm": True}]},
           "training": {"epochs": 3, "batch_size": 64, "tensorboard": False}}
    a, b = twice(tmp_path, raw)
    assert without_timings(a) == without_timings(b)
    assert a["test"]["samples"] > 0 and a["epochs_run"] == 3


@pytest.mark.slow  # issue 28: 35 s; test_mlp_twice_identical stays
def test_cnn_on_image_folder_twice_identical(tmp_path):
    folder = make_image_folder(tmp_path / "images", classes=("a", "b", "c"), per_class=10, size=16)
    raw = {"name": "cnn", "seed": 1, "dataset": {"source": "image_folder", "path": str(folder), "image_size": [16, 16],
                                                 "augment": True},
           "model": {"type": "cnn", "rescale": 1 / 255,
                     "blocks": [{"type": "conv", "filters": 4, "kernel": 3, "batch_norm": True, "pool": 2}],
                     "dense": [{"units": 8, "dropout": 0.5}]},
           "training": {"epochs": 2, "batch_size": 8, "tensorboard": False}}
    a, b = twice(tmp_path, raw)
    assert without_timings(a) == without_timings(b)
    assert a["test"]["samples"] == 6


@pytest.mark.slow  # issue 28: 31 s
def test_backbone_head_twice_identical(tmp_path):
    folder = make_image_folder(tmp_path / "images", classes=("a", "b"), per_class=8, size=32)
    raw = {"name": "bb", "seed": 2, "dataset": {"source": "image_folder", "path": str(folder), "image_size": [32, 32]},
           "model": {"type": "backbone",
                     "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "avg", "trainable": False},
                     "head": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dropout", "rate": 0.3}],
                     "output": {"units": 1, "activation": "sigmoid"}},
           "training": {"epochs": 2, "batch_size": 4, "tensorboard": False}}
    a, b = twice(tmp_path, raw)
    assert without_timings(a) == without_timings(b)
    assert a["params"]["trainable"] < a["params"]["total"]
