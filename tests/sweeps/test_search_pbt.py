"""search.scheduler: pbt. Every generation the bottom of the population copies a top trial's
checkpoint (exploit) and perturbs its numeric parameters (explore); the trial goes on from the
copied epoch with its new config, recorded in its lineage; a SIGKILLed search finishes on a rerun."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import TINY
from tests.sweeps.test_search_resume import command, finish, kill_when, study_trials

pytest.importorskip("optuna")
runner = CliRunner()
LR = "training.optimizer.learning_rate"
UNITS = "model.layers.0.units"


def pbt_file(tmp_path: Path, trials: int = 4, epochs: int = 3, checkpoint="auto", **sched) -> Path:
    base = {**TINY, "training": {**TINY["training"], "epochs": epochs, "checkpoint": checkpoint}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    f = tmp_path / "s.yaml"
    scheduler = {"type": "pbt", "interval": 1, "quantile": 0.25, "perturb": [0.8, 1.2], **sched}
    f.write_text(yaml.safe_dump({"base": "base.yaml", "search": {"trials": trials, "sampler": "random", "seed": 3,
                                                                 "scheduler": scheduler},
                                 "space": {LR: {"log_uniform": [1.0e-3, 1.0e-1]}, UNITS: [8, 16]}},
                                sort_keys=False))
    return f


def history(folder: Path) -> list:
    with open(folder / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def check_population(sweep_dir: Path) -> dict:
    """Four trials, each completed with epochs 1, 2, 3; every exploit applied as its lineage says."""
    m = json.loads((sweep_dir / "sweep.json").read_text())
    folders = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name[:3].isdigit())
    assert len(folders) == 4 and len(m["trials"]) == 4, [p.name for p in folders]  # no duplicates
    assert sorted(t.number for t in study_trials(sweep_dir)) == [0, 1, 2, 3]
    assert {t["status"] for t in m["trials"]} == {"completed"}
    state = json.loads((sweep_dir / "pbt.json").read_text())
    assert sorted(state["generations"]) == ["0", "1"]  # 3 generations: decisions after the first two
    for folder in folders:
        assert [int(r["epoch"]) for r in history(folder)] == [1, 2, 3]
    by_number = {int(p.name[:3]): p for p in folders}
    exploits = [x for g in state["generations"].values() for x in g["exploits"]]
    assert len(exploits) == 2  # quantile 0.25 of 4: one trial per generation
    for x in exploits:
        lineage = json.loads((by_number[x["trial"]] / "trial.json").read_text())["lineage"]
        recorded = next(e for e in lineage["exploits"] if e["epoch"] == x["epoch"])
        assert recorded["from_trial"] == x["from_trial"] != x["trial"]
        assert recorded["checkpoint"] == f"{by_number[x['from_trial']].name}/checkpoints/last.ckpt.npz"
        assert set(recorded["perturb"]) == {LR} and recorded["perturb"][LR] in (0.8, 1.2)
        assert recorded["params"][LR] == pytest.approx(x["donor_params"][LR] * recorded["perturb"][LR])
        assert recorded["params"][UNITS] == x["donor_params"][UNITS]  # a categorical: copied, not perturbed
    last = exploits[-1]  # nothing copies into the trial after it: its config and history show the exploit
    folder = by_number[last["trial"]]
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    assert cfg["training"]["optimizer"]["learning_rate"] == pytest.approx(last["params"][LR])
    assert cfg["model"]["layers"][0]["units"] == last["params"][UNITS]
    donor_rows = state["generations"]["1"]["values"][str(last["from_trial"])]
    assert float(history(folder)[1]["val_accuracy"]) == pytest.approx(donor_rows)  # epoch 2: the donor's row
    assert float(history(folder)[2]["lr"]) == pytest.approx(last["params"][LR], rel=1e-5)  # epoch 3: its own rate
    entry = next(t for t in m["trials"] if t["run_dir"] == folder.name)
    assert entry["lineage"]["exploits"][-1]["from_trial"] == last["from_trial"]
    return m


def test_pbt_population_exploits_and_explores(tmp_path):
    f = pbt_file(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "population of 4, 3 generation(s) of 1 epoch(s)" in r.output
    assert r.output.count("checkpoint at epoch") == 2
    sweep_dir = out / "s"
    check_population(sweep_dir)
    rep = runner.invoke(app, ["report", str(sweep_dir)])
    assert rep.exit_code == 0, rep.output
    page = (sweep_dir / "report.html").read_text()
    assert "pbt scheduler (population-based training)" in page and "checkpoint at epoch 1; learning_rate x" in page
    stamps = {p.name: (p / "history.csv").stat().st_mtime_ns for p in sweep_dir.iterdir() if p.is_dir()
              and p.name[:3].isdigit()}
    again = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--workers", "1"])
    assert again.exit_code == 0, again.output
    assert {n: (sweep_dir / n / "history.csv").stat().st_mtime_ns for n in stamps} == stamps  # nothing retrained


@pytest.mark.slow
def test_pbt_resumes_after_sigkill(tmp_path):
    f = pbt_file(tmp_path)
    out = tmp_path / "out"
    sweep_dir = out / "s"
    kill_when(command(f, out), lambda: (sweep_dir / "pbt.json").is_file())  # right after the first decision
    finish(command(f, out))
    check_population(sweep_dir)


@pytest.mark.parametrize("sched,checkpoint,message", [
    ({"keys": [UNITS]}, "auto", f"search.scheduler.keys: pbt perturbs numbers, and space.{UNITS} is categorical"),
    ({}, "off", "search.scheduler: pbt continues trials from checkpoints (their own, or a better trial's it "
                "copies), and training.checkpoint is off"),
])
def test_pbt_bad_input_is_one_line_exit_2(tmp_path, sched, checkpoint, message):
    f = pbt_file(tmp_path, checkpoint=checkpoint, **sched)
    r = runner.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and message in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_pbt_on_two_workers(tmp_path):
    """Each generation is one batch on the pool: the population's trials train at once."""
    f = pbt_file(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", "--workers", "2"])
    assert r.exit_code == 0, r.output
    m = check_population(out / "s")
    assert len({t["pid"] for t in m["trials"]}) == 2
