"""Check everything before writing anything: a sweep or search whose trials cannot get their data
stops with exit 2 and one line before its folder exists; a rerun makes no second folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import TINY

runner = CliRunner()
KERAS = {**TINY, "dataset": {"source": "keras", "name": "mnist", "max_samples": 100}}


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def offline_keras(tmp_path, monkeypatch):
    """An empty Keras cache, and mnist's download host out of reach (checked, not assumed)."""
    from dlhw.sweeps.planning.preflight import KERAS_CACHE, reachable

    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    if reachable(KERAS_CACHE["mnist"][1]) is None:
        pytest.skip("this machine can download mnist: the offline case cannot happen here")
    return home


@pytest.mark.parametrize("kind", ["grid", "search"])
def test_a_sweep_over_a_keras_set_not_downloaded_offline_writes_nothing(tmp_path, offline_keras, kind):
    if kind == "grid":
        f = write(tmp_path / "k.yaml", {**KERAS, "grid": {"training.epochs": [1, 2]}})
    else:
        pytest.importorskip("optuna")
        space = {"training.optimizer.learning_rate": {"log_uniform": [1.0e-4, 1.0e-2]}}
        f = write(tmp_path / "k.yaml", {**KERAS, "search": {"trials": 2, "sampler": "random"}, "space": space})
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--workers", "1"])
    assert r.exit_code == 2, r.output
    lines = [s for s in r.output.splitlines() if s.strip()]
    assert len(lines) == 1, r.output
    assert "keras dataset 'mnist' is not in the Keras cache" in lines[0] and "mnist.npz" in lines[0], lines[0]
    assert not (out / "k").exists() and not out.exists()  # nothing written, not even the sweep folder
    assert list(offline_keras.iterdir()) == []


def test_one_grid_value_without_its_data_names_it_and_counts(tmp_path):
    from tests.conftest import make_csv

    good = make_csv(tmp_path / "good.csv")
    base = {**TINY, "dataset": {"source": "csv", "path": str(good), "target": "label"}}
    f = write(tmp_path / "two.yaml", {**base, "grid": {"dataset.path": [str(good), str(tmp_path / "gone.csv")]}})
    r = runner.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    assert "1 of 2 trial configs cannot get their data" in r.output and "gone.csv" in r.output, r.output
    assert not (tmp_path / "runs").exists()


def test_a_rerun_reuses_the_folders_of_failed_and_completed_trials(tmp_path):
    """Trials that failed (3 output units for 10 classes) and completed: run again, each keeps its
    one folder; no ``<trial>-2`` appears, and the report sees 2 trials, not 4."""
    from dlhw.api import sweep

    base = write(tmp_path / "base.yaml", TINY)
    f = write(tmp_path / "again.yaml", {"base": base.name, "grid": {"model.output.units": [None, 3]}})
    out = tmp_path / "runs"
    first = sweep(f, out=out, workers=1, quiet=True)
    assert sorted(r["status"] for r in first.results) == ["completed", "failed"]
    folders = sorted(p.name for p in (out / "again").iterdir() if p.is_dir())
    second = sweep(f, out=out, workers=1, quiet=True)
    assert sorted(r["status"] for r in second.results) == ["failed", "skipped"]
    assert sorted(p.name for p in (out / "again").iterdir() if p.is_dir()) == folders
    assert not any(name.endswith("-2") for name in folders)
    manifest = json.loads((out / "again" / "sweep.json").read_text())
    assert [t["run_dir"] for t in manifest["trials"]] == [t["name"] for t in manifest["trials"]]
