"""S3 question 3: 1-D convolutions over (steps, channels) sequences, the sequences source
(.npz, .npy, CSV) and dataset.input_shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlhw.config import load_config, validate
from dlhw.errors import ConfigError, DataError
from tests.conftest import REPO

SHIPPED = REPO / "configs" / "s3_conv1d.yaml"
STEPS, CHANNELS, PER_CLASS = 40, 2, 8


def sequences(seed: int = 0):
    """(x: N x STEPS x CHANNELS, y: class names) for three classes that differ in rhythm."""
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS)
    xs, ys = [], []
    for i in range(PER_CLASS):
        for name, period in (("slow", 20.0), ("fast", 5.0), ("flat", None)):
            base = np.zeros(STEPS) if period is None else np.sin(2 * np.pi * t / period + i)
            xs.append(np.stack([base, -base], axis=1) + rng.normal(0, 0.2, size=(STEPS, CHANNELS)))
            ys.append(name)
    return np.array(xs, dtype=np.float32), np.array(ys)


def write(kind: str, folder):
    """The same sequences as a .npz, a .npy pair or a CSV; returns the dataset section."""
    x, y = sequences()
    if kind == "npz":
        np.savez(folder / "seq.npz", x=x, y=y)
        return {"source": "sequences", "path": str(folder / "seq.npz")}
    if kind == "npy":
        np.save(folder / "x.npy", x)
        np.save(folder / "y.npy", y)
        return {"source": "sequences", "path": str(folder / "x.npy"), "labels": str(folder / "y.npy")}
    lines = [f"{label}," + ",".join(repr(float(v)) for v in seq.reshape(-1)) for label, seq in zip(y, x)]
    (folder / "seq.csv").write_text("\n".join(lines) + "\n")
    return {"source": "sequences", "path": str(folder / "seq.csv"), "input_shape": [STEPS, CHANNELS]}


def config(dataset: dict, api: str = "functional", **model) -> dict:
    return {"name": "seq", "seed": 0, "dataset": {"split": {"train": 0.5, "val": 0.25, "test": 0.25}, **dataset},
            "model": {"type": "cnn1d", "api": api,
                      "blocks": [{"filters": 4, "kernel": 5, "padding": "valid", "pool": 2, "batch_norm": True},
                                 {"filters": 8, "kernel": 3, "pool": 2, "pool_padding": "same", "dropout": 0.1}],
                      "dense": [{"units": 8}], **model},
            "training": {"epochs": 2, "batch_size": 8, "tensorboard": False, "checkpoint": "off"},
            "evaluation": {"samples": 0}}


def layer_table(model):
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers if type(layer).__name__ != "InputLayer"]


# ------------------------------------------------------------------ the model
def test_the_shipped_config_has_the_studys_497349_parameters_with_either_api(tmp_path):
    """Built from the config alone: the data path points nowhere, and nothing is read."""
    import dlhw

    absent = str(tmp_path / "absent.npz")
    fun = dlhw.summary(SHIPPED, {"dataset.path": absent})
    seq = dlhw.summary(SHIPPED, {"dataset.path": absent, "model.api": "sequential"})
    assert type(fun.model).__name__ == "Functional" and type(seq.model).__name__ == "Sequential"
    assert fun.total == seq.total == fun.model.count_params() == 497_349
    assert (fun.trainable, fun.non_trainable) == (497_349, 0)
    assert layer_table(fun.model) == layer_table(seq.model)
    table = layer_table(fun.model)
    assert [row[3] for row in table if row[3]] == [352, 2_592, 10_304, 483_456, 645]
    assert ("flatten", "Flatten", (None, 59 * 64), 0) in table
    assert "no data read" in fun.data


def test_both_apis_build_the_same_network_with_batch_norm_and_dropout(tmp_path):
    from dlhw.data import load_dataset
    from dlhw.models import build_model

    ds_cfg = write("npz", tmp_path)
    built = {}
    for api in ("sequential", "functional"):
        cfg = validate(config(ds_cfg, api=api, global_pool="avg"))
        built[api], _ = build_model(cfg, load_dataset(cfg))
    assert layer_table(built["sequential"]) == layer_table(built["functional"])
    kinds = [row[1] for row in layer_table(built["functional"])]
    assert kinds == ["Conv1D", "BatchNormalization", "Activation", "MaxPooling1D", "Conv1D", "MaxPooling1D",
                     "Dropout", "GlobalAveragePooling1D", "Dense", "Dense"]
    # 40 -(conv 5, valid)-> 36 -(pool)-> 18 -(conv 3, same)-> 18 -(pool)-> 9
    assert layer_table(built["functional"])[5][2] == (None, 9, 8)
    assert built["sequential"].count_params() == built["functional"].count_params()


def test_pool_padding_same_rounds_up_in_the_2d_cnn_too(tmp_path):
    from dlhw.models.cnn import build_cnn
    from dlhw.models.outputs import OutputSpec

    cfg = validate({"dataset": {"source": "sklearn", "name": "digits"},
                    "model": {"type": "cnn", "blocks": [{"type": "conv", "filters": 2, "kernel": 3, "pool": 2,
                                                        "pool_padding": "same"}]}})
    spec = OutputSpec(3, "softmax", "sparse_categorical_crossentropy", False, "index", "sparse_categorical", 3)
    model = build_cnn(cfg.model, (7, 7, 1), spec)
    assert tuple(model.get_layer("pool_1").output.shape) == (None, 4, 4, 2)


# ------------------------------------------------------------------ the data
def test_npz_npy_and_csv_give_the_same_data(tmp_path):
    from dlhw.data import load_dataset

    loaded = {}
    for kind in ("npz", "npy", "csv"):
        folder = tmp_path / kind
        folder.mkdir()
        loaded[kind] = load_dataset(validate(config(write(kind, folder))))
    for kind, ds in loaded.items():
        assert ds.input_shape == (STEPS, CHANNELS), kind
        assert ds.class_names == ["fast", "flat", "slow"], kind
        assert ds.meta["format"] == kind
    ref = loaded["npz"].splits
    for kind in ("npy", "csv"):
        for split in ("train", "val", "test"):
            np.testing.assert_array_equal(loaded[kind].splits[split].y, ref[split].y)
            np.testing.assert_allclose(loaded[kind].splits[split].x, ref[split].x, rtol=1e-6)


def test_a_csv_without_input_shape_is_one_channel_and_a_header_line_is_skipped(tmp_path):
    from dlhw.data import load_dataset

    rows = ["label,t0,t1,t2,t3"] + [f"{c},{i},{i + 1},{i * c},{c}" for i in range(6) for c in (0, 1)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(validate({"dataset": {"source": "sequences", "path": str(tmp_path / "s.csv"),
                                            "split": {"train": 0.5, "val": 0.0, "test": 0.5}}}))
    assert ds.input_shape == (4, 1) and ds.class_names == ["0", "1"] and len(ds.splits["train"]) == 6


@pytest.mark.parametrize("kind", ["npz", "npy", "csv"])
def test_a_cnn1d_trains_on_each_format_and_predicts_from_it(kind, tmp_path):
    from dlhw.orchestration.experiment import run_experiment
    from dlhw.results.predict import predict_run

    ds = write(kind, tmp_path)
    out = run_experiment(validate(config(ds)), out=tmp_path / "runs", quiet=True)
    assert out.status == "completed"
    metrics = json.loads((out.run_dir / "metrics.json").read_text())
    assert metrics["params"]["total"] > 0 and metrics["test"]["samples"] == 6
    pre = json.loads((out.run_dir / "preprocessing.json").read_text())
    assert pre["input_shape"] == [STEPS, CHANNELS] and pre["model_type"] == "cnn1d"
    predictions = predict_run(out.run_dir, [ds["path"]], top_k=1)  # a CSV line's label first is skipped
    assert len(predictions) == 3 * PER_CLASS
    assert {p.top[0]["class"] for p in predictions} <= {"fast", "flat", "slow"}
    if kind == "csv":
        (tmp_path / "bad.csv").write_text(",".join(["1"] * 7) + "\n")
        with pytest.raises(DataError, match=r"bad\.csv: line 1 holds a sequence of 7 values; expected 80 "
                                            r"\(the run's input shape \[40, 2\]\), or 81 with the label first"):
            predict_run(out.run_dir, [str(tmp_path / "bad.csv")])


def test_the_shipped_config_runs_on_its_shipped_data(tmp_path, monkeypatch):
    from dlhw.orchestration.experiment import run_experiment

    monkeypatch.chdir(REPO)  # data/sequences.npz, relative to the repository root
    cfg = load_config(SHIPPED, ["training.epochs=1", "training.tensorboard=false", "training.checkpoint=off"])
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert out.status == "completed" and out.metrics["params"]["total"] == 497_349


# ------------------------------------------------------------------ bad input
def test_a_sequence_of_the_wrong_length_names_its_line_and_the_expected_length(tmp_path):
    from dlhw.data import load_dataset

    path = tmp_path / "s.csv"
    good = ",".join(["0.5"] * 6)
    path.write_text(f"a,{good}\nb,{good}\na,0.5,0.5,0.5,0.5,0.5\nb,{good}\n")
    cfg = validate({"dataset": {"source": "sequences", "path": str(path), "input_shape": [3, 2]}})
    with pytest.raises(DataError, match=r"s\.csv: line 3 holds a sequence of 5 values; expected 6 "
                                        r"\(dataset\.input_shape \[3, 2\]: 3 x 2\)$"):
        load_dataset(cfg)
    cfg = validate({"dataset": {"source": "sequences", "path": str(path)}})
    with pytest.raises(DataError, match=r"line 3 holds a sequence of 5 values; expected 6 \(like line 1"):
        load_dataset(cfg)
    path.write_text(f"a,{good}\nb,0.5,0.5,oops,0.5,0.5,0.5\n")
    with pytest.raises(DataError, match=r"line 2 holds 'oops' where a number belongs"):
        load_dataset(cfg)
    path.write_text(f"a,0.5,0.5,oops,0.5,0.5,0.5\nb,{good}\n")  # not a header: it holds numbers
    with pytest.raises(DataError, match=r"line 1 holds 'oops' where a number belongs"):
        load_dataset(cfg)


def test_an_npz_without_y_names_the_arrays_it_holds(tmp_path):
    from dlhw.data import load_dataset

    x, _ = sequences()
    np.savez(tmp_path / "s.npz", x=x, labels=np.zeros(len(x)))
    cfg = validate({"dataset": {"source": "sequences", "path": str(tmp_path / "s.npz")}})
    with pytest.raises(DataError, match=r"s\.npz has no array 'y' \(it holds: x, labels\); save the inputs as x "
                                        r"and the labels as y"):
        load_dataset(cfg)


def test_other_bad_sequence_inputs_are_one_line_each(tmp_path):
    from dlhw.data import load_dataset

    x, y = sequences()
    with pytest.raises(ConfigError, match=r"dataset\.labels .* is required when dataset\.path is a \.npy file"):
        validate({"dataset": {"source": "sequences", "path": "x.npy"}})
    with pytest.raises(ConfigError, match=r"dataset\.labels is only for source sequences with a \.npy path.*"
                                          r"received source sequences and path 'x\.npz'"):
        validate({"dataset": {"source": "sequences", "path": "x.npz", "labels": "y.npy"}})
    with pytest.raises(ConfigError, match=r"sequences reads \.npz, \.npy or \.csv files; received .*seq\.txt"):
        (tmp_path / "seq.txt").write_text("1,2\n")
        load_dataset(validate({"dataset": {"source": "sequences", "path": str(tmp_path / "seq.txt")}}))
    np.savez(tmp_path / "short.npz", x=x, y=y[:-1])
    with pytest.raises(DataError, match=r"24 sequences but 23 labels"):
        load_dataset(validate({"dataset": {"source": "sequences", "path": str(tmp_path / "short.npz")}}))
    np.savez(tmp_path / "ok.npz", x=x, y=y)
    cfg = validate({"dataset": {"source": "sequences", "path": str(tmp_path / "ok.npz"), "input_shape": [50, 2]}})
    with pytest.raises(DataError, match=r"dataset\.input_shape: \[50, 2\], but the samples of .* have shape \[40, 2\]"):
        load_dataset(cfg)
    with pytest.raises(ConfigError, match=r"model\.blocks\.0\.kernel: 64 is longer than the 40 steps"):
        dlhw_summary(config({"source": "sequences", "path": str(tmp_path / "ok.npz")},
                            blocks=[{"filters": 2, "kernel": 64, "padding": "valid"}]))
    with pytest.raises(ConfigError, match=r"model\.type: cnn1d needs sequence input \(steps, channels\); "
                                          r"the data has shape \(64,\)"):
        dlhw_summary({"dataset": {"source": "sklearn", "name": "digits"},
                      "model": {"type": "cnn1d", "blocks": [{"filters": 2}]}})


def dlhw_summary(raw):
    import dlhw

    return dlhw.summary(raw)
