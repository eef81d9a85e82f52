"""A scheduled search on Ray: each rung (or PBT generation) is one batch of Ray tasks handed out by
the engine; the next is planned when it has ended (the barrier is in the search source)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dlhw.cli import app
from tests.sweeps.test_ray import ray_env  # noqa: F401 - the fixture: no caller's Ray settings, a private RAY_TMPDIR
from tests.sweeps.test_search_pbt import check_population, pbt_file
from tests.sweeps.test_search_promotion import epochs_of, search_file

pytest.importorskip("optuna")
pytestmark = pytest.mark.usefixtures("ray_env")

runner = CliRunner()


@pytest.mark.slow
def test_successive_halving_on_ray_promotes_from_the_checkpoint(tmp_path):
    f = search_file(tmp_path, {"type": "successive_halving", "min_epochs": 1, "reduction_factor": 3})
    out = tmp_path / "out"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--executor", "ray",
                            "--workers", "2"])
    assert r.exit_code == 0, r.output
    sweep_dir = out / "s"
    m = json.loads((sweep_dir / "sweep.json").read_text())
    assert m["executor"] == "ray"
    assert sorted(t["status"] for t in m["trials"]) == ["completed", "paused", "paused"]
    for t in m["trials"]:
        assert epochs_of(sweep_dir / t["run_dir"]) == ([1] if t["status"] == "paused" else [1, 2, 3])


@pytest.mark.slow
def test_pbt_on_ray(tmp_path):
    f = pbt_file(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--executor", "ray",
                            "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert check_population(out / "s")["executor"] == "ray"
