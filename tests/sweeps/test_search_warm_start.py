"""search.warm_start: a new study seeded with the finished trials of an earlier search that fit
its space (the rest skipped, counted in one line); a folder that is no sweep: exit 2, one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import TINY

pytest.importorskip("optuna")
runner = CliRunner()
LR = "training.optimizer.learning_rate"
UNITS = "model.layers.0.units"


def write(path: Path, search: dict, space: dict) -> Path:
    (path.parent / "base.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    path.write_text(yaml.safe_dump({"base": "base.yaml", "search": search, "space": space}, sort_keys=False))
    return path


def sweep(f: Path, out: Path, *args: str):
    return runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--workers", "1", *args])


def test_a_new_search_starts_from_the_earlier_trials_that_fit_its_space(tmp_path):
    lr = {"log_uniform": [1.0e-3, 1.0e-1]}
    first = write(tmp_path / "first.yaml", {"trials": 3, "sampler": "random", "seed": 0,
                                            "enqueue": [{UNITS: 4}, {UNITS: 8}, {UNITS: 16}]},
                  {LR: lr, UNITS: [4, 8, 16]})
    r = sweep(first, tmp_path / "out")
    assert r.exit_code == 0, r.output
    second = write(tmp_path / "second.yaml", {"trials": 2, "sampler": "tpe", "seed": 0,
                                              "warm_start": str(tmp_path / "out" / "first")},
                   {LR: lr, UNITS: [4, 8]})
    r = sweep(second, tmp_path / "out")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("search.warm_start:")]
    assert len(lines) == 1 and "2 finished trial(s)" in lines[0] and "1 skipped" in lines[0], r.output
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "out" / "second" / "study.journal")))
    trials = optuna.load_study(study_name="second", storage=storage).trials
    warm = [t for t in trials if "dlhw_warm_start" in t.system_attrs]
    assert sorted(t.params[UNITS] for t in warm) == [4, 8] and all(t.state.name == "COMPLETE" for t in warm)
    own = sorted(p.name for p in (tmp_path / "out" / "second").glob("0*") if p.is_dir())
    assert len(own) == 2 and own[0].startswith("002_")  # 2 trials of its own; the seeded ones are not retrained
    again = sweep(second, tmp_path / "out")
    assert again.exit_code == 0 and "nothing to train" in again.output, again.output


@pytest.mark.parametrize("what", ["missing", "not a sweep"])
def test_a_warm_start_from_a_folder_that_is_no_sweep_is_one_line_exit_2(tmp_path, what):
    folder = tmp_path / "elsewhere"
    if what == "not a sweep":
        folder.mkdir()
        (folder / "notes.txt").write_text("x")
    f = write(tmp_path / "s.yaml", {"trials": 2, "warm_start": str(folder)}, {UNITS: [4, 8]})
    r = sweep(f, tmp_path / "out")
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and f"search.warm_start: {folder}" in line, line
    assert ("does not exist" if what == "missing" else "is no search's sweep folder") in line
    assert not (tmp_path / "out").exists()
