"""What --executor slurm refuses, each as one line with exit 2 and nothing lost; the slurm: block's checks."""

from __future__ import annotations

import json

import pytest

from dlhw.config import validate
from dlhw.config.fingerprint import fingerprint
from dlhw.errors import ConfigError
from tests.slurm.slurm_helpers import TRIAL, dlhw, slurm_cluster, write_sweep  # noqa: F401 (the fixture)


@pytest.mark.usefixtures("slurm_cluster")
def test_a_bad_partition_is_one_line_exit_2_and_nothing_lost(tmp_path):
    sweep = write_sweep(tmp_path / "grid.yaml", {"training.optimizer.learning_rate": [0.001, 0.01]})
    res = dlhw("sweep", str(sweep), "--out", str(tmp_path / "runs"), "--executor", "slurm",
               "--set", "slurm.partition=nosuchpartition")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "sbatch refused the submission" in lines[0] and "partition" in lines[0], lines[0]
    sweep_dir = tmp_path / "runs" / "grid"
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert sorted(t["status"] for t in manifest["trials"]) == ["queued", "queued"]  # still to run, not lost
    assert not (sweep_dir / "slurm.json").exists()  # nothing was submitted
    # the same sweep on the right partition then runs them: --dry-run says what it would submit
    dry = dlhw("sweep", str(sweep), "--out", str(tmp_path / "runs"), "--executor", "slurm", "--dry-run",
               "--workers", "1", "--set", "slurm.partition=debug")
    assert dry.returncode == 0, dry.stderr
    assert "#SBATCH --array=0-1%1" in dry.stdout and "#SBATCH --partition=debug" in dry.stdout
    assert "#SBATCH --signal=USR2@120" in dry.stdout and "#SBATCH --requeue" in dry.stdout


def test_without_submitit_the_extra_is_named(tmp_path, monkeypatch):
    import sys

    import dlhw as api

    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    sweep = write_sweep(tmp_path / "grid.yaml", {"training.optimizer.learning_rate": [0.001, 0.01]})
    with pytest.raises(ConfigError, match=r'pip install "dlhw\[slurm\]"'):
        api.sweep(sweep, out=tmp_path / "runs", executor="slurm", quiet=True)
    assert not (tmp_path / "runs").exists()


def test_detach_and_retry_failed_belong_to_slurm(tmp_path):
    sweep = write_sweep(tmp_path / "grid.yaml", {"training.optimizer.learning_rate": [0.001, 0.01]})
    res = dlhw("sweep", str(sweep), "--out", str(tmp_path / "runs"), "--detach")
    assert res.returncode == 2 and "--detach: only used with --executor slurm" in res.stderr, res.stderr


@pytest.mark.parametrize("key, value, words", [
    ("mem", "lots", "slurm.mem"), ("time", "1:2:3:4", "slurm.time"), ("cpus_per_task", 0, "slurm.cpus_per_task"),
    ("extra", ["--array=1-3"], "set by dlhw itself"), ("partition", "a b", "slurm.partition"),
    ("gpu", 1, "slurm.gpu"),
])
def test_the_slurm_block_is_validated_like_every_key(key, value, words):
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        validate({**TRIAL, "slurm": {key: value}})


def test_where_a_trial_runs_is_not_part_of_its_hash():
    base = {k: v for k, v in TRIAL.items() if k != "slurm"}
    plain = validate(base)
    assert plain.slurm.partition is None and plain.slurm.time == "2:00:00"  # the defaults
    moved = validate({**base, "slurm": {"partition": "gpu", "gpus": 2, "time": "1-00:00:00", "mem": "64G"}})
    assert fingerprint(plain) == fingerprint(moved)


def test_time_limits_in_slurm_forms():
    from dlhw.config.slurm import time_minutes

    assert [time_minutes(t) for t in ("30", "2:00:00", "1-00:00:00", "1-2", "10:30")] == [30, 120, 1440, 1560, 11]
