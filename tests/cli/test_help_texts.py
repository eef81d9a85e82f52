"""Every command's --help describes each option in a sentence; `dlhw show` prints what matters."""

from __future__ import annotations

import re

import typer
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import REPO


def commands(cmd=None, path=()):
    """(command words, click command) for every leaf command, sub-apps (dlhw data ...) included."""
    cmd = cmd or typer.main.get_command(app)
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from commands(sub, (*path, name))
    else:
        yield path, cmd


def test_every_option_and_argument_has_a_sentence_of_help():
    found = list(commands())
    names = {" ".join(p) for p, _ in found}
    assert {"run", "sweep", "report", "validate", "show", "summary", "predict", "inspect", "list", "schema",
            "data preview"} <= names
    bad = []
    for path, cmd in found:
        assert cmd.help and cmd.help[0].isupper(), path
        for param in cmd.params:
            text = getattr(param, "help", None) or ""
            if len(text.split()) < 4 or not re.match(r"[A-Z`]", text) or not text.rstrip().endswith((".", ")")):
                bad.append(f"dlhw {' '.join(path)} {param.name}: {text!r}")
    assert not bad, "\n".join(bad)


def test_help_of_each_command_shows_every_option():
    for path, cmd in commands():
        res = CliRunner().invoke(app, [*path, "--help"])
        assert res.exit_code == 0, path
        for param in cmd.params:
            if param.param_type_name == "option":
                assert param.opts[0] in res.output, (path, param.opts[0])


def test_show_lists_what_matters_and_all_lists_every_default():
    quickstart = str(REPO / "configs" / "quickstart.yaml")
    short = CliRunner().invoke(app, ["show", quickstart])
    full = CliRunner().invoke(app, ["show", quickstart, "--all"])
    assert short.exit_code == 0 and full.exit_code == 0
    body = yaml.safe_load(short.output)
    every = yaml.safe_load(full.output)
    # a sklearn dataset: no image or text keys, no null options; an adam optimizer: no sgd momentum
    for key in ("image_size", "color_mode", "num_words", "image_column", "path", "folds"):
        assert key not in body["dataset"] and key in every["dataset"]
    assert "momentum" not in body["training"]["optimizer"] and "nesterov" in every["training"]["optimizer"]
    assert "tracking" not in body and every["tracking"] == {"mlflow": None, "wandb": None}
    # slurm: (read by --executor slurm only) and dataset.limits (image and sequence files) at their defaults
    assert "slurm" not in body and "slurm" in every and "limits" not in body["dataset"] and "limits" in every["dataset"]
    # what it uses stays, defaults included, and the run's values are the same in both
    assert body["dataset"]["standardize"] is True and body["training"]["shuffle"] is True
    assert body["model"] == {k: v for k, v in every["model"].items() if v is not None} | {
        "output": {"activation": "softmax"}}
    left = re.search(r"# (\d+) unset or unused keys left out; `dlhw show .* --all` prints them", short.output)
    assert left and int(left.group(1)) > 10 and "left out" not in full.output


def test_show_keeps_a_key_of_another_variant_when_it_is_set(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: c\ndataset: {source: sklearn, name: digits, image_size: [32, 32]}\n"
                   "model: {type: mlp, layers: [{units: 4}]}\n")
    body = yaml.safe_load(CliRunner().invoke(app, ["show", str(cfg)]).output)
    assert body["dataset"]["image_size"] == [32, 32]
