"""Runs that survive: SIGKILL / SIGINT / SIGTERM mid-run, then --resume, equal to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import validate
from dlhw.orchestration.experiment import run_experiment
from dlhw.rundir.checkpoint_file import checkpoint_path, load_checkpoint
from dlhw.rundir.status import read_status
from dlhw.runtime import signals
from tests.conftest import wait_for, without_timings

DLHW = str(Path(sys.executable).with_name("dlhw"))
CONFIG = {
    "name": "survive", "seed": 3,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 32, "dropout": 0.3}]},
    # 12 epochs: checkpoints are written in the background now, so 4 short epochs could all be done
    # before the poller's SIGKILL lands
    "training": {"epochs": 12, "batch_size": 64, "tensorboard": False, "checkpoint": "every_epoch",
                 "keep_checkpoints": True},  # completed_run's checkpoint is read and resumed from
}


def metrics(run: Path) -> dict:
    return without_timings(json.loads((run / "metrics.json").read_text()))


def checkpoint_epoch(run: Path) -> int:
    try:
        return int(load_checkpoint(checkpoint_path(run))["epoch"])
    except Exception:  # not written yet
        return 0


def dlhw(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    return subprocess.run([DLHW, *args], capture_output=True, text=True, env=env, timeout=300, **kw)


def start_and_stop(config: Path, out: Path, name: str, sig: int, at_epoch: int = 2):
    """Start `dlhw run` in a real process and send ``sig`` once the epoch-``at_epoch`` checkpoint exists."""
    env = dict(os.environ)
    proc = subprocess.Popen([DLHW, "run", str(config), "--out", str(out), "--name", name, "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    run = out / name
    deadline = time.time() + 240
    while checkpoint_epoch(run) < at_epoch:
        assert proc.poll() is None, f"the run ended before epoch {at_epoch}: {proc.communicate()}"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err, run


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("survive")
    config = root / "survive.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    res = dlhw("run", str(config), "--out", str(root / "runs"), "--name", "full", "-q")
    assert res.returncode == 0, res.stderr
    return config, root / "runs" / "full"


def test_sigkill_then_resume_equals_uninterrupted(uninterrupted, tmp_path):
    config, full = uninterrupted
    rc, _, run = start_and_stop(config, tmp_path, "killed", signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert read_status(run)["status"] == "stale"  # status.json still says running; the pid is gone
    assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()
    stopped_at = checkpoint_epoch(run)
    assert 2 <= stopped_at < 12
    res = dlhw("run", "--resume", str(run), "-q")
    assert res.returncode == 0, res.stderr
    assert metrics(run) == metrics(full)
    assert (run / "history.csv").read_text() == (full / "history.csv").read_text()
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed" and status["resumed_from_epoch"] == stopped_at and "error" not in status
    # a completed run is not resumed again
    again = dlhw("run", "--resume", str(run))
    assert again.returncode == 2 and "already completed" in again.stderr


@pytest.mark.slow  # the same path runs in-process in test_resume_across_stages_...
def test_sigint_stops_after_the_batch_then_resumes_equal(uninterrupted, tmp_path):
    config, full = uninterrupted
    rc, err, run = start_and_stop(config, tmp_path, "ctrl_c", signal.SIGINT)
    assert rc == 130, err
    assert "interrupted by SIGINT" in err and f"dlhw run --resume {run}" in err
    assert "Traceback" not in err
    status = read_status(run)
    assert status["status"] == "interrupted" and "SIGINT" in status["error"]
    assert not (run / "metrics.json").exists()
    assert not list(run.rglob(".*.tmp"))  # no temporary files left behind
    res = dlhw("run", str(config), "--resume", str(run), "-q")  # CONFIG given: it must match
    assert res.returncode == 0, res.stderr
    assert metrics(run) == metrics(full)


def test_sigterm_outside_training_exits_143(tmp_path):
    with signals.graceful_interrupts(tmp_path):
        with pytest.raises(signals.RunInterrupted) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    assert info.value.exit_code == 143 and "SIGTERM" in str(info.value) and str(tmp_path) in str(info.value)


def test_first_signal_is_deferred_second_interrupts_at_once(tmp_path):
    with signals.graceful_interrupts(tmp_path) as state:
        state.deferring = True
        os.kill(os.getpid(), signal.SIGINT)
        wait_for(lambda: state.requested == signal.SIGINT, 5)
        assert state.requested == signal.SIGINT  # noted, training carries on to the end of the batch
        with pytest.raises(signals.RunInterrupted) as info:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert info.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


STAGED = {
    "name": "staged", "seed": 5,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 24, "dropout": 0.2, "batch_norm": True}]},
    "training": {"batch_size": 64, "tensorboard": False, "stages": [
        {"name": "warm", "epochs": 3, "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9}},
        {"name": "main", "epochs": 8,
         "optimizer": {"type": "adam", "learning_rate": 0.01,
                       "schedule": {"type": "reduce_on_plateau", "patience": 1, "factor": 0.5,
                                    "monitor": "val_accuracy"}},
         "early_stopping": {"monitor": "val_accuracy", "patience": 2, "restore_best_weights": True}},
    ]},
}


@pytest.fixture(scope="module")
def staged_full(tmp_path_factory):
    return run_experiment(validate(STAGED), out=tmp_path_factory.mktemp("staged"), quiet=True).run_dir


@pytest.mark.parametrize("stop_after", [3, pytest.param(8, marks=pytest.mark.slow)])  # issue 28: 22 s
def test_resume_across_stages_early_stopping_and_plateau(tmp_path, monkeypatch, staged_full, stop_after):
    """Stop after epoch 3 (the end of a stage) or 8 (early stopping and the plateau schedule mid-count)."""
    full = staged_full
    from dlhw.rundir.status import RunStatus

    beat = RunStatus.heartbeat

    def heartbeat(self, **extra):  # a Ctrl-C arriving during epoch stop_after + 1
        beat(self, **extra)
        if extra.get("epoch") == stop_after:
            signals.STATE.requested = signal.SIGINT

    monkeypatch.setattr(RunStatus, "heartbeat", heartbeat)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(validate(STAGED), out=tmp_path / "cut", quiet=True)
    monkeypatch.setattr(RunStatus, "heartbeat", beat)
    run = tmp_path / "cut" / "staged"
    assert read_status(run)["status"] == "interrupted" and checkpoint_epoch(run) == stop_after
    outcome = run_experiment(validate(yaml.safe_load((run / "config.yaml").read_text())), resume=run, quiet=True)
    assert metrics(outcome.run_dir) == metrics(full)
    assert (run / "history.csv").read_text() == (full / "history.csv").read_text()
    lr = [float(line.split(",")[6]) for line in (run / "history.csv").read_text().splitlines()[1:]]
    assert min(lr) < 0.005 and metrics(full)["stopped_early"] == ["main"]  # both callbacks acted


def test_crash_after_the_last_epoch_resumes_to_the_same_result(tmp_path, monkeypatch, staged_full):
    """All epochs done, early stopping had stopped the stage, then a crash while evaluating:
    resume restores the best weights exactly as the uninterrupted run did, and only evaluates."""
    import dlhw.orchestration.experiment

    def crash(*a, **k):
        raise RuntimeError("simulated crash while evaluating")

    monkeypatch.setattr(dlhw.orchestration.experiment, "evaluate_and_write", crash)
    with pytest.raises(RuntimeError):
        run_experiment(validate(STAGED), out=tmp_path, quiet=True)
    run = tmp_path / "staged"
    status = read_status(run)
    assert status["status"] == "failed" and "simulated crash" in status["error"]
    assert not (run / "model.keras").exists()  # saved before the crash, removed: the run did not finish
    monkeypatch.undo()
    ck = load_checkpoint(checkpoint_path(run))
    assert ck["stopped"] and ck["stage"] == "main"
    run_experiment(validate(STAGED), resume=run, quiet=True)
    assert metrics(run) == metrics(staged_full)


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("done")
    cfg = validate({**CONFIG, "training": {**CONFIG["training"], "epochs": 1}})
    return run_experiment(cfg, out=root, quiet=True).run_dir


def _interrupted_copy(run: Path, tmp_path: Path, status: str = "interrupted", **extra) -> Path:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    data = json.loads((copy / "status.json").read_text())
    data.update(status=status, **extra)
    (copy / "status.json").write_text(json.dumps(data))
    (copy / "metrics.json").unlink()
    return copy


@pytest.mark.parametrize("case,words", [
    ("completed", ["already completed", "nothing to resume"]),
    ("missing", ["run folder not found"]),
    ("not_a_run", ["is not a run folder", "config.yaml"]),
    ("a_file", ["is a file"]),
    ("config_edited", ["changed since the checkpoint", "config hash"]),
    ("config_given_differs", ["config differs", "training.batch_size", "run: 64, given: 32"]),
    ("set_differs", ["config differs", "seed"]),
    ("running", ["still running", "pid"]),
    ("diverged", ["diverged", "start a new run"]),
    ("corrupt_checkpoint", ["unreadable checkpoint", "last.ckpt.npz"]),
    ("with_overwrite", ["--resume continues RUN_DIR in place", "--overwrite"]),
])
def test_resume_refusals(completed_run, tmp_path, case, words):
    run, args = completed_run, []
    if case == "missing":
        run = tmp_path / "nope"
    elif case == "not_a_run":
        run = tmp_path / "empty"
        run.mkdir()
    elif case == "a_file":
        run = tmp_path / "file.txt"
        run.write_text("x")
    elif case == "config_edited":
        run = _interrupted_copy(completed_run, tmp_path)
        text = (run / "config.yaml").read_text().replace("batch_size: 64", "batch_size: 16")
        (run / "config.yaml").write_text(text)
    elif case == "config_given_differs":
        run = _interrupted_copy(completed_run, tmp_path)
        other = tmp_path / "other.yaml"
        other.write_text(yaml.safe_dump({**CONFIG, "training": {**CONFIG["training"], "epochs": 1, "batch_size": 32}}))
        args = [str(other)]
    elif case == "set_differs":
        run = _interrupted_copy(completed_run, tmp_path)
        args = ["--set", "seed=4"]
    elif case == "running":
        run = _interrupted_copy(completed_run, tmp_path, status="running", pid=os.getpid())
    elif case == "diverged":
        run = _interrupted_copy(completed_run, tmp_path, status="diverged", error="loss became NaN/inf")
    elif case == "with_overwrite":
        run = _interrupted_copy(completed_run, tmp_path)
        args = ["--overwrite"]
    elif case == "corrupt_checkpoint":
        run = _interrupted_copy(completed_run, tmp_path)
        checkpoint_path(run).write_bytes(b"PK\x03\x04 not really")
    before = {p: p.stat().st_mtime_ns for p in Path(run).rglob("*")} if Path(run).is_dir() else {}
    res = CliRunner().invoke(app, ["run", *args, "--resume", str(run)])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    for w in words:
        assert w in text, text
    assert "Traceback" not in res.output
    if before:  # a refused resume touches nothing
        assert {p: p.stat().st_mtime_ns for p in Path(run).rglob("*")} == before


def test_checkpoint_holds_the_full_state(completed_run):
    ck = load_checkpoint(checkpoint_path(completed_run))
    assert ck["epoch"] == 1 and ck["stage"] == "train" and len(ck["history"]) == 1
    assert ck["config_hash"] and ck["dataset_fingerprint"] and ck["rng"]["numpy"][0] == "MT19937"
    assert len(ck["weights"]) == 4  # dense kernel+bias, output kernel+bias
    train = json.loads((completed_run / "metrics.json").read_text())["train"]["samples"]
    assert int(ck["optimizer"][0]) == int(np.ceil(train / 64))  # Adam's step counter after one epoch
    assert len(ck["optimizer"]) > 2  # plus the learning rate and the moment estimates


def _image_config(kind: str, folder: Path) -> dict:
    data = {"source": "image_folder", "path": str(folder), "image_size": [16, 16] if kind == "cnn" else [32, 32]}
    if kind == "cnn":
        model = {"type": "cnn", "rescale": 1 / 255, "dense": [{"units": 8, "dropout": 0.5}],
                 "blocks": [{"type": "conv", "filters": 4, "batch_norm": True, "pool": 2}]}
        data["augment"] = True  # RandomFlip draws from its own seed generator
    else:  # the head trains on cached features of a frozen backbone
        model = {"type": "backbone", "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "avg"},
                 "head": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dropout", "rate": 0.3}]}
    training = {"epochs": 3, "batch_size": 8, "tensorboard": False}
    if kind == "backbone_staged":  # head on cached features, then fine-tune the last layers
        training["stages"] = [{"name": "head", "epochs": 1},
                              {"name": "finetune", "epochs": 2, "unfreeze": {"last_layers": 6},
                               "optimizer": {"type": "sgd", "learning_rate": 0.001, "momentum": 0.9}}]
    return {"name": kind, "seed": 4, "dataset": data, "model": model, "training": training}


@pytest.mark.parametrize("kind", ["cnn", pytest.param("backbone", marks=pytest.mark.slow),
                                  pytest.param("backbone_staged", marks=pytest.mark.slow)])
def test_image_runs_resume_equal(tmp_path, monkeypatch, kind):
    from tests.conftest import make_image_folder

    folder = make_image_folder(tmp_path / "images", classes=("a", "b", "c"), per_class=8, size=32)
    raw = _image_config(kind, folder)
    stop = 2 if kind == "backbone_staged" else 1  # staged: inside fine-tuning, part of the backbone trainable
    full = run_experiment(validate(raw), out=tmp_path / "full", quiet=True, cache_dir=tmp_path / "cache").run_dir
    from dlhw.rundir.status import RunStatus

    beat = RunStatus.heartbeat

    def heartbeat(self, **extra):
        beat(self, **extra)
        if extra.get("epoch") == stop:
            signals.STATE.requested = signal.SIGTERM

    monkeypatch.setattr(RunStatus, "heartbeat", heartbeat)
    with pytest.raises(KeyboardInterrupt) as info:
        run_experiment(validate(raw), out=tmp_path / "cut", quiet=True, cache_dir=tmp_path / "cache")
    assert info.value.exit_code == 143
    monkeypatch.setattr(RunStatus, "heartbeat", beat)
    run = tmp_path / "cut" / kind
    assert checkpoint_epoch(run) == stop
    run_experiment(validate(raw), resume=run, quiet=True, cache_dir=tmp_path / "cache")
    cache = [metrics(r).pop("feature_cache", {}) for r in (full, run)]  # hits/misses: bookkeeping, not results
    assert {k: v for k, v in metrics(run).items() if k != "feature_cache"} == \
        {k: v for k, v in metrics(full).items() if k != "feature_cache"}
    assert kind != "backbone" or cache[1]["hits"]  # the resumed head run read its features from the cache
    if kind == "backbone_staged":
        assert [r.split(",")[0] for r in (run / "history.csv").read_text().splitlines()[1:]] == ["head"] + ["finetune"] * 2


def test_status_running_dead_or_reused_pid_is_stale(tmp_path):
    from dlhw.rundir.folder import now

    def status(**data):
        (tmp_path / "status.json").write_text(json.dumps({"status": "running", **data}))
        return read_status(tmp_path)["status"]

    assert status(pid=os.getpid(), heartbeat=now()) == "running"
    assert status(pid=os.getpid(), heartbeat="2000-01-01T00:00:00+00:00") == "stale"  # pid reused since
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert status(pid=dead.pid, heartbeat=now()) == "stale"


@pytest.mark.slow  # ~15 s: two and a half MobileNetV2 runs
def test_feature_cache_on_disk_resumes_equal(tmp_path, monkeypatch):
    """Features over the memory budget, read from disk through tf.data: killed after epoch 1 and
    resumed, the run ends identical to the uninterrupted one."""
    monkeypatch.setenv("DLHW_CACHE_MEMORY", "1")
    test_image_runs_resume_equal(tmp_path, monkeypatch, "backbone")
    for run in (tmp_path / "full" / "backbone", tmp_path / "cut" / "backbone"):
        assert metrics(run)["feature_cache"]["on_disk"] == ["train", "val", "test"]
