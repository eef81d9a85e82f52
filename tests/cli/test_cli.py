"""The CLI driven as a user drives it: exit codes, one-line errors, real runs."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from dlhw.cli import app

runner = CliRunner()


def test_import_cli_does_not_import_tensorflow():
    code = "import sys, dlhw.cli; bad = [m for m in ('tensorflow', 'keras', 'matplotlib', 'sklearn', 'pandas') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_and_help():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("dlhw ")
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "run" in r.output and "validate" in r.output


def test_run_quickstart_end_to_end(tmp_path, quickstart):
    r = runner.invoke(app, ["run", str(quickstart), "--out", str(tmp_path), "--quiet",
                            "--set", "training.epochs=2", "training.tensorboard=false", "--name", "cli"])
    assert r.exit_code == 0, r.output
    assert "run folder:" in r.output and "test" in r.output
    m = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert m["epochs_run"] == 2


def test_validate_and_show(quickstart):
    r = runner.invoke(app, ["validate", str(quickstart)])
    assert r.exit_code == 0 and "ok" in r.output
    r = runner.invoke(app, ["show", str(quickstart), "--set", "training.epochs=7"])
    assert r.exit_code == 0 and "epochs: 7" in r.output and "restore_best_weights" not in r.output
    assert "kernel_initializer: glorot_uniform" in r.output


def test_bad_inputs_exit_2_with_one_line(tmp_path, quickstart):
    cases = [
        (["run", str(tmp_path / "nope.yaml")], "config file not found"),
        (["run", str(quickstart), "--set", "training.optimizer.type=adamm"], "did you mean 'adam'"),
        (["validate", str(quickstart), "--set", "dataset.split.train=0.9"], "sum to 1"),
        (["run", str(quickstart), "--device", "tpu"], "--device"),
        (["run", str(quickstart), "stray"], "unexpected argument 'stray'"),
        (["validate", str(quickstart), "--set", "dataset.source=csv", "dataset.path=" + str(tmp_path / "x.csv"),
          "dataset.target=y", "--no-data"], "ok"),
    ]
    for args, words in cases:
        r = runner.invoke(app, args)
        if words == "ok":
            assert r.exit_code == 0, r.output
            continue
        assert r.exit_code == 2, (args, r.output)
        assert words in r.output and "Traceback" not in r.output
        assert len([line for line in r.output.splitlines() if line.startswith("error:")]) == 1


def test_missing_data_path_exit_2_no_folder(tmp_path, quickstart):
    r = runner.invoke(app, ["run", str(quickstart), "--out", str(tmp_path / "runs"), "--set", "dataset.source=csv",
                            "dataset.path=" + str(tmp_path / "none.csv"), "dataset.target=label"])
    assert r.exit_code == 2 and "CSV file not found" in r.output
    assert not (tmp_path / "runs").exists()


def test_validate_checks_data_paths_unless_no_data(tmp_path, quickstart):
    from tests.conftest import make_image_folder

    cfg = tmp_path / "cnn.yaml"
    cfg.write_text(f"base: {quickstart}\ndataset: {{source: image_folder, path: {tmp_path / 'imgs'}}}\n")
    r = runner.invoke(app, ["validate", str(cfg)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert f"{cfg}: dataset.path: image folder not found: {tmp_path / 'imgs'}" in r.output
    assert "data/README.md" in r.output
    r = runner.invoke(app, ["validate", str(cfg), "--no-data"])
    assert r.exit_code == 0 and "ok" in r.output
    (tmp_path / "imgs" / ".hidden").mkdir(parents=True)
    r = runner.invoke(app, ["validate", str(cfg)])
    assert r.exit_code == 2 and "no class sub-folders found" in r.output and str(cfg) in r.output
    make_image_folder(tmp_path / "imgs", classes=("cat",), per_class=2)
    r = runner.invoke(app, ["validate", str(cfg)])
    assert r.exit_code == 2 and "single class folder ('cat')" in r.output
    make_image_folder(tmp_path / "imgs", classes=("cat", "dog"), per_class=2)
    r = runner.invoke(app, ["validate", str(cfg)])
    assert r.exit_code == 0 and f"{tmp_path / 'imgs'} found" in r.output
    r = runner.invoke(app, ["validate", str(cfg), "--set", "dataset.source=csv", "dataset.target=label"])
    assert r.exit_code == 2 and "is a folder; source 'csv' needs a .csv file" in r.output


def test_a_missing_shipped_data_folder_names_the_config_and_the_generator(tmp_path, monkeypatch):
    from tests.conftest import REPO

    monkeypatch.chdir(tmp_path)  # no data/ here: the shipped configs' data paths are missing
    config = REPO / "configs" / "small_cnn_sequential.yaml"
    for cmd in (["validate", str(config)], ["run", str(config), "--out", str(tmp_path / "runs")]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2, r.output
        line = " ".join(r.output.split())
        assert f"error: {config}: dataset.path: image folder not found: data/cnn_images (relative to {tmp_path})" in line
        assert "`python data/make_images.py` from the repository root" in line
    assert not (tmp_path / "runs").exists()
    r = runner.invoke(app, ["validate", str(REPO / "configs" / "tabular_mlp.yaml"), "dataset.path=data/phones.csv"])
    assert r.exit_code == 2 and "`python data/make_phones.py`" in r.output


def test_sweep_dry_run_on_an_offline_keras_dataset_tries_once_and_exits_2(tmp_path, quickstart, monkeypatch):
    from tests.data.test_data import go_offline

    calls = go_offline(tmp_path, monkeypatch)  # a real failed download
    sweep = tmp_path / "grid.yaml"
    sweep.write_text(f"base: {quickstart}\ndataset: {{source: keras, name: mnist, max_samples: 100}}\n"
                     "grid:\n  model.layers.0.units: [8, 16, 32, 64]\n  training.optimizer.type: [sgd, adam]\n")
    r = runner.invoke(app, ["sweep", str(sweep), "--dry-run", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    assert len(calls) == 1  # one download attempt for the 8 trials, not 8
    out = " ".join(r.output.split())
    assert "8 of 8 trials cannot load their dataset: dataset.name: keras dataset 'mnist'" in out
    assert "mnist.npz" in out and "? (no data)" in out and "Traceback" not in r.output
    assert not (tmp_path / "runs").exists()
