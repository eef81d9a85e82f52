"""training.checkpoint: when checkpoints are written, what they cost, and resume between two of them."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dlhw.config import validate
from dlhw.errors import ConfigError
from dlhw.orchestration.experiment import run_experiment
from dlhw.rundir.checkpoint_file import checkpoint_path, load_checkpoint
from dlhw.rundir.status import read_status
from dlhw.training import checkpoint as ckpt_mod
from dlhw.training.checkpoint_writer import AUTO_SECONDS, BackgroundWriter, CheckpointPolicy
from tests.conftest import crash_at_epoch, without_timings

DLHW = str(Path(sys.executable).with_name("dlhw"))
BASE = {
    "name": "policy", "seed": 7,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 32, "dropout": 0.3}]},
    # keep_checkpoints: these tests read the checkpoint of completed runs (tests/sweeps/test_scale.py: removed by default)
    "training": {"epochs": 6, "batch_size": 64, "tensorboard": False, "keep_checkpoints": True},
}


def with_training(**kw) -> dict:
    return {**BASE, "training": {**BASE["training"], **kw}}


def results(run: Path):
    return without_timings(json.loads((run / "metrics.json").read_text())), (run / "history.csv").read_text()


# ------------------------------------------------------------------ the config key
@pytest.mark.parametrize("value, mode", [(True, "auto"), (False, "off"), ("auto", "auto"), ("every_epoch", "every_epoch"),
                                         ("OFF", "off"), ({"every_seconds": 2.5}, "seconds")])
def test_checkpoint_values_old_and_new(value, mode):
    cfg = validate(with_training(checkpoint=value))
    policy = CheckpointPolicy.from_config(cfg.training.checkpoint)
    assert policy.mode == mode and policy.enabled == (mode != "off")
    if mode == "seconds":
        assert policy.interval(100.0) == 2.5


def test_checkpoint_default_is_auto_and_its_interval_bounds_the_cost():
    policy = CheckpointPolicy.from_config(validate(BASE).training.checkpoint)
    assert policy.mode == "auto"
    assert policy.interval(0.01) == AUTO_SECONDS  # cheap writes: at most every 30 s
    assert policy.interval(10.0) == 200.0  # a 10 s write waits for 200 s of training (<= 5%)
    assert CheckpointPolicy("every_epoch").interval(10.0) == 0.0


@pytest.mark.parametrize("value, words", [("sometimes", ["training.checkpoint", "sometimes"]),
                                          ({"every_seconds": 0}, ["every_seconds"]),
                                          ({"every_minutes": 3}, ["every_minutes"])])
def test_bad_checkpoint_values_are_refused(value, words):
    with pytest.raises(ConfigError) as info:
        validate(with_training(checkpoint=value))
    assert all(w in str(info.value) for w in words)


# ------------------------------------------------------------------ what gets written
def test_auto_writes_only_at_the_end_of_a_short_run(tmp_path, monkeypatch):
    written = []
    submit = BackgroundWriter.submit

    def counting(self, job, wait=False):
        written.append(wait)
        return submit(self, job, wait)

    monkeypatch.setattr(BackgroundWriter, "submit", counting)
    run = run_experiment(validate(BASE), out=tmp_path, quiet=True).run_dir
    assert len(written) == 1  # 6 epochs in ~1 s: one checkpoint, the last epoch's
    assert load_checkpoint(checkpoint_path(run))["epoch"] == 6
    assert not list(run.rglob(".*.tmp"))


def test_every_epoch_writes_each_epoch(tmp_path, monkeypatch):
    written = []
    submit = BackgroundWriter.submit
    monkeypatch.setattr(BackgroundWriter, "submit", lambda self, job, wait=False: (written.append(1), submit(self, job, wait)))
    run_experiment(validate(with_training(checkpoint="every_epoch")), out=tmp_path, quiet=True)
    assert len(written) == 6


def test_off_writes_no_checkpoint(tmp_path):
    run = run_experiment(validate(with_training(checkpoint="off")), out=tmp_path, quiet=True).run_dir
    assert not checkpoint_path(run).exists()


def test_a_default_run_keeps_no_copy_of_the_best_weights(tmp_path):
    """evaluation.weights: last (the default) evaluates the final weights, which model.keras holds:
    no best-weights copy is made during training nor written (evaluation.weights: best keeps one)."""
    cfg = validate(with_training(epochs=8, optimizer={"type": "sgd", "learning_rate": 2.0}))
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    losses = [float(r["val_loss"]) for r in csv.DictReader((run / "history.csv").open())]
    assert losses.index(min(losses)) < len(losses) - 1  # (seed 7: the best val_loss is not the last)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt.npz"]
    assert "cb0_best_weights" not in " ".join(load_checkpoint(checkpoint_path(run))["extra"])


@pytest.mark.parametrize("weights", ["last", "best"])
def test_the_final_checkpoint_holds_the_last_epochs_weights(tmp_path, weights):
    """Checkpoints hold zero-copy snapshots of the variables; with evaluation.weights: best the
    best epoch's weights are put back after training while the last checkpoint may still be
    being written: it still holds the last epoch's weights."""
    import keras
    import numpy as np

    cfg = validate({**with_training(epochs=8, optimizer={"type": "sgd", "learning_rate": 2.0}),
                    "evaluation": {"weights": weights}})
    run = run_experiment(cfg, out=tmp_path, quiet=True).run_dir
    saved = load_checkpoint(checkpoint_path(run))
    assert saved["epoch"] == 8
    model = keras.saving.load_model(run / "model.keras", compile=False)
    live = [model.weights[i] for i in saved["live"]]
    same = [np.array_equal(np.asarray(w), a) for w, a in zip(live, saved["weights"])]
    if weights == "last":  # model.keras holds the final weights: so does the checkpoint
        assert all(same) and len(same) == len(model.weights)
    else:  # model.keras holds the best epoch's (not the last: see the test above)
        assert not all(same)
        best = saved["extra"]["cb0_best_weights"]
        assert all(np.array_equal(np.asarray(w), b) for w, b in zip(live, best))


def test_snapshots_keep_their_values_while_training_goes_on():
    """A checkpoint's snapshot shares the variables' buffers (no copy on CPU); the optimizer's
    next updates go to new buffers (TensorFlow copies on write), so the snapshot keeps the
    values of the epoch it was taken at."""
    import keras
    import numpy as np

    from dlhw.training.checkpoint import snapshot

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.default_rng(0).random((64, 8), dtype=np.float32), np.ones((64, 1), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    variables = list(model.weights) + list(model.optimizer.variables)
    snaps = [snapshot(v) for v in variables]
    copies = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
    assert all(np.array_equal(s, c) for s, c in zip(snaps, copies))
    assert np.shares_memory(snapshot(variables[0]), snapshot(variables[0]))  # no copy: one buffer
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(s, c) for s, c in zip(snaps, copies))  # unchanged by training
    assert sum(not np.array_equal(keras.ops.convert_to_numpy(v), c) for v, c in zip(variables, copies)) >= 5


# ------------------------------------------------------------------ resume between checkpoints
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cfg = validate(with_training(epochs=7, checkpoint={"every_seconds": 1000}))
    return run_experiment(cfg, out=tmp_path_factory.mktemp("whole"), quiet=True).run_dir


@pytest.mark.parametrize("saved, crash", [pytest.param(2, 5, marks=pytest.mark.slow), (3, 4),  # issue 28: one
                                          pytest.param(6, 7, marks=pytest.mark.slow)])
def test_crash_between_two_checkpoints_replays_the_epochs_after_the_last(tmp_path, monkeypatch, uninterrupted,
                                                                        saved, crash):
    """A checkpoint at epoch ``saved`` only; the process dies during epoch ``crash``; resume
    replays the epochs in between and ends identical to the uninterrupted run."""
    from dlhw.training.callbacks import NaNGuard

    due = ckpt_mod.Checkpointer.due
    monkeypatch.setattr(ckpt_mod.Checkpointer, "due", lambda self, final: self_epoch(self) == saved)
    begin = crash_at_epoch(monkeypatch, crash)
    cfg = validate(with_training(epochs=7, checkpoint={"every_seconds": 1000}))
    with pytest.raises(RuntimeError):
        run_experiment(cfg, out=tmp_path, quiet=True)
    monkeypatch.setattr(ckpt_mod.Checkpointer, "due", due)
    monkeypatch.setattr(NaNGuard, "on_epoch_begin", begin)
    run = tmp_path / "policy"
    assert read_status(run)["status"] == "failed"
    assert load_checkpoint(checkpoint_path(run))["epoch"] == saved
    outcome = run_experiment(cfg, resume=run, quiet=True)
    assert results(outcome.run_dir) == results(uninterrupted)


def self_epoch(checkpointer) -> int:
    """The epoch whose end is being considered (for the monkeypatched ``due``)."""
    checkpointer._considered = getattr(checkpointer, "_considered", 0) + 1
    return checkpointer._considered


@pytest.mark.slow  # issue 28: 84 s; SIGKILL + resume stays in test_resume
def test_sigkill_between_timed_checkpoints_then_resume_equals_uninterrupted(tmp_path):
    """A real process, checkpoints every 0.3 s over ~20 ms epochs: killed after its first
    checkpoint, most likely several epochs past it; resume equals the uninterrupted run."""
    config = tmp_path / "timed.yaml"
    config.write_text(yaml.safe_dump(with_training(epochs=60, batch_size=32, checkpoint={"every_seconds": 0.3})))
    env = dict(os.environ)
    full = subprocess.run([DLHW, "run", str(config), "--out", str(tmp_path / "a"), "--name", "full", "-q"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert full.returncode == 0, full.stderr
    proc = subprocess.Popen([DLHW, "run", str(config), "--out", str(tmp_path / "b"), "--name", "cut", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    run, deadline = tmp_path / "b" / "cut", time.time() + 240
    while not checkpoint_path(run).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.01)
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    saved = load_checkpoint(checkpoint_path(run))["epoch"]
    assert 1 <= saved < 60 and not (run / "metrics.json").exists()
    res = subprocess.run([DLHW, "run", "--resume", str(run), "-q"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert results(run) == results(tmp_path / "a" / "full")


def test_ctrl_c_mid_epoch_finishes_a_short_epoch_and_checkpoints_it(tmp_path, monkeypatch):
    """Under auto, a Ctrl-C during an epoch that ends within seconds: the epoch is finished and
    saved (no work lost), the run stops as interrupted, and resume gives the uninterrupted result."""
    from dlhw.runtime import signals

    full = run_experiment(validate(BASE), out=tmp_path / "full", quiet=True).run_dir
    from dlhw.training.callbacks import NaNGuard

    hook = NaNGuard.on_train_batch_end

    def batch_end(self, batch, logs=None):
        hook(self, batch, logs)
        if self._epoch == 4 and batch == 3 and signals.STATE.requested is None:
            signals.STATE.requested = signal.SIGINT

    monkeypatch.setattr(NaNGuard, "on_train_batch_end", batch_end)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(validate(BASE), out=tmp_path / "cut", quiet=True)
    monkeypatch.setattr(NaNGuard, "on_train_batch_end", hook)
    run = tmp_path / "cut" / "policy"
    assert read_status(run)["status"] == "interrupted"
    assert load_checkpoint(checkpoint_path(run))["epoch"] == 4  # the epoch in progress, finished
    outcome = run_experiment(validate(BASE), resume=run, quiet=True)
    assert results(outcome.run_dir) == results(full)


# ------------------------------------------------------------------ TensorBoard
def test_tensorboard_scalars_once_per_epoch(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = run_experiment(validate(with_training(tensorboard=True, epochs=3)), out=tmp_path, quiet=True).run_dir
    train = EventAccumulator(str(run / "tb" / "train"))
    train.Reload()
    val = EventAccumulator(str(run / "tb" / "validation"))
    val.Reload()
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train.Tags()["scalars"])
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    history = list(csv.DictReader((run / "history.csv").open()))
    assert [round(e.value, 5) for e in val.Scalars("epoch_loss")] == [round(float(r["val_loss"]), 5) for r in history]
