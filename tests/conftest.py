"""Shared fixtures: tiny data the tests make themselves (no network, no downloads)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]



def wait_for(predicate, timeout: float = 30.0, every: float = 0.05):
    """Poll ``predicate()`` until it returns something truthy (returned) or ``timeout`` seconds pass
    (False): wait for a condition instead of sleeping a fixed time. Assert on the result."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value or False
        time.sleep(every)

def warned(caplog) -> str:
    """The WARNING (and worse) messages dlhw logged during the test (caplog), one a line."""
    import logging

    return "\n".join(r.getMessage() for r in caplog.records
                     if r.levelno >= logging.WARNING and r.name.split(".")[0] == "dlhw")


def fuzz_profile(name: str, default: int, long: int):
    """A seeded, bounded Hypothesis profile for a fuzz module: ``default`` examples in the default suite,
    ``long`` with DLHW_FUZZ_PROFILE=long (no deadline, no example database, no health checks)."""
    from hypothesis import HealthCheck, settings

    which = os.environ.get("DLHW_FUZZ_PROFILE", "default")
    settings.register_profile(f"{name}-{which}", deadline=None, derandomize=True, database=None,
                              suppress_health_check=list(HealthCheck),
                              max_examples=long if which == "long" else default)
    return settings.get_profile(f"{name}-{which}")


def report_fuzz(request, module: str, outcomes: dict) -> None:
    """After a fuzz module: one terminal line counting its outcomes, and (DLHW_FUZZ_SUMMARY) one JSON line."""
    import json

    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    text = ", ".join(f"{k} {outcomes[k]}" for k in sorted(outcomes))
    if reporter is not None:
        reporter.write_line(f"\nfuzz {module} ({os.environ.get('DLHW_FUZZ_PROFILE', 'default')} profile): {text}")
    if os.environ.get("DLHW_FUZZ_SUMMARY"):
        with open(os.environ["DLHW_FUZZ_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"module": module, **outcomes}) + "\n")


def invoke_bounded(args, seconds: float):
    """``dlhw ARGS`` in-process (CliRunner), failing the test if it is still running after ``seconds``
    (a FIFO or a device read would block forever): the fuzz tests' one way to call the CLI."""
    import threading

    from typer.testing import CliRunner

    from dlhw.cli import app

    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("r", CliRunner().invoke(app, args)), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"dlhw {args} still running after {seconds} s"
    return box["r"]


def make_image_folder(root: Path, classes=("cat", "dog"), per_class: int = 12, size: int = 16,
                      fmt: str = "png", seed: int = 0) -> Path:
    """One sub-folder per class; each class has its own colour and stripe direction."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
            img[..., c % 3] += 150
            if c % 2:
                img[::2, :, :] = 255 - img[::2, :, :]
            else:
                img[:, ::2, :] = 255 - img[:, ::2, :]
            Image.fromarray(img).save(folder / f"{name}_{i:03d}.{fmt}")
    return root


def make_csv(path: Path, n: int = 120, seed: int = 0, classes: int = 3) -> Path:
    """A numeric + categorical CSV whose label depends on the features."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    score = a + 0.5 * b + (color == "red") * 1.0
    label = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    df = pd.DataFrame({"a": a, "b": b, "color": color, "label": label})
    df.to_csv(path, index=False)
    return Path(path)


def fake_reuters(monkeypatch, n: int, vocab: int, n_test: int, lengths=(3, 9), classes: int = 4) -> None:
    """Replace keras.datasets.reuters.load_data with n seeded word-index sequences (no download)."""
    import keras

    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, vocab, size=rng.integers(*lengths))) for _ in range(n)]
    labels = np.arange(n) % classes
    cut = n - n_test

    def load_data(num_words=None, **kwargs):
        return ((np.array(seqs[:cut], dtype=object), labels[:cut]),
                (np.array(seqs[cut:], dtype=object), labels[cut:]))

    monkeypatch.setattr(keras.datasets.reuters, "load_data", load_data)



def crash_at_epoch(monkeypatch, epoch: int):
    """The next run dies (RuntimeError 'simulated crash') as its epoch ``epoch`` (1-based) begins,
    as a killed process would; returns the original NaNGuard.on_epoch_begin, to put back."""
    from dlhw.training.callbacks import NaNGuard

    begin = NaNGuard.on_epoch_begin

    def crash(self, e, logs=None):
        begin(self, e, logs)
        if e + 1 == epoch:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(NaNGuard, "on_epoch_begin", crash)
    return begin


def write_yaml(path: Path, data) -> Path:
    """``data`` as YAML at ``path`` (its folder made), keys in the order given; returns ``path``."""
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def read_history(run_dir: Path) -> list[dict]:
    """history.csv of a run folder, a dict of strings per row."""
    import csv

    with open(Path(run_dir) / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))

@pytest.fixture
def image_folder(tmp_path) -> Path:
    return make_image_folder(tmp_path / "images")


@pytest.fixture
def csv_file(tmp_path) -> Path:
    return make_csv(tmp_path / "table.csv")


@pytest.fixture
def quickstart() -> Path:
    return REPO / "configs" / "quickstart.yaml"


def tiny_overrides(epochs: int = 2) -> list[str]:
    """Overrides that make any config train in a second or two."""
    return [f"training.epochs={epochs}", "training.tensorboard=false"]


# Trained outcomes reached by two different computations (features cached vs computed in the model,
# one device vs mirrored replicas) agree only to float-reordering error that training amplifies:
# 0.2 % apart on an AVX2 machine where an AVX-512 one had them 1e-5 apart (oneDNN picks other kernels).
# Compare them with these; bit-identical results are promised only for the same computation on one
# machine (tests/training/test_determinism.py, README "Determinism").
TRAINED = {"rel": 1e-2, "abs": 1e-3}


def close_trained(a, b) -> bool:
    """``a`` and ``b`` (numbers or arrays of trained outcomes) equal within TRAINED."""
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=TRAINED["rel"],
                            atol=TRAINED["abs"]))


def accuracy_close(a: float, b: float, samples: int) -> bool:
    """Two accuracies on ``samples`` samples from trained outcomes within TRAINED: at most one
    prediction apart (a probability near 0.5 may fall on either side on another CPU)."""
    return abs(a - b) <= 1.0 / max(samples, 1) + 1e-9


def without_timings(data):
    """metrics.json / status data with every timing left out: what two equal runs share."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if "seconds" not in k}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


_EXE = Path(sys.executable).with_name("dlhw")
DLHW = [str(_EXE)] if _EXE.exists() else [sys.executable, "-m", "dlhw.cli"]  # the console script, as users run it
TINY = {  # a sweep trial that trains in a second
    "name": "tiny", "seed": 0,
    "dataset": {"source": "sklearn", "name": "digits", "max_samples": 300},
    "model": {"type": "mlp", "layers": [{"units": 16}]},
    "training": {"epochs": 1, "batch_size": 64, "tensorboard": False, "checkpoint": False},
}
