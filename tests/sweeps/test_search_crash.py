"""A search's study after a crash or a change: a torn journal, a damaged one (--repair), a lost one
(rebuilt from the trial folders, nothing retrained), a changed definition (refused; --new-study),
and --set on search.* and space.* keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import REPO, TINY

pytest.importorskip("optuna")
runner = CliRunner()
LR = "training.optimizer.learning_rate"
UNITS = "model.layers.0.units"


def sweep(f: Path, out: Path, *args: str):
    return runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--workers", "1", *args])


def study_trials(sweep_dir: Path):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))
    return [(t.number, t.params, t.state.name, t.values)
            for t in optuna.load_study(study_name=sweep_dir.name, storage=storage).trials]


def stamps(sweep_dir: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in sweep_dir.glob("0*/metrics.json")}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A search of 3 one-epoch trials, run once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("finished")
    (root / "base.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    f = root / "s.yaml"
    f.write_text(yaml.safe_dump({"base": "base.yaml", "search": {"trials": 3, "sampler": "tpe", "seed": 2},
                                 "space": {LR: {"log_uniform": [1.0e-3, 1.0e-1]}, UNITS: [4, 8, 16]}}))
    r = sweep(f, root / "out")
    assert r.exit_code == 0, r.output
    return root


@pytest.fixture
def copy(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "c")
    return tmp_path / "c" / "s.yaml", tmp_path / "c" / "out", tmp_path / "c" / "out" / "s"


def test_a_torn_last_record_is_dropped_with_one_warning_and_nothing_is_lost(copy):
    f, out, sweep_dir = copy
    before, when = study_trials(sweep_dir), stamps(sweep_dir)
    journal = sweep_dir / "study.journal"
    journal.write_bytes(journal.read_bytes()[:-25])  # a crash in the middle of the last write
    r = sweep(f, out)
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(journal) in warnings[0] and "torn" in warnings[0], r.output
    assert study_trials(sweep_dir) == before and stamps(sweep_dir) == when  # the last trial told again, not retrained


def test_a_damaged_record_names_file_and_line_and_repair_rebuilds_the_study(copy):
    f, out, sweep_dir = copy
    before, when = study_trials(sweep_dir), stamps(sweep_dir)
    journal = sweep_dir / "study.journal"
    lines = journal.read_text().splitlines(keepends=True)
    lines[3] = '{"op_code": 5, "trial_id": 0, "par\n'
    journal.write_text("".join(lines))
    r = sweep(f, out)
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and f"{journal}: line 4: a damaged study record" in line and "--repair" in line, line
    r = sweep(f, out, "--repair")
    assert r.exit_code == 0, r.output
    assert (sweep_dir / "study.journal.damaged").is_file()
    assert study_trials(sweep_dir) == before and stamps(sweep_dir) == when


def test_a_record_that_lost_a_parameter_is_refused_with_repair(copy):
    f, out, sweep_dir = copy
    journal = sweep_dir / "study.journal"
    kept = [ln for ln in journal.read_text().splitlines(keepends=True)
            if not ('"op_code":5' in ln and UNITS in ln and '"trial_id":1' in ln)]
    journal.write_text("".join(kept))
    r = sweep(f, out)
    assert r.exit_code == 2 and f"trial 1 has no value for space.{UNITS}" in r.output and "--repair" in r.output, r.output


@pytest.mark.parametrize("how", ["empty", "missing"])
def test_a_lost_study_beside_finished_trials_is_rebuilt_not_retrained(copy, how):
    f, out, sweep_dir = copy
    before, when = study_trials(sweep_dir), stamps(sweep_dir)
    journal = sweep_dir / "study.journal"
    journal.write_text("") if how == "empty" else journal.unlink()
    r = sweep(f, out)
    assert r.exit_code == 0, r.output
    assert "rebuilding the study from them" in r.output and "nothing to train" in r.output
    assert study_trials(sweep_dir) == before and stamps(sweep_dir) == when


def test_a_changed_definition_is_refused_and_new_study_keeps_the_old_one(copy):
    f, out, sweep_dir = copy
    r = sweep(f, out, "--set", f"space.{UNITS}=[4, 32]")
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and f"space.{UNITS}: [4, 8, 16] -> [4, 32]" in line and "--new-study" in line, line
    r = sweep(f, out, "--set", "search.seed=9")
    assert r.exit_code == 2 and "search.seed: 0" not in r.output and "search.seed: 2 -> 9" in r.output, r.output
    r = sweep(f, out, "--set", "search.metric=val_loss")
    assert r.exit_code == 2 and "search.metric: " in r.output, r.output
    old = sorted(p.name for p in sweep_dir.glob("0*"))
    r = sweep(f, out, "--set", f"space.{UNITS}=[4, 32]", "--set", "search.trials=1", "--new-study")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (sweep_dir / ".studies" / "1").glob("0*")) == old
    trials = study_trials(sweep_dir)
    assert len(trials) == 1 and trials[0][1][UNITS] in (4, 32)


def test_trials_may_be_raised_to_continue_or_lowered(copy):
    f, out, sweep_dir = copy
    when = stamps(sweep_dir)
    r = sweep(f, out, "--set", "search.trials=2")
    assert r.exit_code == 0 and "nothing to train" in r.output, r.output
    r = sweep(f, out, "--set", "search.trials=4")
    assert r.exit_code == 0 and "3 in the study, 0 to resume, 1 to ask" in r.output, r.output
    assert len(study_trials(sweep_dir)) == 4 and all(stamps(sweep_dir)[k] == v for k, v in when.items())


def test_every_search_and_space_key_can_be_set_on_a_shipped_search(tmp_path):
    f = REPO / "configs" / "search" / "quickstart_search.yaml"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(tmp_path), "--dry-run", "--set", "search.trials=3",
                            "--set", "search.pruner.reduction_factor=2", "--set", "search.sampler=random",
                            "--set", "space.training.optimizer.type=[sgd, adam]",
                            "--set", "space.training.batch_size=null"])
    assert r.exit_code == 0, r.output
    for text in ("budget:  3 trials", "sampler: random", "reduction factor 2", "one of sgd, adam"):
        assert text in r.output, text
    assert "training.batch_size" not in r.output
    r = runner.invoke(app, ["sweep", str(f), "--out", str(tmp_path), "--dry-run", "--set", "search.trials=0"])
    assert r.exit_code == 2 and "search.trials" in r.output, r.output
