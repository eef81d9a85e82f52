"""A scheduled search on Ray: each rung (or PBT generation) is one batch of Ray tasks handed out by
the engine; the next is planned when it has ended (the barrier is in the search source)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlhw.cli import app
from tests.sweeps.test_search_pbt import check_population, pbt_file
from tests.sweeps.test_search_promotion import epochs_of, search_file

runner = CliRunner()


@pytest.fixture
def ray_env(monkeypatch):
    """No RAY_ADDRESS or auth settings from the caller; a private RAY_TMPDIR (see tests/sweeps/test_ray.py)."""
    pytest.importorskip("ray")
    pytest.importorskip("optuna")
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    tmp = Path(tempfile.mkdtemp(prefix="dlhw-t-"))
    monkeypatch.setenv("RAY_TMPDIR", str(tmp))
    yield tmp
    import ray

    if ray.is_initialized():
        ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
def test_successive_halving_on_ray_promotes_from_the_checkpoint(tmp_path, ray_env):
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
def test_pbt_on_ray(tmp_path, ray_env):
    f = pbt_file(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--executor", "ray",
                            "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert check_population(out / "s")["executor"] == "ray"
