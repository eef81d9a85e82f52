"""Config schema and loader: the contract examples validate, mistakes get one clear line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dlhw.config import apply_overrides, load_config, load_raw, validate
from dlhw.config.names import ACTIVATIONS
from dlhw.errors import ConfigError

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "CONFIG.md"


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
