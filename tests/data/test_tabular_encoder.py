"""The tabular encoder (dlhw.data.encoder): one fitted object for training, evaluate and predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlhw.config import load_config
from dlhw.data import load_dataset
from dlhw.data.encoder import MISSING, TabularEncoder
from dlhw.errors import DataError

WORDS = ["fast", "slow", "cheap", "shiny", "loud", "quiet", "red", "blue", "big", "small"]


def mixed_csv(path: Path, n: int = 90, seed: int = 0, missing: bool = True) -> Path:
    """Numeric, categorical and sentence columns (a few cells empty) and a class label."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    size = rng.integers(1, 100, size=n).astype(float)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    notes = np.array([" ".join(rng.choice(WORDS, size=4)) for _ in range(n)], dtype=object)
    label = np.where(a + (colour == "red") > 0.3, "yes", "no")
    if missing:
        a[3] = np.nan
        colour[5] = None
        notes[7] = None
    pd.DataFrame({"a": a, "size": size, "colour": colour, "notes": notes, "label": label}).to_csv(path, index=False)
    return path


def write_config(tmp_path: Path, csv: Path, **dataset) -> Path:
    cfg = {"name": "tab", "seed": 0, "task": "classification",
           "dataset": {"source": "csv", "path": str(csv), "target": "label", **dataset},
           "model": {"type": "mlp", "layers": [{"units": 8}]},
           "training": {"epochs": 2, "batch_size": 16, "tensorboard": False, "checkpoint": False}}
    path = tmp_path / "tab.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_fit_kinds_and_json_round_trip_give_identical_arrays(tmp_path):
    csv = mixed_csv(tmp_path / "t.csv")
    ds = load_dataset(load_config(write_config(tmp_path, csv, impute=True)))
    enc_json = ds.meta["encoder"]
    kinds = {c["name"]: c["kind"] for c in enc_json["columns"]}
    assert kinds == {"a": "numeric", "size": "numeric", "colour": "categorical", "notes": "text"}
    cols = {c["name"]: c for c in enc_json["columns"]}
    assert MISSING in cols["colour"]["values"] and cols["colour"]["values"] == sorted(cols["colour"]["values"])
    assert set(cols["notes"]["values"]) == set(WORDS)
    df = pd.read_csv(csv)
    assert cols["a"]["fill"] == pytest.approx(float(np.nanmedian(df["a"])))
    # the saved form, read back, transforms the table to the very same numbers
    enc = TabularEncoder.from_json(enc_json)
    again = TabularEncoder.from_json(json.loads(json.dumps(enc.to_json())))
    x1, x2 = enc.transform(df, csv), again.transform(df, csv)
    assert x1.dtype == np.float32 and x1.shape == (90, 2 + 4 + len(WORDS))
    assert np.array_equal(x1, x2)
    # and each training row is one of those rows, exactly
    train = ds.splits["train"].x
    assert all(np.any(np.all(x1 == row, axis=1)) for row in train)
    assert not np.isnan(x1).any()
    assert enc.class_names == ds.class_names == ["no", "yes"]


def test_missing_cells_are_refused_without_impute(tmp_path):
    csv = mixed_csv(tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"column 'a' has 1 empty/NaN cell\(s\) \(lines \[5\]\)"):
        load_dataset(load_config(write_config(tmp_path, csv)))


def test_old_preprocessing_form_builds_the_same_encoder(tmp_path):
    """A run folder from before the encoder (features / numeric / categorical / standardize)."""
    csv = mixed_csv(tmp_path / "t.csv", missing=False)
    df = pd.read_csv(csv).drop(columns=["notes"])
    df.to_csv(csv, index=False)
    ds = load_dataset(load_config(write_config(tmp_path, csv)))
    old = {"task": "classification", "source": "csv", "class_names": ds.class_names,
           "features": ds.meta["features"], "numeric": ds.meta["numeric"],
           "categorical": ds.meta["categorical"], "standardize": ds.meta["standardize"], "targets": ["label"]}
    new = TabularEncoder.from_json(ds.meta["encoder"]).transform(df, csv)
    assert np.array_equal(TabularEncoder.from_preprocessing(old).transform(df, csv), new)


def test_predict_on_training_rows_equals_the_models_outputs(tmp_path):
    """`dlhw predict` on the CSV's rows == the trained model on the training arrays for those rows."""
    from typer.testing import CliRunner

    from dlhw.cli import app
    from dlhw.orchestration.experiment import run_experiment
    from dlhw.results.predict import load_run_model

    csv = mixed_csv(tmp_path / "t.csv")
    cfg = load_config(write_config(tmp_path, csv, impute=True))
    run_dir = run_experiment(cfg, out=tmp_path / "runs", quiet=True).run_dir
    pre = json.loads((run_dir / "preprocessing.json").read_text())
    assert pre["encoder"]["columns"][3]["kind"] == "text"
    df = pd.read_csv(csv)
    rows = tmp_path / "rows.csv"
    df.drop(columns=["label"]).to_csv(rows, index=False)  # predict needs no label
    r = CliRunner().invoke(app, ["predict", str(run_dir), str(rows), "--json", "--top-k", "2"])
    assert r.exit_code == 0, r.output
    predicted = json.loads(r.output)
    model, _ = load_run_model(run_dir)
    train = load_dataset(cfg).splits["train"].x
    expected = np.asarray(model.predict(train, verbose=0)).reshape(len(train), -1)
    x_all = TabularEncoder.from_json(pre["encoder"]).transform(df, csv)
    assert len(predicted) == len(df) and len(train) > 40
    for i, row in enumerate(train):
        k = int(np.flatnonzero(np.all(x_all == row, axis=1))[0])  # the CSV row this training row came from
        p_yes = {t["class"]: t["probability"] for t in predicted[k]["top"]}["yes"]
        yes = expected[i, -1] if expected.shape[1] == 1 else expected[i, 1]
        assert p_yes == pytest.approx(float(yes), abs=1e-6)
