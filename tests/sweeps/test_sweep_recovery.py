"""Sweeps that meet trouble: a worker killed, the sweep process killed, a damaged trial folder,
a sweep pointed at a `dlhw run` folder. The run folders stay the truth and sweep.json agrees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app

runner = CliRunner()
from tests.conftest import DLHW, TINY  # noqa: E402


def sweep_file(tmp_path: Path, grid: dict, training: dict = (), name: str = "grid.yaml") -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], **dict(training)}}))
    f = tmp_path / name
    f.write_text(yaml.safe_dump({"base": "base.yaml", "grid": grid}))
    return f


def status(run: Path) -> dict:
    try:
        return json.loads((run / "status.json").read_text())
    except (OSError, ValueError):  # not written yet
        return {}


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan's zombie may wait for a busy init)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def wait_for(check, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before {what}: {proc.communicate()}")
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def training(run: Path) -> bool:
    """The trial's worker is past its first epoch (status.json: running, with a pid and an epoch)."""
    st = status(run)
    return st.get("status") == "running" and st.get("epoch", 0) >= 1


@pytest.mark.slow  # issue 28: 43 s; the pool stays in test_sweep
def test_a_killed_worker_fails_only_its_trial_and_is_replaced(tmp_path):
    f = sweep_file(tmp_path, {"training.epochs": [3000, 1, 2]})
    out = tmp_path / "runs"
    proc = subprocess.Popen(DLHW + ["sweep", str(f), "--out", str(out), "--workers", "2", "--device", "cpu", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    long = out / "grid" / "epochs-3000"  # longest first: a worker starts it at once
    try:
        wait_for(lambda: training(long), proc, "the long trial trained an epoch")
        victim = status(long)["pid"]
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err  # one trial failed
    trials = {t["name"]: t for t in json.loads((out / "grid" / "sweep.json").read_text())["trials"]}
    assert trials["epochs-3000"]["status"] == "failed"
    assert trials["epochs-3000"]["error"] == "worker killed by SIGKILL"
    assert trials["epochs-1"]["status"] == trials["epochs-2"]["status"] == "completed"
    for name, entry in trials.items():  # sweep.json and the run folders agree
        assert status(out / "grid" / name)["status"] == entry["status"], name
    assert status(long)["error"] == "worker killed by SIGKILL" and not (long / "metrics.json").exists()
    assert victim not in {trials["epochs-1"]["pid"], trials["epochs-2"]["pid"]}


@pytest.mark.slow  # issue 28: 42 s
def test_workers_end_when_the_sweep_process_is_killed(tmp_path):
    f = sweep_file(tmp_path, {"training.optimizer.learning_rate": [0.001, 0.002]},
                   {"epochs": 3000, "checkpoint": True})
    out = tmp_path / "runs"
    proc = subprocess.Popen(DLHW + ["sweep", str(f), "--out", str(out), "--workers", "2", "--device", "cpu", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs = [out / "grid" / n for n in ("learning_rate-0.001", "learning_rate-0.002")]
    pids = []
    try:
        wait_for(lambda: all(training(r) for r in runs), proc, "both trials trained an epoch")
        pids = [status(r)["pid"] for r in runs]
        proc.kill()  # SIGKILL: the sweep cannot tell its workers
        proc.wait()
        deadline = time.time() + 60
        while any(alive(p) for p in pids):
            assert time.time() < deadline, "the workers outlived the sweep process by a minute"
            time.sleep(0.1)
    finally:
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)
    # each stopped its trial after the batch: interrupted, and resumable by the next sweep
    assert [status(r)["status"] for r in runs] == ["interrupted", "interrupted"]
    from dlhw.runtime import locks

    assert locks.holder(out / "grid") is None and not any(locks.holder(r) for r in runs)


@pytest.mark.parametrize("damage", [pytest.param("checkpoint", marks=pytest.mark.slow), "config"])  # issue 28
def test_a_damaged_trial_is_set_aside_and_trained_again(tmp_path, damage):
    # keep_checkpoints: the completed trial is made to look interrupted, checkpoint and all
    f = sweep_file(tmp_path, {"training.epochs": [2]}, {"checkpoint": True, "keep_checkpoints": True})
    out = tmp_path / "runs"
    assert runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out)]).exit_code == 0
    run = out / "grid" / "epochs-2"
    st = status(run)
    st.update(status="interrupted", error="interrupted by SIGINT")
    (run / "status.json").write_text(json.dumps(st))
    (run / "metrics.json").unlink()
    if damage == "checkpoint":
        (run / "checkpoints" / "last.ckpt.npz").write_bytes(b"PK\x03\x04 cut short")
        why = "epochs-2: checkpoint last.ckpt.npz is unreadable"
    else:
        (run / "config.yaml").write_text("training: [epochs: 2\n")
        why = "epochs-2: config.yaml is unreadable"
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out)])  # before the fix: failed, on every rerun
    assert r.exit_code == 0, r.output
    aside = out / "grid" / ".damaged" / "epochs-2"
    assert f"{why}" in r.output and f"; moved it to {aside} and training it from scratch" in r.output, r.output
    assert status(run)["status"] == "completed" and (run / "metrics.json").exists()
    assert status(aside)["status"] == "interrupted"  # kept as it was, damage included
    assert json.loads((out / "grid" / "sweep.json").read_text())["trials"][0]["status"] == "completed"
    from dlhw.reports.collect import collect

    assert [rec.path for rec in collect([out])] == [run]  # the folder set aside is not read as a run
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out)])
    assert r.exit_code == 0 and "1 already completed (skipped" in r.output, r.output


def test_a_sweep_never_writes_into_a_run_folder(tmp_path):
    plain = tmp_path / "tiny.yaml"
    plain.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "runs" / "tiny"  # what `dlhw run tiny.yaml --out runs` wrote earlier
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": "completed"}))
    (run / "metrics.json").write_text("{}")
    before = sorted(p.name for p in run.iterdir())
    r = runner.invoke(app, ["sweep", "--workers", "1", str(plain), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    assert f"{run} is a run folder of `dlhw run`; this sweep writes to {run}-sweep instead" in r.output
    assert sorted(p.name for p in run.iterdir()) == before
    assert (tmp_path / "runs" / "tiny-sweep" / "trial" / "metrics.json").exists()
    r = runner.invoke(app, ["sweep", "--workers", "1", str(plain), "--out", str(run)])  # --out inside the run folder
    assert r.exit_code == 2 and "is inside the run folder" in " ".join(r.output.split()), r.output
    assert sorted(p.name for p in run.iterdir()) == before
