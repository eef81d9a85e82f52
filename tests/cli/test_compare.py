"""dlhw compare A B on the committed tiny sweep folder: groups, runs, the paired test, the PNG, bad paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from scipy import stats as S
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.reports.compare import compare
from tests.conftest import REPO

runner = CliRunner()
FIXTURE = REPO / "tests" / "fixtures" / "claims_tiny"


@pytest.fixture
def sweep(tmp_path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "claims_tiny"))


def test_two_groups_paired_by_seed(sweep):
    cmp = compare(str(sweep / "learning_rate-0.01"), str(sweep / "learning_rate-1e-06"))
    assert cmp.config_diff == [("training.optimizer.learning_rate", 0.01, 1e-06)]
    row = next(r for r in cmp.rows if r.metric == "val_accuracy")
    a = [r.metrics["val"]["accuracy"] for r in sorted(cmp.a.runs, key=lambda r: r.config["seed"])]
    b = [r.metrics["val"]["accuracy"] for r in sorted(cmp.b.runs, key=lambda r: r.config["seed"])]
    assert row.a.n == row.b.n == 3 and row.diff.paired and row.diff.method == "paired t"
    assert row.diff.p == pytest.approx(S.ttest_rel(a, b).pvalue)


def test_the_command_prints_the_table_and_writes_the_png(sweep, tmp_path):
    png = tmp_path / "cmp.png"
    r = runner.invoke(app, ["compare", str(sweep / "learning_rate-0.01"), str(sweep / "learning_rate-0.009"),
                            "--out", str(png)])
    assert r.exit_code == 0, r.output
    assert "training.optimizer.learning_rate" in r.output and "paired t" in r.output
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"


def test_single_runs_have_no_test_and_a_missing_side_is_exit_2(sweep, tmp_path):
    cmp = compare(str(sweep / "learning_rate-0.01_seed-0"), str(sweep / "learning_rate-0.009_seed-0"))
    assert all(r.diff is None and "one run" in r.note for r in cmp.rows)
    r = runner.invoke(app, ["compare", str(sweep / "learning_rate-0.01"), str(sweep / "nope"),
                            "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "nope" in r.output and "learning_rate-0.009" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()
