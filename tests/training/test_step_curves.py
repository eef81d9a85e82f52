"""training.log_steps: history_steps.csv (each batch's values and the running means), steps_curves.png,
on both training paths, across stages and resume; dlhw report --curves."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlhw.config import validate
from dlhw.errors import ConfigError, DivergedError
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import crash_at_epoch, make_image_folder

DIGITS = {
    "name": "steps", "seed": 3,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 16, "dropout": 0.2}]},
    "training": {"epochs": 3, "batch_size": 64, "tensorboard": False, "checkpoint": "off", "log_steps": True},
    "evaluation": {"samples": 0},
}


def digits(**training) -> dict:
    return {**DIGITS, "training": {**DIGITS["training"], **training}}


def read(path: Path) -> list:
    return [{k: (v if k == "stage" else float(v)) for k, v in r.items()} for r in csv.DictReader(path.open())]


def check_against_history(run: Path, samples: int, batch_size: int) -> list:
    """Every epoch: steps 1..n numbered on, the last running mean is history.csv's value, and the
    batches' own values, weighted by their sizes, average to it too."""
    steps, epochs = read(run / "history_steps.csv"), read(run / "history.csv")
    per_epoch = math.ceil(samples / batch_size)
    assert len(steps) == per_epoch * len(epochs)
    assert [r["global_step"] for r in steps] == list(range(1, len(steps) + 1))
    for e in epochs:
        rows = [r for r in steps if r["epoch"] == e["epoch"]]
        assert [r["step"] for r in rows] == list(range(1, per_epoch + 1)) and {r["stage"] for r in rows} == {e["stage"]}
        sizes = [min(batch_size, samples - i * batch_size) for i in range(per_epoch)]
        for key in ("loss", "accuracy"):
            assert rows[-1][f"running_{key}"] == pytest.approx(e[key], rel=1e-6)
            assert sum(r[key] * n for r, n in zip(rows, sizes)) / samples == pytest.approx(e[key], rel=1e-5)
            assert rows[0][key] == rows[0][f"running_{key}"]  # the running mean starts afresh each epoch
    return steps


def test_each_batch_value_from_the_running_means(tmp_path):
    """10 samples in batches of 4, 4, 2: the logged running means give back each batch's own value."""
    from dlhw.training.steps import StepLog, StepRecorder

    log = StepLog(tmp_path / "history_steps.csv", samples=10, batch_size=4)
    rec = StepRecorder(log, "train")
    own = {"loss": [1.0, 3.0, 0.5], "accuracy": [0.25, 0.75, 1.0]}
    sizes = [4, 4, 2]
    for epoch in range(2):
        rec.on_epoch_begin(epoch)
        for b in range(3):
            seen = sum(sizes[:b + 1])
            running = {k: sum(v[i] * sizes[i] for i in range(b + 1)) / seen for k, v in own.items()}
            rec.on_train_batch_end(b, running)
        rec.on_epoch_end(epoch)
    rows = read(tmp_path / "history_steps.csv")
    assert list(rows[0]) == ["stage", "epoch", "step", "global_step", "loss", "accuracy",
                             "running_loss", "running_accuracy"]
    assert [r["global_step"] for r in rows] == [1, 2, 3, 4, 5, 6] and [r["epoch"] for r in rows] == [1] * 3 + [2] * 3
    for key, values in own.items():
        assert [r[key] for r in rows] == pytest.approx(values * 2)
    assert rows[2]["running_loss"] == pytest.approx(1.7)


def test_log_steps_on_in_memory_arrays(tmp_path):
    run = run_experiment(validate(digits()), out=tmp_path, quiet=True).run_dir
    steps = check_against_history(run, samples=1259, batch_size=64)
    assert len({round(r["loss"], 6) for r in steps}) > len(steps) // 2  # noisy per-batch values, not the means
    assert (run / "steps_curves.png").stat().st_size > 5000


def test_off_by_default(tmp_path):
    run = run_experiment(validate(digits(log_steps=False, epochs=1)), out=tmp_path, quiet=True).run_dir
    assert not (run / "history_steps.csv").exists() and not (run / "steps_curves.png").exists()


def test_log_steps_on_an_image_folder_with_stages(tmp_path):
    """Model.fit on the image pipeline, two stages: steps numbered on over the stage boundary."""
    folder = make_image_folder(tmp_path / "images", per_class=10, size=16)
    cfg = validate({"name": "img", "seed": 1,
                    "dataset": {"source": "image_folder", "path": str(folder), "image_size": [16, 16]},
                    "model": {"type": "cnn", "rescale": 1 / 255, "blocks": [{"type": "conv", "filters": 4, "pool": 2}]},
                    "training": {"batch_size": 5, "tensorboard": False, "checkpoint": "off", "log_steps": True,
                                 "stages": [{"name": "one", "epochs": 1}, {"name": "two", "epochs": 2}]},
                    "evaluation": {"samples": 0}})
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    train = out.metrics["train"]["samples"]
    steps = check_against_history(out.run_dir, samples=train, batch_size=5)
    assert [r["stage"] for r in steps] == ["one"] * (len(steps) // 3) + ["two"] * (2 * len(steps) // 3)


@pytest.mark.slow  # issue 28: 24 s
def test_resume_replays_the_steps_after_the_checkpoint(tmp_path, monkeypatch):
    """Checkpoint after epoch 1, crash at the start of epoch 3 (epoch 2's steps already written):
    resume drops them, replays epoch 2 and ends with the uninterrupted run's file."""
    from dlhw.training import checkpoint as ckpt_mod

    raw = digits(checkpoint="every_epoch")
    full = run_experiment(validate(raw), out=tmp_path / "full", quiet=True).run_dir
    monkeypatch.setattr(ckpt_mod.Checkpointer, "due", lambda self, final: self.written_epoch is None)
    crash_at_epoch(monkeypatch, 3)
    with pytest.raises(RuntimeError):
        run_experiment(validate(raw), out=tmp_path / "cut", quiet=True)
    monkeypatch.undo()
    run = tmp_path / "cut" / "steps"
    assert {r["epoch"] for r in read(run / "history_steps.csv")} == {1, 2}
    run_experiment(validate(raw), resume=run, quiet=True)
    assert (run / "history_steps.csv").read_text() == (full / "history_steps.csv").read_text()


def test_a_diverged_run_keeps_its_steps_up_to_the_nan(tmp_path):
    with pytest.raises(DivergedError):
        run_experiment(validate(digits(optimizer={"type": "sgd", "learning_rate": 1e12})), out=tmp_path, quiet=True)
    rows = read(tmp_path / "steps" / "history_steps.csv")
    assert rows and not math.isfinite(rows[-1]["running_loss"]) and (tmp_path / "steps" / "steps_curves.png").exists()


def test_report_curves_overlay_epochs_and_steps(tmp_path):
    """S3's batch vs mini-batch gradient descent: one batch of everything vs batches of 64, per step."""
    from dlhw.cli import app
    from dlhw.reports import make_report

    runs = tmp_path / "runs"
    run_experiment(validate(digits(epochs=2)), out=runs, name="minibatch", quiet=True)
    run_experiment(validate(digits(epochs=2, batch_size=2048)), out=runs, name="batch", quiet=True)
    rep = make_report([runs], tmp_path / "rep", curves=["step_loss", "loss", "val_accuracy"])
    names = sorted(Path(c["path"]).name for c in rep.charts)
    assert names == ["loose_runs_loss.png", "loose_runs_step_loss.png", "loose_runs_val_accuracy.png"]
    assert {c["quantity"] for c in rep.charts} == {"training loss per step (each batch)", "training loss",
                                                   "validation accuracy"}
    with pytest.raises(ConfigError) as info:
        make_report([runs], tmp_path / "rep", curves=["step_los"])
    assert "step_loss" in str(info.value) and "available" in str(info.value)
    res = CliRunner().invoke(app, ["report", str(runs), "--out", str(tmp_path / "cli"), "--curves", "val_loss,step_running_loss"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "cli" / "charts").iterdir()) == [
        "loose_runs_step_running_loss.png", "loose_runs_val_loss.png"]
    res = CliRunner().invoke(app, ["report", str(runs), "--out", str(tmp_path / "cli"), "--curves", "test_loss"])
    assert res.exit_code == 2 and "test_loss" in res.output
