"""Config schema and loader: the contract examples validate, mistakes get one clear line."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from dlhw.config import apply_overrides, load_config, load_raw, validate
from dlhw.config.names import ACTIVATIONS
from dlhw.errors import ConfigError
from tests.conftest import REPO

CONTRACT = REPO.parent / "shared" / "CONFIG.md"


def contract_blocks() -> list[str]:
    text = CONTRACT.read_text() if CONTRACT.exists() else ""
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


BASE = {"dataset": {"source": "sklearn", "name": "digits"}}


def test_quickstart_resolves_every_default(quickstart):
    cfg = load_config(quickstart)
    dumped = cfg.dump()
    assert dumped["training"]["optimizer"] == {**dumped["training"]["optimizer"], "type": "adam", "learning_rate": 0.001}
    assert [layer["units"] for layer in dumped["model"]["layers"]] == [256, 512]
    assert dumped["dataset"]["split"] == {"train": 0.7, "val": 0.15, "test": 0.15}
    # the dump validates again to the same thing
    assert validate(dumped).dump() == dumped


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared/CONFIG.md not beside the repo")
def test_contract_examples_validate():
    blocks = contract_blocks()
    assert len(blocks) >= 5
    experiment, cnn, backbone, svm, sweep = blocks[:5]
    validate(yaml.safe_load(experiment))
    for fragment in (cnn, backbone, svm):
        data = {**BASE, **yaml.safe_load(fragment)}
        if data["model"]["type"] == "backbone":
            data["dataset"] = {"source": "image_folder", "path": "data/x"}
        validate(data)
    assert "grid" in yaml.safe_load(sweep)


@pytest.mark.parametrize(
    "data, words",
    [
        ({**BASE, "trainig": {}}, ["trainig", "did you mean 'training'"]),
        ({**BASE, "model": {"type": "mlp", "layers": [{"unitz": 3}]}}, ["model.layers.0", "unitz", "did you mean 'units'"]),
        ({**BASE, "model": {"type": "mlpp"}}, ["model.type", "mlpp", "did you mean 'mlp'"]),
        ({**BASE, "training": {"optimizer": {"type": "adamm"}}}, ["training.optimizer.type", "adamm", "did you mean 'adam'"]),
        ({**BASE, "training": {"loss": "mse2"}}, ["training.loss", "mse2"]),
        ({**BASE, "training": {"epochs": 0}}, ["training.epochs", "greater than 0", "received 0"]),
        ({**BASE, "training": {"batch_size": "big"}}, ["training.batch_size", "'big'"]),
        ({"dataset": {"source": "sklearn", "name": "digits", "split": {"train": 0.5, "val": 0.2, "test": 0.2}}},
         ["dataset.split", "sum to 1", "0.9"]),
        ({"dataset": {"source": "sklern", "name": "digits"}}, ["dataset.source", "did you mean 'sklearn'"]),
        ({**BASE, "model": {"type": "mlp", "layers": [{"units": 4, "activation": "relu2"}]}}, ["activation", "relu2"]),
        ({**BASE, "model": {"type": "cnn", "api": "functionl", "blocks": [{"type": "conv", "filters": 4}]}},
         ["model.api", "did you mean 'functional'"]),
        ({**BASE, "model": {"type": "backbone", "backbone": {"name": "resnet5"}}}, ["model.backbone.name", "resnet5"]),
        ({"dataset": {"source": "csv"}}, ["dataset", "dataset.path is required"]),
        ({**BASE, "model": {"type": "mlp", "layers": [{"units": 4, "dropout": 1.5}]}}, ["dropout", "1.5"]),
    ],
)
def test_bad_configs_name_key_and_value(data, words):
    with pytest.raises(ConfigError) as err:
        validate(data, "exp.yaml")
    msg = str(err.value)
    assert msg.startswith("exp.yaml: ")
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_overrides_parse_yaml_values_and_create_sections():
    data = apply_overrides({"a": {"b": 1}, "l": [{"u": 1}]}, ["a.b=1e-4", "a.c=[1, 2]", "x.y=true", "l.0.u=7", "s=hello"])
    assert data == {"a": {"b": 1e-4, "c": [1, 2]}, "x": {"y": True}, "l": [{"u": 7}], "s": "hello"}
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["nokey"])
    with pytest.raises(ConfigError, match="index"):
        apply_overrides({"l": [1]}, ["l.5=3"])


def test_overrides_are_validated_after_merge(quickstart):
    cfg = load_config(quickstart, ["training.optimizer.learning_rate=0.01", "model.layers.0.units=8"])
    assert cfg.training.optimizer.learning_rate == 0.01 and cfg.model.layers[0].units == 8
    with pytest.raises(ConfigError, match="training.epochs"):
        load_config(quickstart, ["training.epochs=-3"])


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ndataset: {source: sklearn\nmodel: 1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: YAML syntax error at line \d+, column \d+"):
        load_config(p)


def test_python_tags_are_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.yaml"
    p.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="tag not allowed"):
        load_config(p)
    assert not marker.exists()


def test_base_files_merge_and_sweep_files_are_refused_by_run(tmp_path, quickstart):
    child = tmp_path / "child.yaml"
    child.write_text(f"base: {quickstart}\nname: child\ntraining: {{epochs: 3}}\n")
    cfg = load_config(child)
    assert cfg.name == "child" and cfg.training.epochs == 3 and cfg.training.batch_size == 32
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"base: {quickstart}\ngrid: {{training.epochs: [1, 2]}}\n")
    assert "grid" in load_raw(sweep)
    with pytest.raises(ConfigError, match="sweep file"):
        load_config(sweep)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(tmp_path / "empty.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_activation_names_are_keras_activations():
    import keras

    for name in ACTIVATIONS:
        assert keras.activations.get(name) is not None, name


# ----------------------------------------------------------- hostile YAML files
def _bomb(levels: int = 10) -> list[str]:
    """Billion laughs: anchor k is a list of ten aliases of anchor k-1 (10**levels values)."""
    lines = ["    - &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"    - &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, levels)]
    return lines


HOSTILE_YAML = {
    "alias_bomb_at_typed_key": ("dataset: {source: sklearn, name: digits}\ntraining:\n  epochs:\n"
                                + "\n".join(_bomb()) + "\n", ["line 9, column 57", "aliases expand", "1,000,000 values"]),
    "alias_bomb_through_merge_keys": (
        "dataset: {source: sklearn, name: digits}\nm0: &m0 {a: 1, b: 2}\n"
        + "".join(f"m{k}: &m{k} {{<<: [*m{k - 1}], k{k}: [{', '.join([f'*m{k - 1}'] * 10)}]}}\n" for k in range(1, 10))
        + "training: {epochs: *m9}\n", ["aliases expand"]),
    "alias_bomb_of_long_strings": (
        "dataset: {source: sklearn, name: digits}\nname: &s '" + "y" * 200_000 + "'\n"
        + f"l1: &l1 [{', '.join(['*s'] * 10)}]\nl2: &l2 [{', '.join(['*l1'] * 10)}]\n", ["aliases expand"]),
    "recursive_alias": ("dataset: {source: sklearn, name: digits}\nseed: &a [1, *a]\n",
                        ["line 2, column 14", "alias *a refers", "recursive"]),
    "nesting_100k_flow": ("seed: " + "[" * 100_000 + "]" * 100_000 + "\n", ["line 1", "nested more than 100 levels"]),
    "nesting_block": ("seed:\n" + "".join("  " * k + "- \n" for k in range(1, 400)), ["nested more than 100 levels"]),
    "nesting_through_aliases": ("deep: &d " + "[" * 60 + "]" * 60 + "\nseed: " + "[" * 60 + "*d" + "]" * 60 + "\n",
                                ["line 2", "alias *d nests", "100 levels"]),
    "integer_5000_digits": ("dataset: {source: sklearn, name: digits}\nseed: " + "9" * 5000 + "\n",
                            ["line 2, column 7", "integer of 5000 characters", "at most 100 digits"]),
    "integer_tagged_5000_digits": ("seed: !!int '" + "9" * 5000 + "'\n", ["integer of 5000 characters"]),
    "hex_integer_5000_digits": ("seed: 0x" + "f" * 5000 + "\n", ["integer of 5002 characters"]),
    "impossible_date": ("dataset: {source: sklearn, name: digits}\nseed: 2001-13-45\n",
                        ["line 2, column 7", "cannot read '2001-13-45' as timestamp", "month"]),
    "file_over_1_mb": ("# " + "z" * 1_500_000 + "\nseed: 0\n", ["the file is 1.5 MB", "at most 1 MB"]),
}


@pytest.mark.parametrize("name", list(HOSTILE_YAML))
def test_hostile_yaml_is_one_line_config_error(tmp_path, name):
    text, words = HOSTILE_YAML[name]
    p = tmp_path / "hostile.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: ") and "\n" not in msg and len(msg) < 300, msg[:400]
    for w in words:
        assert w in msg, msg


def test_alias_bomb_in_a_sweep_grid_is_refused(tmp_path, quickstart):
    from dlhw.sweeps import build_plan

    p = tmp_path / "sweep.yaml"
    p.write_text(f"base: {quickstart}\ngrid:\n  seed:\n" + "\n".join(_bomb()) + "\n")
    with pytest.raises(ConfigError, match=r"sweep.yaml: line \d+, column \d+: aliases expand"):
        build_plan(p)


def test_a_small_alias_and_merge_still_load(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("dataset: {source: sklearn, name: digits}\n"
                 "model:\n  type: mlp\n  layers:\n    - &l {units: 8, activation: tanh}\n    - {<<: *l, units: 4}\n    - *l\n")
    cfg = load_config(p)
    assert [(layer.units, layer.activation) for layer in cfg.model.layers] == [(8, "tanh"), (4, "tanh"), (8, "tanh")]


def test_set_values_go_through_the_same_limits():
    with pytest.raises(ConfigError, match=r"^--set seed: an integer of 5000 characters"):
        apply_overrides({}, ["seed=" + "9" * 5000])
    with pytest.raises(ConfigError, match=r"^--set seed: nested more than 100 levels"):
        apply_overrides({}, ["seed=" + "[" * 5000 + "]" * 5000])


def test_a_huge_value_at_a_typed_key_is_shown_short():
    with pytest.raises(ConfigError) as err:
        validate({**BASE, "training": {"epochs": [list(range(200_000))] * 5}}, "exp.yaml")
    msg = str(err.value)
    assert msg.startswith("exp.yaml: training.epochs: ") and len(msg) < 200, msg[:400]
    with pytest.raises(ConfigError) as err:
        validate({**BASE, "training": {"loss": "q" * 4000}}, "exp.yaml")
    assert "training.loss: unknown loss 'qqq" in str(err.value) and len(str(err.value)) < 400
    for key in ("name", "training.loss", "dataset.path", "training.early_stopping.monitor"):
        data = json.loads(json.dumps({**BASE, "dataset": {"source": "csv", "path": "x.csv", "target": "y"}}))
        node = data
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
        node[key.split(".")[-1]] = "q" * 1_000_000
        with pytest.raises(ConfigError) as err:
            validate(data, "exp.yaml")
        msg = str(err.value)
        assert msg.startswith(f"exp.yaml: {key}: String should have at most 4096 characters") and len(msg) < 300, msg


# ------------------------------------------------------- numbers the schema refuses
@pytest.mark.parametrize(
    "data, words",
    [
        ({**BASE, "training": {"epochs": 10**30}}, ["training.epochs", "less than or equal to 1000000", "received 1" + "0" * 30]),
        ({**BASE, "training": {"batch_size": 10**30}}, ["training.batch_size", "between 1 and 10000000", "'full'"]),
        ({**BASE, "model": {"type": "mlp", "layers": [{"units": 10**30}]}}, ["model.layers.0.units", "1000000"]),
        ({**BASE, "seed": 10**30}, ["seed", "less than or equal to 4294967295"]),
        ({**BASE, "training": {"optimizer": {"learning_rate": float("inf")}}},
         ["training.optimizer.learning_rate", "finite number", "received inf"]),
        ({**BASE, "training": {"optimizer": {"learning_rate": 1e300}}},
         ["training.optimizer.learning_rate", "less than or equal to 1e+30", "received 1e+300"]),
        ({**BASE, "training": {"stages": [{"name": "a", "epochs": 1, "optimizer": {"learning_rate": float("nan")}}]}},
         ["training.stages.0.optimizer.learning_rate", "finite number", "nan"]),
        ({"dataset": {"source": "sklearn", "name": "digits", "split": {"train": float("nan"), "val": 0.5, "test": 0.5}}},
         ["dataset.split.train", "finite"]),
        ({**BASE, "model": {"type": "cnn", "blocks": [{"type": "conv", "filters": 4, "kernel": 10**9}]}},
         ["model.blocks.0.kernel", "1024"]),
        ({**BASE, "model": {"type": "backbone", "backbone": {"name": "resnet50"}, "classifier": {"gamma": float("inf")}}},
         ["model.classifier.gamma: ", "finite"]),
        ({**BASE, "training": {"batch_size": "big"}}, ["training.batch_size", "whole number", "or 'full'", "received 'big'"]),
        ({**BASE, "dataset": {"source": "sklearn", "name": "digits", "image_size": [16, 10**6]}},
         ["dataset.image_size", "at most 16384x16384"]),
    ],
)
def test_numbers_out_of_bounds_name_key_bound_and_value(data, words):
    with pytest.raises(ConfigError) as err:
        validate(data, "exp.yaml")
    msg = str(err.value)
    assert msg.startswith("exp.yaml: ") and "\n" not in msg
    for w in words:
        assert w in msg, msg


def _numeric_fields():
    """(model, field, kind) for every int / float field of every config section."""
    import typing

    from pydantic import BaseModel

    from dlhw.config.loader import _models_in
    from dlhw.config.schema import ExperimentConfig

    def leaves(tp):
        args = typing.get_args(tp)
        return [x for a in args for x in leaves(a)] if args else [tp]

    seen, todo, out = set(), [ExperimentConfig], []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            todo += _models_in(field.annotation)
            types = leaves(field.annotation)
            if str in types or any(isinstance(t, type) and issubclass(t, BaseModel) for t in types):
                continue  # names, labels, sections
            if typing.get_origin(field.annotation) is tuple:
                out.append((model, name, "tuple"))
            elif float in types:
                out.append((model, name, "float"))
            elif int in types:
                out.append((model, name, "int"))
    return out


NUMERIC = _numeric_fields()


@pytest.mark.parametrize("model, name, kind", NUMERIC, ids=[f"{m.__name__}.{n}" for m, n, _ in NUMERIC])
def test_every_number_in_the_schema_is_bounded(model, name, kind):
    """A class-level check: no numeric key takes 10**30, inf, nan or 1e300 (nothing overflows later)."""
    from pydantic import ValidationError

    bad = {"int": [10**30, -(10**30)], "tuple": [[10**30, 10**30]],
           "float": [float("inf"), float("-inf"), float("nan"), 1e300, -1e300]}[kind]
    for value in bad:
        with pytest.raises(ValidationError) as err:
            model.model_validate({name: value})
        assert any(e["loc"][:1] == (name,) for e in err.value.errors()), (name, value, err.value.errors())


def test_the_numeric_field_walk_sees_the_fields_that_matter():
    names = {f"{m.__name__}.{n}" for m, n, _ in NUMERIC}
    for key in ("TrainingConfig.epochs", "TrainingConfig.batch_size", "DenseLayerConfig.units", "ExperimentConfig.seed",
                "OptimizerConfig.learning_rate", "ConvBlock.filters", "ConvBlock.kernel", "SplitConfig.train",
                "EarlyStoppingConfig.patience", "DatasetConfig.image_size", "ClassifierConfig.gamma"):
        assert key in names, key


# ------------------------------------------------------------- batch_size: full
def test_batch_size_full_is_a_value(tmp_path, quickstart):
    cfg = load_config(quickstart, ["training.batch_size=full"])
    assert cfg.training.batch_size == "full"
    assert validate(cfg.dump()).training.batch_size == "full"
    diag = REPO / "configs" / "s3_diagnostics" / "batch_gd.yaml"
    assert load_config(diag).training.batch_size == "full"
    from dlhw.sweeps import build_plan

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"base: {quickstart}\ngrid: {{training.batch_size: [32, full]}}\n")
    plan = build_plan(sweep)
    assert [t.cfg.training.batch_size for t in plan.trials] == [32, "full"]
    assert [t.name for t in plan.trials] == ["batch_size-32", "batch_size-full"]


def test_batch_size_full_trains_on_the_whole_training_split(tmp_path, quickstart):
    """--set training.batch_size=full: one batch of the training split's size; the run folder says how many."""
    import json

    from typer.testing import CliRunner

    from dlhw.cli import app

    sets = ["training.batch_size=full", "training.epochs=1", "model.layers=[{units: 8}]", "training.tensorboard=false",
            "training.checkpoint=false", "evaluation.samples=0"]
    res = CliRunner().invoke(app, ["run", str(quickstart), "--out", str(tmp_path / "runs"), "--quiet", "--set", *sets])
    assert res.exit_code == 0, res.output
    run = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    from dlhw.data import load_dataset

    train_size = len(load_dataset(load_config(quickstart)).splits["train"])
    assert train_size > 1000  # digits: 1797 samples, 70 % of them
    assert metrics["batch_size"] == train_size
    text = (run / "config.yaml").read_text()
    assert text.startswith(f"# training.batch_size: full = {train_size} ")
    assert yaml.safe_load(text)["training"]["batch_size"] == "full"  # the config as written: a rerun stays full-batch
