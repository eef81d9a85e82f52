"""Issue 19, part B: run folders sized like what they hold, sweep bookkeeping per trial, dry runs
and reports of many trials (benchmarks/scale.py measures the same at full size)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import validate
from dlhw.errors import DivergedError
from dlhw.orchestration.experiment import run_experiment
from dlhw.rundir import layout
from dlhw.rundir.checkpoint_file import checkpoint_path, load_checkpoint
from dlhw.rundir.status import read_status
from dlhw.rundir.sweep_log import read_manifest
from dlhw.sweeps import build_plan
from dlhw.sweeps.manifest import Manifest
from tests.conftest import TINY

runner = CliRunner()
BASE = {
    "name": "disk", "seed": 7,
    "dataset": {"source": "sklearn", "name": "digits"},
    "model": {"type": "mlp", "layers": [{"units": 32, "dropout": 0.3}]},
    "training": {"epochs": 6, "batch_size": 64, "tensorboard": False},
}


def config(**training) -> dict:
    return {**BASE, "training": {**BASE["training"], **training}}


def files_bytes(run: Path, suffix: str = "") -> int:
    return sum(p.stat().st_size for p in run.rglob(f"*{suffix}") if p.is_file())


# ------------------------------------------------------------ run folders sized like what they hold
def test_a_completed_run_drops_its_checkpoint_and_model_keras_holds_the_evaluated_weights(tmp_path):
    """evaluation.weights: best on a run whose best epoch is not the last: model.keras is saved after
    the best weights are put back, so no other copy is kept, and the resume checkpoint goes."""
    import keras

    from dlhw.data import load_dataset

    cfg = validate({**config(epochs=8, optimizer={"type": "sgd", "learning_rate": 2.0}),
                    "evaluation": {"weights": "best"}})
    outcome = run_experiment(cfg, out=tmp_path, quiet=True)
    run = outcome.run_dir
    assert outcome.metrics["evaluated"]["epoch"] < outcome.metrics["epochs_run"]  # best != last (seed 7)
    assert not (run / layout.CHECKPOINTS).exists()
    model = keras.saving.load_model(run / layout.MODEL, compile=False)
    val = load_dataset(cfg).splits["val"]  # the reloaded model scores the evaluated (best) weights' accuracy
    acc = float((model.predict(val.x, verbose=0).argmax(-1) == val.y).mean())
    assert acc == pytest.approx(outcome.metrics["val"]["accuracy"], abs=1e-6)
    kept = files_bytes(run, ".keras") + files_bytes(run, ".png")
    assert files_bytes(run) <= 1.3 * kept


def test_keep_checkpoints_keeps_the_resume_checkpoint(tmp_path):
    run = run_experiment(validate(config(keep_checkpoints=True)), out=tmp_path, quiet=True).run_dir
    assert load_checkpoint(checkpoint_path(run))["epoch"] == 6


def test_keep_checkpoints_does_not_change_the_config_hash():
    from dlhw.config.fingerprint import fingerprint

    plain, kept = validate(BASE), validate(config(keep_checkpoints=True))
    dump = plain.dump()
    dump["training"].pop("keep_checkpoints")  # a config.yaml written before the key existed
    assert fingerprint(plain) == fingerprint(kept) == fingerprint(dump)


@pytest.mark.parametrize("ending", ["failed", "diverged", "interrupted"])
def test_runs_that_did_not_complete_keep_their_checkpoint(tmp_path, monkeypatch, ending):
    import dlhw.orchestration.experiment as experiment
    from dlhw.training.trainer import Trainer

    if ending == "failed":
        def crash(*a, **k):
            raise RuntimeError("simulated crash while evaluating")
        monkeypatch.setattr(experiment, "evaluate_and_write", crash)
        expected = RuntimeError
    elif ending == "interrupted":
        def stop(*a, **k):
            raise KeyboardInterrupt()
        monkeypatch.setattr(experiment, "evaluate_and_write", stop)
        expected = KeyboardInterrupt
    else:
        fit = Trainer.fit

        def diverging(self):  # a real fit whose last epoch is then reported as NaN
            result = fit(self)
            result.diverged_at = (result.epochs_run, 1)
            return result
        monkeypatch.setattr(Trainer, "fit", diverging)
        expected = DivergedError
    with pytest.raises(expected):
        run_experiment(validate(config()), out=tmp_path, quiet=True)
    run = tmp_path / "disk"
    assert read_status(run)["status"] == ending
    assert load_checkpoint(checkpoint_path(run))["epoch"] == 6  # still there for --resume


# ------------------------------------------------------------ sweep.json: an append-only log
def _plan(tmp_path: Path, n: int = 4):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({"base": "base.yaml",
                                                         "grid": {"model.layers.0.units": list(range(4, 4 + n))}}))
    return build_plan(tmp_path / "grid.yaml")


def test_trial_events_append_to_the_log_and_readers_see_them(tmp_path):
    from dlhw.api.sweep_folder import Sweep
    from dlhw.reports.collect import _sweep_of

    plan = _plan(tmp_path)
    sweep_dir = tmp_path / "runs" / plan.name
    manifest = Manifest(plan, sweep_dir, "local", 1)
    manifest.save()
    written = (sweep_dir / layout.SWEEP_MANIFEST).read_bytes()
    names = [t.name for t in plan.trials]
    manifest.update(names[0], status="completed", val_accuracy=0.5, train_seconds=1.0)
    manifest.update(names[1], status="failed", error="boom")
    assert (sweep_dir / layout.SWEEP_MANIFEST).read_bytes() == written  # not rewritten per trial
    assert len((sweep_dir / layout.SWEEP_LOG).read_text().splitlines()) == 3  # base line + 2 events
    seen = read_manifest(sweep_dir)
    assert seen["trials"] == json.loads(json.dumps(manifest.data["trials"]))  # as a full rewrite would hold
    assert seen["counts"] == {"completed": 1, "failed": 1, "queued": 2}  # a planned trial (sweep.json of older releases: "pending")
    assert Sweep(sweep_dir).results[1] == {"name": names[1], "status": "failed", "error": "boom",
                                           "val_accuracy": None, "test_accuracy": None, "train_seconds": None}
    assert _sweep_of(sweep_dir)["trials"][0]["val_accuracy"] == 0.5
    manifest.save()  # compaction: the same content, the log gone
    assert not (sweep_dir / layout.SWEEP_LOG).exists()
    on_disk = json.loads((sweep_dir / layout.SWEEP_MANIFEST).read_text())
    assert on_disk["trials"] == seen["trials"] and on_disk["counts"] == seen["counts"]


def test_a_log_from_an_older_sweep_json_or_a_torn_line_is_not_replayed(tmp_path):
    plan = _plan(tmp_path)
    sweep_dir = tmp_path / "runs" / plan.name
    manifest = Manifest(plan, sweep_dir, "local", 1)
    manifest.save()
    name = plan.trials[0].name
    manifest.update(name, status="failed", error="first")
    with open(sweep_dir / layout.SWEEP_LOG, "a") as fh:
        fh.write('{"trial": "' + name + '", "set": {"status": "comp')  # killed mid-append
    assert read_manifest(sweep_dir)["trials"][0]["status"] == "failed"
    stale = (sweep_dir / layout.SWEEP_LOG).read_text()
    manifest.record(name, status="completed", error=None)
    manifest.save()  # a newer sweep.json; the old log put back as if its removal had not happened yet
    (sweep_dir / layout.SWEEP_LOG).write_text(stale)
    assert read_manifest(sweep_dir)["trials"][0]["status"] == "completed"


@pytest.mark.slow  # issue 28: 91 s; compaction unit-tested in-process here
def test_a_real_sweep_compacts_its_log_and_reports_its_disk_use(tmp_path, capsys):
    from dlhw.sweeps.engine import run_sweep

    plan = _plan(tmp_path, 2)
    outcome = run_sweep(plan, tmp_path / "runs", workers=1, device="cpu", echo=lambda s: None)
    assert outcome.exit_code == 0
    data = json.loads((outcome.sweep_dir / layout.SWEEP_MANIFEST).read_text())
    assert not (outcome.sweep_dir / layout.SWEEP_LOG).exists()
    assert [t["status"] for t in data["trials"]] == ["completed", "completed"]
    assert 0 < data["disk_bytes"] == outcome.disk_bytes
    assert not list(outcome.sweep_dir.glob(f"*/{layout.CHECKPOINTS}"))
    from dlhw.api.sweep_folder import Sweep
    from dlhw.cli.sweep import format_bytes, print_closing

    assert format_bytes(1536) == "1.5 KB" and format_bytes(10) == "10 B"
    sweep = Sweep(outcome.sweep_dir)
    assert sweep.disk_bytes == data["disk_bytes"]
    capsys.readouterr()
    print_closing(sweep)
    assert f"({format_bytes(data['disk_bytes'])} on disk)" in " ".join(capsys.readouterr().out.split())


# ------------------------------------------------------------ dry run of a big grid
def test_a_dry_run_builds_each_distinct_model_once_and_lists_the_first_trials(tmp_path, monkeypatch):
    import dlhw.models

    built = []
    real = dlhw.models.build_model
    monkeypatch.setattr(dlhw.models, "build_model", lambda cfg, ds: (built.append(1), real(cfg, ds))[1])
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    rates = [round(0.001 * (i + 1), 4) for i in range(30)]
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "grid": {
        "training.optimizer.learning_rate": rates, "model.layers.0.units": [8, 16]}}))
    res = runner.invoke(app, ["sweep", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "runs"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert len(built) == 2  # two model shapes among 60 trials
    assert "and 10 more trials" in res.output and "60 to run" in res.output
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------ reports of many runs
def test_a_report_of_many_runs_links_every_folder_and_embeds_the_best_matrices(tmp_path):
    from dlhw.reports import html as H
    from dlhw.reports import make_report
    from tests.reports.test_report import write_sweep

    n = H.GALLERY + 8
    root = write_sweep(tmp_path / "runs" / "many", "many", [
        (f"t{i:02d}", f"t{i:02d}", {"model.units": i}, "completed", 0.3 + i / 100, {}) for i in range(n)])
    make_report([root], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    gallery = page.split("<h2>Confusion matrices")[1].split("<h2")[0]  # the gallery alone (run details follow)
    assert gallery.count('src="data:image/png;base64,') == H.GALLERY
    best = [f"t{i:02d}" for i in range(n - 1, n - 1 - H.GALLERY, -1)]
    assert re.findall(r"<figcaption>(t\d\d)", gallery) == best  # the best by val accuracy, best first
    for i in range(n):  # every run in the table, linked to its folder (relative to report.html)
        assert f'href="../runs/many/t{i:02d}/"' in page
    shutil.rmtree(root / "t00")
    make_report([root], tmp_path / "out")  # a trial sweep.json lists without a folder: no dead link
    assert 'href="../runs/many/t00/"' not in (tmp_path / "out" / "report.html").read_text()
