"""Bad input, everywhere: a corpus of mistakes users make, each driven through the CLI.

Every case gives the exact exit code and the words the one-line message must
hold. Every case also checks that nothing was written outside the run folder
(the working directory and the test folder are compared before and after) and
that a refused run leaves no run folder that looks finished.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import make_csv, make_image_folder

BASE = {
    "name": "bad", "seed": 0,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 8}]},
    "training": {"epochs": 1, "batch_size": 64, "tensorboard": False},
}


def patch(data: dict, dotted: str, value) -> dict:
    out = json.loads(json.dumps(data))
    node = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return out


def drop(data: dict, dotted: str) -> dict:
    out = json.loads(json.dumps(data))
    node = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node[p]
    node.pop(parts[-1])
    return out


def cnn(path: str, **dataset) -> dict:
    return {**BASE, "dataset": {"source": "image_folder", "path": path, "image_size": [16, 16], **dataset},
            "model": {"type": "cnn", "rescale": 0.0039, "blocks": [{"type": "conv", "filters": 2, "pool": 2}]}}


def csv_cfg(path: str, **dataset) -> dict:
    return {**BASE, "dataset": {"source": "csv", "path": path, "target": "label", **dataset}}


class Case:
    """One bad input: a config (dict or raw text) or explicit argv, what must come out."""

    def __init__(self, id: str, code: int, words: List[str], config=None, args: Optional[List[str]] = None,
                 prepare: Optional[Callable[[Path], None]] = None, text: Optional[str] = None,
                 command: str = "run", stderr_words: Optional[List[str]] = None):
        self.id, self.code, self.words = id, code, words
        self.config, self.args, self.prepare, self.text, self.command = config, args or [], prepare, text, command
        self.stderr_words = stderr_words or []


def _images(sub: str, **kw):
    return lambda t: make_image_folder(t / sub, **kw)


def _corrupt(t: Path) -> None:
    folder = make_image_folder(t / "img", classes=("a", "b"), per_class=6)
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image at all")
    (folder / "b" / "notes.txt").write_text("not an image")


def _all_corrupt(t: Path) -> None:
    folder = make_image_folder(t / "img", classes=("a", "b"), per_class=3)
    for f in (folder / "b").iterdir():
        f.write_bytes(b"garbage")


def _csv(t: Path, edit: Callable = None) -> None:
    import pandas as pd

    make_csv(t / "data.csv", n=60)
    if edit is not None:
        df = pd.read_csv(t / "data.csv")
        edit(df)
        df.to_csv(t / "data.csv", index=False)


def _nan(df):
    df.loc[3, "a"] = np.nan


def _word(df):
    df["a"] = df["a"].astype(object)
    df.loc[5, "a"] = "twelve"


def _cell(column: str, row: int, value) -> Callable:
    def edit(df):
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
    return edit


def _dup_target(t: Path) -> None:
    import pandas as pd

    df = pd.read_csv(make_csv(t / "data.csv", n=60))
    df.assign(copy=df["label"]).to_csv(t / "data.csv", index=False, header=["a", "b", "color", "label", "label"])


def _bomb(levels: int = 10) -> str:
    """Billion laughs: each anchor a list of ten aliases of the one before (10**levels values)."""
    lines = ["    - &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"    - &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, levels)]
    return "\n".join(lines) + "\n"


BASE_TEXT = yaml.safe_dump(BASE, sort_keys=False)


T = "{tmp}"  # replaced with the test's folder
CASES = [
    # --- typos at every level
    Case("typo_top", 2, ["unknown key 'epochz'"], patch(BASE, "epochz", 3)),
    Case("typo_dataset", 2, ["dataset.nmae", "unknown key 'nmae'", "did you mean 'name'"], patch(BASE, "dataset.nmae", "x")),
    Case("typo_layer", 2, ["model.layers.0.unit", "did you mean 'units'"], patch(BASE, "model.layers.0.unit", 8)),
    Case("typo_optimizer", 2, ["training.optimizer.learning_rat", "did you mean 'learning_rate'"],
         patch(BASE, "training.optimizer", {"type": "adam", "learning_rat": 0.1})),
    Case("typo_stage", 2, ["training.stages.0.epoch", "did you mean 'epochs'"],
         patch(BASE, "training.stages", [{"name": "a", "epoch": 2}])),
    Case("typo_cnn_block", 2, ["model.blocks.0.filter", "did you mean 'filters'"],
         patch(cnn("x"), "model.blocks", [{"type": "conv", "filter": 3}])),
    Case("typo_early_stopping", 2, ["training.early_stopping.patince", "did you mean 'patience'"],
         patch(BASE, "training.early_stopping", {"patince": 3})),
    # --- wrong types
    Case("type_epochs_text", 2, ["training.epochs", "integer", "'ten'"], patch(BASE, "training.epochs", "ten")),
    Case("type_batch_float", 2, ["training.batch_size", "3.5"], patch(BASE, "training.batch_size", 3.5)),
    Case("type_layers_string", 2, ["model.layers", "list", "'big'"], patch(BASE, "model.layers", "big")),
    Case("type_dataset_list", 2, ["dataset", "[1, 2]"], patch(BASE, "dataset", [1, 2])),
    Case("type_shuffle", 2, ["training.shuffle", "bool", "'maybe'"], patch(BASE, "training.shuffle", "maybe")),
    # --- out-of-range numbers
    Case("range_seed", 2, ["seed", "greater than or equal to 0", "-1"], patch(BASE, "seed", -1)),
    Case("range_dropout", 2, ["model.layers.0.dropout", "less than 1", "1.5"], patch(BASE, "model.layers.0.dropout", 1.5)),
    Case("range_lr", 2, ["training.optimizer.learning_rate", "greater than 0", "0"],
         patch(BASE, "training.optimizer", {"type": "adam", "learning_rate": 0})),
    Case("range_epochs", 2, ["training.epochs", "greater than 0"], patch(BASE, "training.epochs", 0)),
    Case("range_image_size", 2, ["dataset.image_size", "at least 8x8", "[4, 4]"], patch(cnn("x"), "dataset.image_size", [4, 4])),
    Case("range_units", 2, ["model.layers.0.units", "greater than 0"], patch(BASE, "model.layers.0.units", -3)),
    # --- unknown names
    Case("unknown_optimizer", 2, ["training.optimizer.type", "unknown optimizer 'adamm'", "did you mean 'adam'"],
         patch(BASE, "training.optimizer", {"type": "adamm"})),
    Case("unknown_loss", 2, ["training.loss", "unknown loss 'crossentropy'"], patch(BASE, "training.loss", "crossentropy")),
    Case("unknown_activation", 2, ["model.layers.0.activation", "unknown activation 'relux'", "did you mean 'relu'"],
         patch(BASE, "model.layers.0.activation", "relux")),
    Case("unknown_backbone", 2, ["model.backbone.name", "unknown backbone 'resnet5'", "did you mean"],
         {**BASE, "model": {"type": "backbone", "backbone": {"name": "resnet5", "weights": None}}}),
    Case("unknown_sklearn_dataset", 2, ["dataset.name", "digitz", "did you mean 'digits'"], patch(BASE, "dataset.name", "digitz")),
    Case("unknown_keras_dataset", 2, ["dataset.name", "unknown keras dataset 'mnst'", "did you mean 'mnist'"],
         patch(BASE, "dataset", {"source": "keras", "name": "mnst"})),
    Case("unfreeze_two_ways", 2, ["training.stages.1.unfreeze", "exactly one of", "from_layer", "last_layers"],
         {**BASE, "model": {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": None}},
          "training": {"stages": [{"name": "a", "epochs": 1},
                                  {"name": "b", "epochs": 1, "unfreeze": {"from_layer": 3, "last_layers": 2}}]}}),
    Case("unknown_source", 2, ["dataset.source", "unknown dataset source 'sql'"], patch(BASE, "dataset.source", "sql")),
    Case("unknown_model_type", 2, ["model.type", "unknown type 'transformer'", "mlp"], patch(BASE, "model.type", "transformer")),
    Case("unknown_initializer", 2, ["model.kernel_initializer", "unknown initializer 'zeroes'", "did you mean 'zeros'"],
         patch(BASE, "model.kernel_initializer", "zeroes")),
    # --- splits
    Case("split_sum", 2, ["dataset.split", "must sum to 1", "= 1.1"], patch(BASE, "dataset.split", {"train": 0.8, "val": 0.2, "test": 0.1})),
    Case("split_over_one", 2, ["dataset.split.train", "less than or equal to 1", "1.1", "and 1 more problem"], patch(BASE, "dataset.split", {"train": 1.1, "val": -0.1, "test": 0.0})),
    # --- missing files and folders
    Case("config_missing", 2, ["nope.yaml", "config file not found"], args=[f"{T}/nope.yaml"]),
    Case("config_is_folder", 2, ["is a folder", "YAML config file"], args=[T]),
    Case("config_empty", 2, ["the file is empty"], text=""),
    Case("config_top_list", 2, ["expected a mapping", "list"], text="- a\n- b\n"),
    Case("base_missing", 2, ["parent.yaml", "config file not found"], text="base: parent.yaml\nseed: 1\n"),
    Case("csv_missing", 2, ["dataset.path", "CSV file not found", "none.csv"], csv_cfg(f"{T}/none.csv")),
    Case("image_folder_missing", 2, ["dataset.path", "image folder not found"], cnn(f"{T}/nowhere")),
    Case("init_from_missing", 2, ["model.init_from", "not found"], patch(BASE, "model.init_from", f"{T}/old_run")),
    # --- image folders
    Case("image_folder_empty", 2, ["no class sub-folders found"], cnn(f"{T}/empty"), prepare=lambda t: (t / "empty").mkdir()),
    Case("image_folder_one_class", 2, ["single class folder", "'only'", "at least 2"], cnn(f"{T}/one"),
         prepare=_images("one", classes=("only",), per_class=5)),
    Case("image_class_all_corrupt", 2, ["class folder has no readable images", "/b"], cnn(f"{T}/img"), prepare=_all_corrupt,
         stderr_words=["warning: skipping", "unreadable image"]),
    Case("image_corrupt_skipped", 0, ["completed"], cnn(f"{T}/img"), prepare=_corrupt,
         stderr_words=["skipping", "broken.png", "unreadable image", "notes.txt", "not an image file"]),
    # --- CSV problems
    Case("csv_missing_target", 2, ["dataset.target", "column 'labl' is not in", "did you mean 'label'"],
         patch(csv_cfg(f"{T}/data.csv"), "dataset.target", "labl"), prepare=_csv),
    Case("csv_no_target_key", 2, ["dataset", "dataset.target", "required for source 'csv'"],
         drop(csv_cfg(f"{T}/data.csv"), "dataset.target"), prepare=_csv),
    Case("csv_nan_cells", 2, ["column 'a'", "1 empty/NaN cell", "lines [5]"], csv_cfg(f"{T}/data.csv"),
         prepare=lambda t: _csv(t, _nan)),
    Case("csv_non_numeric", 2, ["column 'a'", "twelve"], csv_cfg(f"{T}/data.csv"), prepare=lambda t: _csv(t, _word)),
    Case("csv_not_a_csv", 2, ["data.csv", "cannot read as CSV"], csv_cfg(f"{T}/data.csv"),
         prepare=lambda t: (t / "data.csv").write_bytes(b"\x00\x01\x02\xff" * 50)),
    Case("csv_header_only", 2, ["no data rows"], csv_cfg(f"{T}/data.csv"),
         prepare=lambda t: (t / "data.csv").write_text("a,b,label\n")),
    Case("csv_inf_cell", 2, ["data.csv: column 'a', data row 4 (line 5) holds inf", "finite"], csv_cfg(f"{T}/data.csv"),
         prepare=lambda t: _csv(t, _cell("a", 3, "inf"))),
    Case("csv_overflows_float32", 2, ["column 'b', data row 10 (line 11) holds -1e+308", "float32"],
         csv_cfg(f"{T}/data.csv"), prepare=lambda t: _csv(t, _cell("b", 9, "-1e308"))),
    Case("csv_duplicate_target_column", 2, ["data.csv: column name 'label' appears twice", "columns 4 and 5"],
         csv_cfg(f"{T}/data.csv"), prepare=_dup_target),
    Case("csv_target_in_features", 2, ["dataset.features: 'label' is also the target"],
         csv_cfg(f"{T}/data.csv", features=["a", "label"]), prepare=_csv),
    # --- labels out of range
    Case("classes_not_in_data", 2, ["dataset.classes", "class '12' is not in the data"], patch(BASE, "dataset.classes", [1, 2, 12])),
    Case("classes_only_one", 2, ["dataset.classes", "at least 2 classes"], patch(BASE, "dataset.classes", [3])),
    Case("output_units_mismatch", 2, ["model.output.units", "3 does not match the 10 classes"],
         patch(BASE, "model.output", {"units": 3})),
    Case("loss_for_wrong_task", 2, ["training.loss", "masked_euclidean is a regression loss", "classification"],
         patch(BASE, "training.loss", "masked_euclidean")),
    Case("open_set_without_classes", 2, ["evaluation.open_set needs dataset.classes"],
         patch(BASE, "evaluation", {"open_set": {"method": "distance"}})),
    # --- YAML itself
    Case("yaml_syntax", 2, ["YAML syntax error", "line 4, column 7", "expected ',' or ']'"], text="seed: 0\ndataset:\n  source: [sklearn\n  name: digits\n"),
    Case("yaml_tab", 2, ["YAML syntax error", "line 2"], text="seed: 0\n\tdataset: {}\n"),
    Case("yaml_python_tag", 2, ["YAML tag not allowed", "line 1", "plain data"],
         text=f"name: !!python/object/apply:os.system ['touch {T}/PWNED']\ndataset: {{source: sklearn, name: digits}}\n"),
    Case("yaml_python_name_tag", 2, ["YAML tag not allowed"], text="seed: !!python/name:os.getcwd ''\n"),
    Case("yaml_alias_bomb", 2, ["config.yaml: line 17, column 57", "aliases expand"],
         text=BASE_TEXT.replace("epochs: 1", "epochs:\n" + _bomb())),
    Case("yaml_nested_100k", 2, ["config.yaml: line 1", "nested more than 100 levels"],
         text="seed: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    Case("yaml_integer_5000_digits", 2, ["config.yaml: line 1, column 7", "integer of 5000 characters"],
         text="seed: " + "9" * 5000 + "\n"),
    Case("config_over_1_mb", 2, ["config.yaml: the file is 2.0 MB", "at most 1 MB"], text="# " + "x" * 2_000_000 + "\n"),
    Case("set_integer_5000_digits", 2, ["--set seed: an integer of 5000 characters"], BASE,
         args=["--set", "seed=" + "9" * 5000]),
    # --- numbers with no business in a config
    Case("huge_epochs", 2, ["training.epochs", "less than or equal to 1000000", "received 1" + "0" * 30],
         patch(BASE, "training.epochs", 10**30)),
    Case("huge_batch_size", 2, ["training.batch_size", "between 1 and 10000000", "'full'"],
         patch(BASE, "training.batch_size", 10**30)),
    Case("huge_units", 2, ["model.layers.0.units", "less than or equal to 1000000"], patch(BASE, "model.layers.0.units", 10**30)),
    Case("huge_seed", 2, ["seed", "less than or equal to 4294967295"], patch(BASE, "seed", 10**30)),
    Case("lr_inf", 2, ["training.optimizer.learning_rate", "finite number", "received inf"],
         patch(BASE, "training.optimizer", {"type": "adam", "learning_rate": float("inf")})),
    # --- sweep files
    Case("sweep_grid_alias_bomb", 2, ["config.yaml: line", "aliases expand"], command="sweep",
         text=BASE_TEXT + "grid:\n  seed:\n" + _bomb()),
    Case("sweep_grid_too_many_trials", 2, ["grid: 100,000 combinations", "more than 10,000 trials", "random:"],
         command="sweep", text=BASE_TEXT + "grid:\n" + "".join(f"  x{k}: [{', '.join(map(str, range(10)))}]\n" for k in range(5))),
    # --- names and output folders
    Case("name_dotdot", 2, ["name", "no usable characters"], BASE, args=["--name", ".."]),
    Case("name_slashes_only", 2, ["name", "no usable characters"], BASE, args=["--name", "/../"]),
    Case("out_under_a_file", 2, ["--out", "cannot create output folder", "Not a directory"], BASE,
         args=["--out", f"{T}/file.txt/runs"], prepare=lambda t: (t / "file.txt").write_text("x")),
    # --- command line
    Case("set_without_equals", 2, ["--set", "expected key.path=value", "seed"], BASE, args=["--set", "seed"]),
    Case("set_into_value", 2, ["seed", "valid integer", "{'x': 1}"], BASE, args=["--set", "seed.x=1"]),
    Case("stray_word", 2, ["unexpected argument 'oops'"], BASE, args=["oops"]),
    Case("device_tpu", 2, ["--device", "received 'tpu'"], BASE, args=["--device", "tpu"]),
    Case("no_config", 2, ["give a CONFIG file"], args=[]),
    Case("sweep_file_to_run", 2, ["this is a sweep file", "dlhw sweep"], {**BASE, "grid": {"seed": [1, 2]}}),
]


def _snapshot(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "runs" not in p.relative_to(root).parts}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    if case.prepare:
        case.prepare(tmp_path)
    args = [a.replace(T, str(tmp_path)) for a in case.args]
    if case.config is not None or case.text is not None:
        text = case.text if case.text is not None else yaml.safe_dump(case.config, sort_keys=False)
        config = tmp_path / "config.yaml"
        config.write_text(text.replace(T, str(tmp_path)))
        args = [str(config)] + args
    if "--out" not in args:
        args += ["--out", str(tmp_path / "runs")]
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(app, [case.command, *args, "--quiet"])
    out = " ".join(res.output.split())
    assert res.exit_code == case.code, res.output
    for w in case.words:
        assert w in out, f"{w!r} not in: {out}"
    for w in case.stderr_words:
        assert w in out, f"{w!r} not in: {out}"
    assert "Traceback" not in res.output
    if case.code:
        errors = [line for line in res.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, res.output
        runs = tmp_path / "runs"
        assert not runs.exists() or not any(runs.rglob("metrics.json")) and not any(runs.rglob("model.keras"))
    assert _snapshot(tmp_path) == before  # nothing written outside the run folder
    assert not list(work.iterdir())  # nor in the working directory
    assert not (tmp_path / "PWNED").exists()  # python tags are never executed


# ------------------------------------------------------------------ real runs that end badly
def _config(tmp_path: Path, **training) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**BASE, "training": {**BASE["training"], **training}}))
    return path


def test_run_name_with_dotdot_and_slash_stays_inside_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["run", str(_config(tmp_path)), "--out", str(tmp_path / "runs"), "--quiet",
                                   "--name", "../../etc/evil run"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["etc_evil_run"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "runs"]


def test_unwritable_out_folder(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if mode == os.W_OK else real(p, mode, *a, **k))
    res = CliRunner().invoke(app, ["run", str(_config(tmp_path)), "--out", str(tmp_path / "ro"), "--quiet"])
    assert res.exit_code == 2 and "--out: output folder" in res.output and "is not writable" in res.output
    assert not any((tmp_path / "ro").iterdir())


@pytest.mark.parametrize("victim", ["metrics.json", "last.ckpt.npz"])
def test_disk_full_fails_the_run_with_one_line(tmp_path, monkeypatch, victim):
    import dlhw.runtime.files

    real = dlhw.runtime.files._commit
    tried = []

    def full(tmp, path):  # every file dlhw writes reaches the disk here (checkpoints from a background thread)
        if Path(path).name == victim:
            tried.append(tmp)
            with open(tmp, "r+b") as fh:
                fh.truncate(tmp.stat().st_size // 2)  # half written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(tmp, path)

    monkeypatch.setattr(dlhw.runtime.files, "_commit", full)
    res = CliRunner().invoke(app, ["run", str(_config(tmp_path)), "--out", str(tmp_path / "runs"), "--quiet"])
    assert res.exit_code == 1, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and victim in errors[0] and "No space left on device" in errors[0], res.output
    assert "--resume" in errors[0] and "Traceback" not in res.output
    run = tmp_path / "runs" / "bad"
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and victim in status["error"]
    assert tried and not (run / "metrics.json").exists() and not list(run.rglob(f".{victim}*"))
    assert not [t for t in tried if t.exists()]  # the temporary files went
    if victim == "metrics.json":  # the saved model must not look like the result of a completed run
        assert not (run / "model.keras").exists()
        monkeypatch.setattr(dlhw.runtime.files, "_commit", real)  # space freed: --resume finishes the run
        res = CliRunner().invoke(app, ["run", "--resume", str(run), "--quiet"])
        assert res.exit_code == 0, res.output
        assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 1 and (run / "model.keras").exists()


@pytest.mark.parametrize("method,victim", [("save", "model.keras")])
def test_disk_full_while_keras_writes(tmp_path, monkeypatch, method, victim):
    import keras

    def full(self, path, *a, **k):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, method, full)
    res = CliRunner().invoke(app, ["run", str(_config(tmp_path)), "--out", str(tmp_path / "runs"), "--quiet"])
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert res.exit_code == 1 and len(errors) == 1, res.output
    assert victim in errors[0] and "No space left on device" in errors[0]
    run = tmp_path / "runs" / "bad"
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()
    assert not [p for p in run.rglob(".*") if "tmp" in p.name]
    assert json.loads((run / "status.json").read_text())["status"] == "failed"
