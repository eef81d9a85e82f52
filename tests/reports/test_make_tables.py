"""experiments/make_tables.py on the committed tiny sweep folder: the write-ups' claims and groups tables
come from the report, and --check notices a table that is out of date."""

from __future__ import annotations

import importlib.util
import shutil

from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "claims_tiny"
README = """# S9

<!-- table: claims S9/claims_tiny -->
typed by hand
<!-- /table -->

<!-- table: groups S9/claims_tiny metric=val_accuracy -->
<!-- /table -->
"""


def _make_tables():
    spec = importlib.util.spec_from_file_location("make_tables", REPO / "experiments" / "make_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_claims_and_groups_tables_are_generated_and_checked(tmp_path):
    runs, exp = tmp_path / "runs", tmp_path / "experiments"
    shutil.copytree(FIXTURE, runs / "S9" / "claims_tiny")
    (exp / "S9").mkdir(parents=True)
    readme = exp / "S9" / "README.md"
    readme.write_text(README)
    mt = _make_tables()
    args = ["--runs", str(runs), "--experiments", str(exp), "S9"]
    assert mt.main(args + ["--check"]) == 1  # "typed by hand" is stale
    assert mt.main(args) == 0
    text = readme.read_text()
    assert "typed by hand" not in text
    verdicts = [line.split("|")[2].strip() for line in text.splitlines() if "better than" in line or "same as" in line]
    assert verdicts == ["**held**", "**refuted**", "**inconclusive**"]
    group_lines = [line for line in text.splitlines() if line.startswith("| learning_rate=") and "than" not in line
                   and "same as" not in line]
    assert len(group_lines) == 3 and all("| 3 |" in line and "| t |" in line for line in group_lines)
    assert mt.main(args + ["--check"]) == 0  # regenerated: up to date
