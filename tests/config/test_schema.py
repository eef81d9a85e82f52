"""dlhw schema: the JSON Schema accepts what the loader accepts (every shipped config as written and
merged, the contract's examples, the loader's other spellings) and refuses what it refuses (wrong
types, unknown keys, bad names); every key is described; the command prints and writes it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from jsonschema import Draft7Validator
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import load_config, read_yaml, validate
from dlhw.config.jsonschema import dumps, experiment_schema, sweep_schema
from dlhw.errors import ConfigError
from dlhw.sweeps import build_plan
from tests.config.test_config import BASE, CONTRACT, contract_blocks
from tests.conftest import REPO

runner = CliRunner()
CONFIGS = REPO / "configs"
YAMLS = sorted(CONFIGS.rglob("*.yaml"))
SHIPPED = sorted(list(CONFIGS.glob("*.yaml")) + [p for p in CONFIGS.iterdir() if p.is_dir()])
SEARCHES = sorted((CONFIGS / "search").glob("*.yaml"))  # each runs on its own (dlhw.sweeps.sources.search)
COMMITTED = {"dlhw.schema.json": experiment_schema, "dlhw-sweep.schema.json": sweep_schema}
MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)$")


def _ids(p):
    return str(p.relative_to(CONFIGS))


@pytest.fixture(scope="module")
def experiment():
    return Draft7Validator(experiment_schema())


@pytest.fixture(scope="module")
def sweep():
    return Draft7Validator(sweep_schema())


def problems(validator, data) -> list:
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:200]}" for e in validator.iter_errors(data)]


def test_both_schemas_are_draft_07():
    for schema in (experiment_schema(), sweep_schema()):
        Draft7Validator.check_schema(schema)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert "$defs" not in json.dumps(schema) and "prefixItems" not in json.dumps(schema)


# ------------------------------------------------------------ what the loader accepts
@pytest.mark.parametrize("path", YAMLS, ids=_ids)
def test_every_shipped_file_names_its_schema_and_validates_as_written(path, experiment, sweep):
    """As an editor sees it: base: and grid: as written (read with dlhw's own YAML reader)."""
    raw = read_yaml(path)
    first = path.read_text().splitlines()[0]
    named = MODELINE.match(first)
    assert named, f"{path}: first line should be the yaml-language-server modeline; is {first!r}"
    is_sweep = "grid" in raw or "search" in raw
    target = (path.parent / named.group(1)).resolve()
    assert target == CONFIGS / ("dlhw-sweep.schema.json" if is_sweep else "dlhw.schema.json")
    assert problems(sweep, raw) == []
    if is_sweep:
        assert problems(experiment, raw), "dlhw run refuses a grid: so must the experiment schema"
    else:
        assert problems(experiment, raw) == []


@pytest.mark.parametrize("path", SHIPPED, ids=_ids)
def test_every_shipped_trial_validates_merged_and_resolved(path, experiment):
    """What the loader produces: the base chain merged, the grid applied; and every default filled."""
    if path in SEARCHES or path == CONFIGS / "search":  # a search: its first trial of each file
        from dlhw.sweeps.planning.space import build_search

        plans = [build_search(f) for f in SEARCHES]
        trials = [p.trial(0, {q.key: (q.labels or q.choices or [q.low])[0] for q in p.params}) for p in plans]
    else:
        trials = build_plan(path).trials
    for trial in trials:
        assert problems(experiment, trial.raw) == [], trial.name
        assert problems(experiment, trial.cfg.dump()) == [], trial.name


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared/CONFIG.md not beside the repo")
def test_contract_examples_validate(experiment, sweep):
    one, cnn, backbone, svm, sweep_file = [yaml.safe_load(b) for b in contract_blocks()[:5]]
    assert problems(experiment, one) == []
    for fragment in (cnn, backbone, svm):
        assert problems(experiment, {"base": "quickstart.yaml", **fragment}) == []  # as a file with base:
        data = {**BASE, **fragment}
        if data["model"]["type"] == "backbone":
            data["dataset"] = {"source": "image_folder", "path": "data/x"}
        assert problems(experiment, data) == []
    assert problems(sweep, sweep_file) == []


@pytest.mark.parametrize("extra", [
    {"training": {"checkpoint": True}},
    {"training": {"checkpoint": False}},
    {"training": {"checkpoint": {"every_seconds": 60}}},
    {"training": {"batch_size": "full"}},
    {"training": {"tensorboard": {"histograms": 2}}},
    {"training": {"optimizer": {"type": "RMSprop", "learning_rate": 1e-4}}},
    {"model": {"type": "mlp", "layers": [{"units": 8, "activation": "ReLU"}], "kernel_initializer": "He_Normal"}},
    {"model": {"type": "backbone", "backbone": {"name": "resnet50", "weights": None},
               "classifier": {"type": "svm", "gamma": 0.1}}},
    {"dataset": {"source": "sklearn", "name": "digits", "image_size": [32, 48], "classes": [0, "one"]}},
    {"evaluation": {"weights": "best", "monitor": "val_accuracy"}},
    {"tracking": {"mlflow": {"uri": "file:./mlruns", "experiment": "s5"}}},  # CONFIG.md's tracking block
    {"tracking": {"mlflow": True}},
    {"repeats": 3},
], ids=lambda e: json.dumps(e)[:50])
def test_other_spellings_the_loader_accepts_pass_too(extra, experiment):
    data = {**BASE, **extra}
    validate(data)
    assert problems(experiment, data) == []


# ------------------------------------------------------------ what the loader refuses
@pytest.mark.parametrize("data, where", [
    ({**BASE, "training": {"epochs": "many"}}, "training.epochs"),
    ({**BASE, "model": {"type": "mlp", "layers": 3}}, "model"),
    ({**BASE, "trainig": {}}, "(top)"),
    ({**BASE, "model": {"type": "mlp", "layers": [{"units": 3, "unitz": 3}]}}, "model"),
    ({**BASE, "model": {"type": "mlpp"}}, "model"),
    ({**BASE, "model": {"layers": [{"units": 8}]}}, "model"),  # no type: pydantic cannot pick the variant
    ({**BASE, "model": {"type": "cnn", "blocks": [{"filters": 8}]}}, "model"),
    ({**BASE, "task": "classify"}, "task"),
    ({**BASE, "training": {"optimizer": {"type": "adamm"}}}, "training.optimizer.type"),
    ({**BASE, "training": {"checkpoint": "sometimes"}}, "training.checkpoint"),
    ({**BASE, "training": {"epochs": 0}}, "training.epochs"),
    ({**BASE, "training": {"learning_rate": 0.1}}, "training"),
    ({**BASE, "dataset": {**BASE["dataset"], "image_size": [64]}}, "dataset.image_size"),
    ({**BASE, "dataset": {**BASE["dataset"], "source": "sklern"}}, "dataset.source"),
    ({"name": "no-dataset"}, "(top)"),
    ({**BASE, "grid": {"training.epochs": [1, 2]}}, "(top)"),  # a sweep file: dlhw run refuses it
], ids=lambda x: json.dumps(x)[:60] if isinstance(x, dict) else None)
def test_bad_configs_are_refused_by_loader_and_schema(data, where, experiment):
    with pytest.raises(ConfigError):
        validate(data, "bad.yaml")
    found = problems(experiment, data)
    assert found, f"the schema accepts what the loader refuses: {data}"
    assert any(p.startswith(where) for p in found), found


def _write(tmp_path, name, data, base):
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"base": str(base), **data}, sort_keys=False))
    return p


@pytest.mark.parametrize("data, ok", [
    ({"model": {"layers": [{"units": 8}]}}, True),                    # the model's type from the base
    ({"training": {"optimizer": {"learning_rate": 0.1}}}, True),      # mappings merge
    ({"dataset": {"max_samples": 100}}, True),
    ({"model": {"layers": [{"activation": "relu"}]}}, False),         # a list replaces whole: units required
    ({"training": {"stages": [{"name": "a"}]}}, False),               # stage items are complete: epochs
    ({"training": {"optimizer": {"learning_rat": 0.1}}}, False),     # unknown keys stay unknown
    ({"model": {"layers": [{"units": 8}], "blocks": []}}, False),     # no variant has both
], ids=lambda x: json.dumps(x)[:50] if isinstance(x, dict) else str(x))
def test_files_with_base_may_leave_out_what_the_base_gives(tmp_path, quickstart, data, ok, experiment):
    path = _write(tmp_path, "child.yaml", data, quickstart)
    if ok:
        load_config(path)
    else:
        with pytest.raises(ConfigError):
            load_config(path)
    assert (problems(experiment, read_yaml(path)) == []) == ok


@pytest.mark.parametrize("data, ok", [
    ({"grid": {"model.layers.0.units": [8, 16], "training.optimizer.type": ["sgd", "Adam"]}, "repeats": 2}, True),
    ({"grid": {"training.stages": [[{"name": "a", "epochs": 1}], [{"name": "b", "epochs": 2}]]}}, True),
    ({"grid": {"training.epochs": [1, 2]}, "random": {"samples": 1, "seed": 3}}, True),
    ({"grid": {"training.optimizer.type": ["sgd", "adamm"]}}, False),  # each value checked against its key
    ({"grid": {"training.optimizr.type": ["sgd"]}}, False),             # unknown dotted key
    ({"grid": {"model.layers.0.unitz": [8]}}, False),
    ({"grid": {"training.epochs": 5}}, False),                         # values must be a list
    ({"grid": {"training.epochs": []}}, False),
    ({"grid": {}}, False),
    ({"random": {"samples": 2}}, False),                               # random: needs a grid
    ({"grid": {"training.epochs": [1, 2]}, "random": {"samples": 0}}, False),
    ({"grid": {"training.epochs": [1, 2]}, "random": {"seed": 1}}, False),  # never merged: complete with base:
    ({"grid": {"training.epochs": [1, 2]}, "repeats": 0}, False),
], ids=lambda x: json.dumps(x)[:60] if isinstance(x, dict) else str(x))
def test_sweep_files_grid_keys_and_values_are_checked(tmp_path, quickstart, data, ok, sweep):
    path = _write(tmp_path, "sweep.yaml", data, quickstart)
    if ok:
        build_plan(path)
    else:
        with pytest.raises(ConfigError):
            build_plan(path)
    assert (problems(sweep, read_yaml(path)) == []) == ok


# ------------------------------------------------------------ descriptions (editors show them on hover)
def _properties(node, path=""):
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield f"{path}.{key}", value
        for key, value in node.items():
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{path}/{i}")


def test_every_key_has_a_description():
    for schema in (experiment_schema(), sweep_schema()):
        missing = [p for p, s in _properties(schema) if len(s.get("description", "")) < 10]
        assert not missing, missing
    defs = experiment_schema()["definitions"]
    assert defs["OptimizerConfig"]["properties"]["type"]["description"].endswith("Default: adam.")
    assert "Default: [128, 128]." in defs["DatasetConfig"]["properties"]["image_size"]["description"]
    assert "every_seconds" in defs["TrainingConfig"]["properties"]["checkpoint"]["description"]
    # the names an editor completes, defined once
    assert defs["OptimizerConfig"]["properties"]["type"]["allOf"] == [{"$ref": "#/definitions/OptimizerName"}]
    assert defs["OptimizerName"]["anyOf"][0]["enum"] == ["adagrad", "adam", "adamw", "rmsprop", "sgd"]
    assert defs["OutputConfig"]["properties"]["activation"]["anyOf"] == \
        [{"$ref": "#/definitions/Activation"}, {"type": "null"}]


# ------------------------------------------------------------ the command
def test_schema_command_prints_and_writes(tmp_path):
    r = runner.invoke(app, ["schema"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == experiment_schema()
    r = runner.invoke(app, ["schema", "--sweep"])
    assert r.exit_code == 0 and json.loads(r.output) == sweep_schema()
    out = tmp_path / "dlhw.schema.json"
    r = runner.invoke(app, ["schema", "--out", str(out)])
    assert r.exit_code == 0 and "wrote" in r.output
    assert out.read_text() == dumps(experiment_schema())
    assert [p.name for p in tmp_path.iterdir()] == ["dlhw.schema.json"]  # no temporary file left
    r = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "is a folder" in r.output and len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, ["schema", "--out", str(tmp_path / "no" / "such" / "dir.json")])
    assert r.exit_code == 1 and r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1


def test_schema_imports_no_tensorflow():
    code = ("import sys; from typer.testing import CliRunner; from dlhw.cli import app; "
            "assert CliRunner().invoke(app, ['schema', '--sweep']).exit_code == 0; "
            "print([m for m in ('tensorflow', 'keras', 'matplotlib', 'sklearn', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_schemas_are_current(name):
    """configs/*.schema.json serve the shipped configs' modelines (offline); they follow the models."""
    flag = " --sweep" if "sweep" in name else ""
    assert (CONFIGS / name).read_text() == dumps(COMMITTED[name]()), \
        f"configs/{name} is stale: run `dlhw schema{flag} --out configs/{name}`"
