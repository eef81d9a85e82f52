"""Safety: configs are plain data, model files never run code, names cannot escape, HTML is escaped."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config.loader import read_yaml
from dlhw.errors import ConfigError
from dlhw.rundir.folder import sanitize_name
from tests.conftest import REPO

SRC = REPO / "src" / "dlhw"


def test_every_keras_load_uses_safe_mode():
    calls = []
    for path in SRC.rglob("*.py"):
        for m in re.finditer(r"load_model\(([^)]*)\)", path.read_text()):
            calls.append((path.name, m.group(1)))
    assert calls, "no load_model call found"
    unsafe = [c for c in calls if "safe_mode=True" not in c[1] and c[0] != "safeload.py"]
    assert not unsafe, unsafe
    texts = " ".join(p.read_text() for p in SRC.rglob("*.py"))
    assert "enable_unsafe_deserialization" not in texts and "safe_mode=False" not in texts
    assert "yaml.load(" not in texts.replace("yaml.load(text, Loader=safe_loader())", "")
    assert "allow_pickle=True" not in texts


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['echo hi']", "!!python/name:os.system ''",
                                 "!!python/object/new:subprocess.Popen [['true']]", "!!binary aGk="])
def test_yaml_tags_are_refused_not_executed(tmp_path, tag):
    path = tmp_path / "c.yaml"
    path.write_text(f"name: {tag}\n")
    if tag.startswith("!!binary"):  # a standard YAML tag for plain bytes: data, no code
        assert read_yaml(path) == {"name": b"hi"}
        return
    with pytest.raises(ConfigError, match="YAML tag not allowed"):
        read_yaml(path)


@pytest.mark.parametrize("name,expected", [("../../etc", "etc"), ("a/b", "a_b"), ("run 1", "run_1"),
                                           ("<script>", "script"), ("..hidden", "hidden"), ("x..y", "x.y")])
def test_names_are_sanitised(name, expected):
    assert sanitize_name(name) == expected


def test_model_file_with_python_code_is_refused(tmp_path):
    import keras

    evil = tmp_path / "evil"
    evil.mkdir()
    inp = keras.Input((64,))
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Lambda(lambda t: t * 2)(inp))
    keras.Model(inp, out).save(evil / "model.keras")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"source": "sklearn", "name": "digits"},
                                      "model": {"type": "mlp", "init_from": str(evil)},
                                      "training": {"epochs": 1, "tensorboard": False}}))
    res = CliRunner().invoke(app, ["run", str(config), "--out", str(tmp_path / "runs"), "-q"])
    assert res.exit_code == 2, res.output
    assert "model.init_from" in res.output and "safe mode" in res.output and "Lambda" in res.output
    assert not (tmp_path / "runs").exists()


def test_report_escapes_user_strings(tmp_path):
    """Class names, error messages and config names are user text: the report shows them, never runs them."""
    from dlhw.config import validate
    from dlhw.orchestration.experiment import run_experiment

    cfg = validate({"name": "xss", "dataset": {"source": "sklearn", "name": "iris"},
                    "model": {"type": "mlp", "layers": [{"units": 4}]}, "training": {"epochs": 1, "tensorboard": False}})
    run = run_experiment(cfg, out=tmp_path / "runs", quiet=True).run_dir
    bad = shutil.copytree(run, tmp_path / "runs" / "xss-bad")
    status = json.loads((bad / "status.json").read_text())
    status.update(status="failed", error="<script>alert('err')</script>")
    (bad / "status.json").write_text(json.dumps(status))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["class_names"] = ["<img src=x onerror=alert(1)>", "b", "c"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    res = CliRunner().invoke(app, ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert" in page
