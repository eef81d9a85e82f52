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
          "dataset.target=y"], "ok"),
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
