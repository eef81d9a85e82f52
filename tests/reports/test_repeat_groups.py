"""Repeats are runs whose configs differ only in seed, split or fold: a rerun's -2 folder is no repeat."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import yaml

from dlhw.reports import make_report
from dlhw.reports.stats import interval
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "claims_tiny"
GROUP = "learning_rate-0.01"


def _row(rep, name):
    return next(r for r in rep.rows if r.name == name)


def test_groups_have_n_mean_and_the_scipy_interval_in_every_output(tmp_path):
    sweep = Path(shutil.copytree(FIXTURE, tmp_path / "s"))
    rep = make_report([sweep], tmp_path / "rep")
    row = _row(rep, GROUP)
    vals = [rec.metrics["val"]["accuracy"] for rec in row.runs]
    assert row.n == 3 and row.intervals["val_accuracy"] == interval(vals)
    rows = list(csv.DictReader(io.StringIO((rep.out / "summary.csv").read_text())))
    got = next(r for r in rows if r["run"] == GROUP)
    assert float(got["val_accuracy_ci_low"]) == interval(vals).low and got["ci_method"] == "t"
    md = (rep.out / "summary.md").read_text()
    assert "95% CI" in md and "Student's t" in md
    assert f"[{interval(vals).low:.4f}, {interval(vals).high:.4f}] t" in md


def _rerun(sweep: Path, trial: str) -> Path:
    """What a rerun leaves: the trial's folder again as <trial>-2, which sweep.json's entry now names."""
    shutil.copytree(sweep / trial, sweep / f"{trial}-2")
    data = json.loads((sweep / "sweep.json").read_text())
    next(t for t in data["trials"] if t["name"] == trial)["run_dir"] = f"{trial}-2"
    (sweep / "sweep.json").write_text(json.dumps(data))
    return sweep / f"{trial}-2"


def test_a_rerun_folder_with_the_same_config_replaces_and_a_changed_config_is_its_own_row(tmp_path):
    sweep = Path(shutil.copytree(FIXTURE, tmp_path / "s"))
    _rerun(sweep, f"{GROUP}_seed-0")  # the same run again: the same seed, not a fourth repeat
    rep = make_report([sweep], tmp_path / "rep")
    assert [r.group for r in rep.records].count(GROUP) == 4  # both folders belong to the trial's group
    assert _row(rep, GROUP).n == 3
    changed = _rerun(sweep, f"{GROUP}_seed-1")
    cfg = yaml.safe_load((changed / "config.yaml").read_text())
    cfg["training"]["epochs"] = 7  # not a repeat: another experiment
    (changed / "config.yaml").write_text(yaml.safe_dump(cfg))
    rep = make_report([sweep], tmp_path / "rep")
    names = [r.name for r in rep.rows]
    assert _row(rep, GROUP).n == 3 and len(names) == 4
    assert any(r.n == 1 and r.runs[0].path == changed for r in rep.rows)


def test_the_api_table_carries_the_interval_columns_and_the_claims(tmp_path):
    import dlhw

    sweep = dlhw.load(Path(shutil.copytree(FIXTURE, tmp_path / "s")))
    table = sweep.table("val_accuracy")
    row = table[table["run"] == GROUP].iloc[0]
    assert row["n"] == 3 and row["ci_method"] == "t"
    assert row["val_accuracy_ci_low"] < row["val_accuracy"] < row["val_accuracy_ci_high"]
    assert [c["verdict"] for c in sweep.claims()] == ["held", "refuted", "inconclusive"]
