"""search.scheduler: successive halving and Hyperband by promotion. The best trials of a rung
continue from their own checkpoint (history.csv numbers their epochs on, never from 1 again);
the others pause (status paused, checkpoint kept); the lineage is in trial.json and sweep.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import TINY

pytest.importorskip("optuna")
runner = CliRunner()
LR = "training.optimizer.learning_rate"


def search_file(tmp_path: Path, scheduler, epochs: int = 3, trials: int = 3, checkpoint="auto", **search) -> Path:
    base = {**TINY, "training": {**TINY["training"], "epochs": epochs, "checkpoint": checkpoint}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"base": "base.yaml", "search": {"trials": trials, "sampler": "random", "seed": 0,
                                                                 "scheduler": scheduler, **search},
                                 "space": {LR: {"log_uniform": [1.0e-3, 1.0e-1]}}}, sort_keys=False))
    return f


def sweep(f: Path, out: Path, *args: str):
    return runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", *args])


def epochs_of(folder: Path) -> list:
    return [int(r.split(",")[1]) for r in (folder / "history.csv").read_text().strip().splitlines()[1:]]


def test_successive_halving_promotes_the_best_from_its_checkpoint_and_pauses_the_rest(tmp_path):
    f = search_file(tmp_path, {"type": "successive_halving", "min_epochs": 1, "reduction_factor": 3})
    out = tmp_path / "out"
    r = sweep(f, out, "--workers", "1")
    assert r.exit_code == 0, r.output
    assert "bracket 0: 3x1 -> 1x3" in r.output
    sweep_dir = out / "s"
    folders = sorted(p for p in sweep_dir.glob("00*") if p.is_dir())
    status = {p.name: json.loads((p / "status.json").read_text())["status"] for p in folders}
    assert sorted(status.values()) == ["completed", "paused", "paused"]
    lineage = {p.name: json.loads((p / "trial.json").read_text())["lineage"] for p in folders}
    rung0 = {name: lin["rungs"][0]["value"] for name, lin in lineage.items()}
    best = max(rung0, key=lambda n: (rung0[n], -int(n[:3])))
    assert status[best] == "completed"  # the best at rung 0 went on
    assert epochs_of(sweep_dir / best) == [1, 2, 3]  # continued from epoch 1: numbering goes on
    rungs = lineage[best]["rungs"]
    assert [(x["epochs"], x["from_epoch"]) for x in rungs] == [(1, 0), (3, 1)]
    assert rungs[1]["from_checkpoint"] == "checkpoints/last.ckpt.npz at epoch 1"
    entry = next(t for t in json.loads((sweep_dir / "sweep.json").read_text())["trials"] if t["name"] == best)
    assert entry["resumed"] is True and entry["status"] == "completed"
    for name, s in status.items():
        if s == "paused":  # kept, resumable: one epoch and the checkpoint it stopped at
            assert epochs_of(sweep_dir / name) == [1]
            assert (sweep_dir / name / "checkpoints" / "last.ckpt.npz").is_file()
            assert not (sweep_dir / name / "model.keras").exists()
    rep = runner.invoke(app, ["report", str(sweep_dir)])  # the Search section draws each trial's lineage
    assert rep.exit_code == 0, rep.output
    page = (sweep_dir / "report.html").read_text()
    assert "successive_halving scheduler" in page and "paused at epoch 1" in page
    assert f"bracket 0: 1 ep {rung0[best]:.4f} -&gt; 3 ep" in page and "(from checkpoint at epoch 1)" in page
    stamps = {p.name: (p / "history.csv").stat().st_mtime_ns for p in folders}
    again = sweep(f, out, "--workers", "1")
    assert again.exit_code == 0, again.output
    assert {p.name: (p / "history.csv").stat().st_mtime_ns for p in folders} == stamps  # nothing trained again


def test_hyperband_brackets_follow_the_paper():
    from dlhw.sweeps.sources.promotion import hyperband, promote, rung_epochs, successive_halving, total_epochs

    assert rung_epochs(1, 27, 3) == [1, 3, 9, 27] and rung_epochs(2, 20, 3) == [2, 6, 18, 20]
    # R = 27, eta = 3: the paper's brackets n = 27, 12, 6, 4 starting at 1, 3, 9, 27 epochs
    full = hyperband(49, 1, 27, 3)
    assert [(b.sizes, b.epochs) for b in full] == [([27, 9, 3, 1], [1, 3, 9, 27]), ([12, 4, 1], [3, 9, 27]),
                                                   ([6, 2], [9, 27]), ([4], [27])]
    assert sum(b.trials for b in hyperband(10, 1, 9, 3)) == 10
    sha = successive_halving(9, 1, 9, 3)[0]
    assert sha.sizes == [9, 3, 1] and total_epochs([sha]) == 9 * 1 + 3 * 2 + 1 * 6
    assert promote({0: 0.5, 1: 0.9, 2: None, 3: 0.9}, 2, maximize=True) == [1, 3]
    assert promote({0: 0.5, 1: 0.9}, 1, maximize=False) == [0]


@pytest.mark.parametrize("scheduler,extra,checkpoint,message", [
    ({"type": "hyperband"}, {}, "off", "search.scheduler: hyperband continues the trials it promotes from their "
                                      "checkpoints, and training.checkpoint is off"),
    ({"type": "successive_halving"}, {"pruner": "asha"}, "auto", "search.scheduler: successive_halving decides"),
    ({"type": "hyperbnd"}, {}, "auto", "search.scheduler.type: unknown scheduler 'hyperbnd' (did you mean 'hyperband'?)"),
])
def test_promotion_bad_input_is_one_line_exit_2(tmp_path, scheduler, extra, checkpoint, message):
    f = search_file(tmp_path, scheduler, checkpoint=checkpoint, **extra)
    r = sweep(f, tmp_path / "out")
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and message in line, line
    assert not (tmp_path / "out").exists()


def test_hyperband_by_promotion_on_two_workers(tmp_path):
    f = search_file(tmp_path, {"type": "hyperband", "min_epochs": 1, "reduction_factor": 3}, trials=4)
    out = tmp_path / "out"
    r = sweep(f, out, "--workers", "2")
    assert r.exit_code == 0, r.output
    assert "bracket 0: 2x1 -> 1x3; bracket 1: 2x3" in r.output
    sweep_dir = out / "s"
    m = json.loads((sweep_dir / "sweep.json").read_text())
    by_status = sorted(t["status"] for t in m["trials"])
    assert by_status == ["completed", "completed", "completed", "paused"]
    brackets = {t["name"]: t["lineage"]["bracket"] for t in m["trials"]}
    assert sorted(brackets.values()) == [0, 0, 1, 1]
    second = [t["pid"] for t in m["trials"] if t["lineage"]["bracket"] == 1]
    assert len(set(second)) == 2  # a rung's trials train at once, one per worker
    # one pool for every rung: the same two workers throughout, the one-trial rung included (it used
    # to train in this process, and each later rung spawned two new workers importing TensorFlow)
    pids = {t["pid"] for t in m["trials"]}
    assert len(pids) == 2 and os.getpid() not in pids, pids
    for t in m["trials"]:
        got = epochs_of(sweep_dir / t["run_dir"])
        assert got == ([1] if t["status"] == "paused" else [1, 2, 3])  # bracket 0's winner went on from epoch 1
