"""dlhw.config.fingerprint: the one config hash of checkpoints, --resume and sweeps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from dlhw.config import load_config, validate
from dlhw.config.fingerprint import fingerprint, shape_fingerprint
from dlhw.sweeps import build_plan
from dlhw.sweeps.manifest import locate
from tests.conftest import REPO, TINY

STAGED = {
    "name": "staged", "task": "classification",
    "dataset": {"source": "image_folder", "path": "data/cars", "image_size": [64, 64]},
    "model": {"type": "backbone", "backbone": {"name": "resnet50", "weights": None, "pooling": "avg"},
              "output": {"units": 1, "activation": "sigmoid"}},
    "training": {"batch_size": 8, "stages": [
        {"name": "head", "epochs": 2, "optimizer": {"type": "adam", "learning_rate": 0.001}},
        {"name": "finetune", "epochs": 2, "unfreeze": {"last_layers": 5},
         "optimizer": {"type": "adam", "learning_rate": 1.0e-5},
         "early_stopping": {"monitor": "val_accuracy", "patience": 1}}]},
}


def checkpoint_hash_before(cfg) -> str:
    """The formula checkpoints stored before the two hashes became one (dlhw.rundir.resume.config_hash),
    on the dump as that dlhw wrote it: without training.keep_checkpoints, tracking and the keys of LATE_DEFAULTS
    (added since; left out of the hash at their defaults, tracking always; test_new_keys_at_their_defaults_keep_the_shipped_configs_hashes
    checks that against hashes that dlhw computed)."""
    from dlhw.config.fingerprint import _without_late_defaults

    dump = cfg.dump()
    dump["training"].pop("keep_checkpoints")
    dump.pop("tracking")
    dump.pop("slurm")  # where a trial runs (added since; left out of the hash always, like tracking)
    dump = _without_late_defaults(dump)
    text = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def written_config(cfg, folder: Path) -> Path:
    """config.yaml as a run writes it (dlhw.orchestration.experiment)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.dump(), sort_keys=False))
    return folder / "config.yaml"


@pytest.mark.parametrize("config", ["quickstart", "staged", "tiny"])
def test_run_folders_written_before_keep_their_hash(tmp_path, config):
    """Checkpoints written before store the hash --resume compares: the new one is the same number,
    from the config object and from the run folder's config.yaml read back."""
    cfg = (load_config(REPO / "configs" / "quickstart.yaml") if config == "quickstart"
           else validate(STAGED if config == "staged" else TINY))
    path = written_config(cfg, tmp_path / "run")
    assert fingerprint(cfg) == checkpoint_hash_before(cfg)
    assert fingerprint(yaml.safe_load(path.read_text())) == fingerprint(cfg) == fingerprint(load_config(path))
    assert len(fingerprint(cfg)) == 16 and int(fingerprint(cfg), 16) >= 0


def test_the_run_name_is_part_of_the_hash(tmp_path):
    """A run renamed with --set name= is another experiment: another hash (resume refuses it too)."""
    cfg = validate(TINY)
    renamed = load_config(written_config(cfg, tmp_path / "run"), ["name=renamed"])
    assert fingerprint(renamed) != fingerprint(cfg)
    assert shape_fingerprint(renamed) == shape_fingerprint(cfg)  # same time per epoch all the same
    assert shape_fingerprint(validate({**TINY, "seed": 5, "training": {**TINY["training"], "epochs": 9}})) \
        == shape_fingerprint(cfg)
    assert shape_fingerprint(validate({**TINY, "model": {"type": "mlp", "layers": [{"units": 8}]}})) \
        != shape_fingerprint(cfg)
    with pytest.raises(TypeError, match="fingerprint"):
        fingerprint("tiny.yaml")


def test_sweep_trials_use_the_checkpoint_hash(tmp_path):
    """A sweep's trial hash is the one its checkpoints carry; two trials that differ only by name
    (two identical files of a folder sweep) no longer share one."""
    for name in ("a", "b"):
        (tmp_path / "sweep" / f"{name}.yaml").parent.mkdir(exist_ok=True)
        (tmp_path / "sweep" / f"{name}.yaml").write_text(yaml.safe_dump(TINY))
    plan = build_plan(tmp_path / "sweep")
    assert [t.name for t in plan.trials] == ["a", "b"]
    assert [t.hash for t in plan.trials] == [fingerprint(t.cfg) for t in plan.trials]
    assert [t.hash for t in plan.trials] == [checkpoint_hash_before(t.cfg) for t in plan.trials]
    assert plan.trials[0].hash != plan.trials[1].hash
    assert plan.trials[0].shape == plan.trials[1].shape


def test_a_sweep_completed_before_is_still_completed(tmp_path):
    """Trial folders as an earlier dlhw left them (config.yaml, status.json, metrics.json) are
    recognised as done: the sweep would skip them. One whose config.yaml carries another name is not."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({"base": "base.yaml",
                                                        "grid": {"model.layers.0.units": [4, 8]}}))
    plan = build_plan(tmp_path / "grid.yaml")
    sweep_dir = tmp_path / "runs" / "grid"
    for t in plan.trials:
        folder = sweep_dir / t.name
        written_config(t.cfg, folder)
        (folder / "status.json").write_text(json.dumps({"status": "completed", "name": t.name}))
        (folder / "metrics.json").write_text(json.dumps({"val": {"accuracy": 0.5}, "train_seconds": 1.0}))
    assert [locate(t, sweep_dir).state for t in plan.trials] == ["done", "done"]
    other = plan.trials[1]
    written_config(validate({**other.raw, "name": "elsewhere"}), sweep_dir / other.name)
    where = locate(other, sweep_dir)
    assert where.state == "changed" and where.detail.startswith("name: 'elsewhere'"), where


def test_new_keys_at_their_defaults_keep_the_shipped_configs_hashes():
    """tests/fixtures/config_hashes.json: the hashes of the shipped configs as dlhw computed them
    before issue 16's keys existed (commit dc37956). A key added to the schema since changes every
    resolved dump; fingerprint leaves it out while it holds its default (LATE_DEFAULTS), so older run
    folders keep resuming and older sweeps keep their finished trials. A failure here means a new key
    is missing from LATE_DEFAULTS (or a shipped config was edited on purpose: then update the file)."""
    root = REPO
    golden = json.loads((root / "tests" / "fixtures" / "config_hashes.json").read_text())
    assert len(golden) >= 20
    changed = {path: (want, fingerprint(load_config(root / path))) for path, want in golden.items()}
    changed = {p: v for p, v in changed.items() if v[0] != v[1]}
    assert not changed, f"hashes changed (want, got): {changed}"


def test_a_new_key_away_from_its_default_changes_the_hash():
    from dlhw.config.fingerprint import LATE_DEFAULTS

    base = validate({"dataset": {"source": "sklearn", "name": "digits"}})
    assert "dataset.standardize" in LATE_DEFAULTS
    other = validate({"dataset": {"source": "sklearn", "name": "digits", "standardize": False}})
    assert fingerprint(base) != fingerprint(other)
