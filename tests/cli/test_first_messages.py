"""What a newcomer's first mistakes print: one line that names the problem and the way out,
before TensorFlow loads (issue 28, "Speaks wrongly or not at all")."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import REPO, TINY

# `dlhw ARGS` in a fresh interpreter; afterwards: the exit code and whether TensorFlow was imported
PROBE = """
import sys
sys.argv = ["dlhw"] + sys.argv[1:]
from dlhw.cli import app
try:
    app()
except SystemExit as exc:
    code = exc.code
print("PROBE", code, "tensorflow" in sys.modules, "keras" in sys.modules)
"""


def probe(args, cwd: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    line = next(x for x in res.stdout.splitlines() if x.startswith("PROBE"))
    _, code, tf, keras = line.split()
    return int(code), tf == "True" or keras == "True", res.stderr


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_with_a_missing_data_path_stops_before_tensorflow(tmp_path):
    cfg = write(tmp_path / "images.yaml", {**TINY, "dataset": {"source": "image_folder", "path": "no/such/folder"}})
    code, heavy, err = probe(["run", str(cfg), "--out", str(tmp_path / "runs")], tmp_path)
    assert code == 2 and not heavy, err
    assert "dataset.path: image folder not found" in err and "no/such/folder" in err
    assert not (tmp_path / "runs").exists()


def test_regression_on_a_text_column_is_refused_by_validate_and_run(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'cat' if i % 2 else 'dog'}\n"
                                                           for i in range(30)))
    cfg = write(tmp_path / "reg.yaml", {**TINY, "task": "regression",
                                        "dataset": {"source": "csv", "path": str(tmp_path / "t.csv"),
                                                    "target": "label"}})
    res = CliRunner().invoke(app, ["validate", str(cfg)])
    assert res.exit_code == 2, res.output
    assert "dataset.target: column 'label' holds text" in res.output and "task: classification" in res.output
    code, heavy, err = probe(["run", str(cfg), "--out", str(tmp_path / "runs")], tmp_path)
    assert code == 2 and not heavy and "holds text ('dog' on line 2)" in err, err


@pytest.mark.parametrize("override, key", [("training=5", "training"), ("model.layers.0=5", "model.layers.0"),
                                           ("training.optimizer=adam", "training.optimizer"), ("model=3", "model")])
def test_errors_name_keys_not_pydantic_classes(quickstart, override, key):
    res = CliRunner().invoke(app, ["validate", str(quickstart), "--no-data", "--set", override])
    assert res.exit_code == 2
    line = res.output.strip()
    assert f": {key}: expected a section (key: value lines); received" in line, line
    assert "instance of" not in line and "Config" not in line and "extract fields" not in line


@pytest.mark.parametrize("command", ["run", "validate", "show", "sweep"])
def test_yml_beside_yaml_gets_a_did_you_mean(tmp_path, command):
    write(tmp_path / "exp.yml", TINY)
    res = CliRunner().invoke(app, [command, str(tmp_path / "exp.yaml")])
    assert res.exit_code == 2
    assert f"did you mean {tmp_path / 'exp.yml'}?" in res.output, res.output


def test_a_folder_of_configs_given_to_run_points_at_sweep(tmp_path):
    (tmp_path / "many").mkdir()
    for n in ("a", "b"):
        write(tmp_path / "many" / f"{n}.yaml", {**TINY, "name": n})
    res = CliRunner().invoke(app, ["run", str(tmp_path / "many")])
    assert res.exit_code == 2
    assert "is a folder" in res.output and "a.yaml, b.yaml" in res.output
    assert f"dlhw sweep {tmp_path / 'many'}" in res.output


def test_dry_run_of_a_search_says_optuna_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed: find_spec answers None
    res = CliRunner().invoke(app, ["sweep", str(REPO / "configs" / "search" / "quickstart_search.yaml"), "--dry-run"])
    assert res.exit_code == 2
    assert "(dry run, nothing trained)" in res.output  # the plan is still shown
    assert 'needs Optuna, which is not installed here; install it with: pip install "dlhw[search]"' in res.output


def _closing(results) -> str:
    from rich.console import Console

    from dlhw.cli.sweep import print_closing

    class Done:  # what print_closing reads of a Sweep
        path = Path("runs/search")
        disk_bytes = 2048

    Done.results = results
    out = io.StringIO()
    print_closing(Done(), Console(file=out, width=120))
    return out.getvalue()


def test_closing_table_counts_pruned_apart_and_shows_why_only_with_reasons():
    done = [{"name": f"t{i}", "status": "completed", "val_accuracy": 0.9, "test_accuracy": 0.8,
             "train_seconds": 1.0} for i in range(6)]
    pruned = [{"name": f"p{i}", "status": "pruned", "error": f"pruned at epoch {i + 1}", "train_seconds": 0.5}
              for i in range(6)]
    text = _closing(done + pruned)
    assert "sweep search: 6 completed, 6 pruned, 0 failed" in text
    assert "why" in text and "pruned at epoch 3" in text
    clean = _closing(done)
    assert "sweep search: 6 completed, 0 failed" in clean and "why" not in clean
    failed = _closing(done[:1] + [{"name": "bad", "status": "diverged", "error": "loss became NaN"}])
    assert "1 completed, 1 failed" in failed and "loss became NaN" in failed


def test_a_config_of_a_sweep_folder_run_alone_says_where_it_went(tmp_path):
    from dlhw.cli.run import sweep_note

    many = tmp_path / "configs" / "many"
    many.mkdir(parents=True)
    for n in ("a", "b"):
        write(many / f"{n}.yaml", {**TINY, "name": n})
    write(tmp_path / "configs" / "quick.yaml", TINY)
    runs = tmp_path / "runs"
    assert sweep_note(many / "a.yaml", runs / "a") == ""  # the sweep never ran: nothing to be beside
    (runs / "many").mkdir(parents=True)
    (runs / "many" / "sweep.json").write_text("{}")
    note = sweep_note(many / "a.yaml", runs / "a")
    assert f"not in the sweep {runs / 'many'}/" in note and f"`dlhw sweep {many}`" in note
    assert sweep_note(tmp_path / "configs" / "quick.yaml", runs / "tiny") == ""  # configs/ is no sweep
