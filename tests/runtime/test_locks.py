"""One process per folder: run and sweep folders are locked; a second process is refused at once,
and a killed holder leaves no stale lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.errors import ConfigError
from dlhw.rundir.folder import create_run_dir
from dlhw.rundir.status import RunStatus
from dlhw.runtime import locks

runner = CliRunner()
HOLD = ("import sys, time; from dlhw.runtime.locks import acquire; acquire(sys.argv[1]); "
        "print('held', flush=True); time.sleep(600)")
TINY = {
    "name": "tiny", "seed": 0,
    "dataset": {"source": "sklearn", "name": "digits", "max_samples": 300},
    "model": {"type": "mlp", "layers": [{"units": 16}]},
    "training": {"epochs": 1, "batch_size": 64, "tensorboard": False},
}


@pytest.fixture
def hold():
    """hold(folder): another process takes the folder's lock (killed at the end of the test)."""
    procs = []

    def start(folder: Path) -> subprocess.Popen:
        Path(folder).mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_second_process_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path, hold):
    folder = tmp_path / "run"
    proc = hold(folder)
    assert locks.holder(folder) == proc.pid
    with pytest.raises(locks.FolderBusy) as info:
        locks.acquire(folder)
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2
    assert str(folder) in str(info.value) and f"pid {proc.pid}" in str(info.value)
    proc.kill()
    proc.wait()
    assert (folder / locks.LOCK_FILE).exists()  # the file stays; its lock went with the process
    assert locks.holder(folder) is None
    with locks.acquire(folder) as lock:
        assert locks.holder(folder) == os.getpid() and (folder / ".lock").read_text().strip() == str(os.getpid())
        assert locks.acquire(folder) is lock  # re-entrant within one process
        lock.release()
    assert locks.holder(folder) is None


def test_a_forked_child_does_not_keep_the_parents_lock(tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    with locks.acquire(folder, "sweep folder"):
        pid = os.fork()
        if pid == 0:  # the child closes its inherited descriptor, without unlocking the parent's
            os._exit(0 if not locks._HELD else 1)
        _, code = os.waitpid(pid, 0)
        assert code == 0 and locks.holder(folder) == os.getpid()
        child = subprocess.run([sys.executable, "-c", "import sys; from dlhw.runtime.locks import holder; "
                                "print(holder(sys.argv[1]))", str(folder)], capture_output=True, text=True)
        assert child.stdout.strip() == str(os.getpid())


def test_overwrite_keeps_the_lock_and_refuses_a_folder_in_use(tmp_path, hold):
    with locks.released_after():
        run = create_run_dir(tmp_path, "x", lock=True)
        (run / "old.txt").write_text("old")
        (run / "tb").mkdir()
        assert create_run_dir(tmp_path, "x", overwrite=True, lock=True) == run
        assert sorted(p.name for p in run.iterdir()) == [".lock"] and locks.holder(run) == os.getpid()
    assert locks.holder(run) is None
    busy = tmp_path / "busy"
    proc = hold(busy)
    (busy / "results.txt").write_text("theirs")
    for lock in (True, False):
        with pytest.raises(locks.FolderBusy, match=f"pid {proc.pid}"):
            create_run_dir(tmp_path, "busy", overwrite=True, lock=lock)
    assert (busy / "results.txt").read_text() == "theirs"


def _interrupted_run(tmp_path: Path) -> Path:
    from dlhw.config import validate
    from dlhw.orchestration.experiment import run_experiment

    run = run_experiment(validate(TINY), out=tmp_path / "runs", quiet=True).run_dir
    assert locks.holder(run) is None  # released when the run ended
    RunStatus(run).set("interrupted", error="interrupted by SIGINT")
    (run / "metrics.json").unlink()
    return run


def test_resume_of_a_folder_in_use_is_refused_at_once(tmp_path, hold):
    """`dlhw run --resume R` while another process holds R (it resumed R a moment ago and is still
    loading its data: status.json does not say running yet)."""
    run = _interrupted_run(tmp_path)
    proc = hold(run)
    res = runner.invoke(app, ["run", "--resume", str(run)])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert f"{run}: this run folder is in use by another dlhw process (pid {proc.pid})" in text
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    assert not (run / "metrics.json").exists()
    proc.kill()
    proc.wait()
    res = runner.invoke(app, ["run", "--resume", str(run), "-q"])  # the holder died: no stale lock
    assert res.exit_code == 0, res.output
    assert json.loads((run / "status.json").read_text())["status"] == "completed" and locks.holder(run) is None


@pytest.mark.slow  # issue 28: 17 s
def test_a_second_sweep_on_the_same_folder_is_refused_at_once(tmp_path, hold):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    f = tmp_path / "grid.yaml"
    f.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.layers.0.units": [8, 12]}}))
    proc = hold(tmp_path / "runs" / "grid")
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    assert f"runs/grid: this sweep folder is in use by another dlhw process (pid {proc.pid})" in text
    assert sorted(p.name for p in (tmp_path / "runs" / "grid").iterdir()) == [".lock"]  # nothing trained
    proc.kill()
    proc.wait()
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    from dlhw.reports.collect import collect

    runs = collect([tmp_path / "runs"])  # lock files are never read as runs or results
    assert sorted(r.name for r in runs) == ["units-12", "units-8"] and {r.status for r in runs} == {"completed"}


@pytest.mark.slow
def test_two_resumes_started_together_one_trains(tmp_path):
    """The issue's race, for real: two `dlhw run --resume R` started at the same moment."""
    run = _interrupted_run(tmp_path)
    exe = Path(sys.executable).with_name("dlhw")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dlhw.cli"]
    procs = [subprocess.Popen(cmd + ["run", "--resume", str(run), "-q"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "in use by another dlhw process" in refused or "still running" in refused or \
        "already completed" in refused, refused
    assert json.loads((run / "status.json").read_text())["resumes"] == 1


@pytest.mark.slow  # issue 28: 29 s
def test_sigkill_of_a_run_leaves_its_folder_free(tmp_path):
    """A killed `dlhw run` leaves no lock behind: its folder resumes at once (no waiting, no cleanup)."""
    cfg = tmp_path / "long.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "epochs": 500}}))
    exe = Path(sys.executable).with_name("dlhw")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dlhw.cli"]
    proc = subprocess.Popen(cmd + ["run", str(cfg), "--out", str(tmp_path / "runs"), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "runs" / "tiny"
    deadline = time.time() + 240
    while (json.loads((run / "status.json").read_text()) if (run / "status.json").exists() else {}).get("epoch", 0) < 1:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    assert locks.holder(run) == proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert locks.holder(run) is None
