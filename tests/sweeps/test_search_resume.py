"""A search killed with SIGKILL (between trials, mid-trial) and run again proposes exactly what an
unbroken search proposes: the same parameters, in the same order, ``trials`` in all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, List

import pytest
import yaml

from tests.conftest import DLHW, TINY

pytest.importorskip("optuna")

LR = "training.optimizer.learning_rate"
SPACE = {LR: {"log_uniform": [1.0e-3, 1.0e-1]}, "model.layers.0.units": [4, 8, 12, 16]}


def search_file(tmp_path: Path, sampler: str, trials: int = 4, epochs: int = 40, checkpoint: str = "every_epoch",
                **search) -> Path:
    base = {**TINY, "training": {**TINY["training"], "epochs": epochs, "checkpoint": checkpoint}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"base": "base.yaml", "search": {"trials": trials, "sampler": sampler, "seed": 5,
                                                                 **search},
                                 "space": SPACE}, sort_keys=False))
    return f


def command(f: Path, out: Path, workers: int = 1) -> List[str]:
    return DLHW + ["sweep", str(f), "--out", str(out), "--workers", str(workers), "--device", "cpu", "-q"]


def study_trials(sweep_dir: Path):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))
    return optuna.load_study(study_name=sweep_dir.name, storage=storage).trials


def status(folder: Path) -> dict:
    try:
        return json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def trial_folder(sweep_dir: Path, number: int) -> Path | None:
    found = sorted(p for p in sweep_dir.glob(f"{number:03d}_*") if p.is_dir()) if sweep_dir.is_dir() else []
    return found[0] if found else None


def kill_when(cmd: List[str], ready: Callable[[], bool], timeout: float = 300) -> None:
    """Start ``cmd`` in its own process group and SIGKILL the group the moment ``ready()`` holds."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"the search ended before the kill point: {proc.communicate()[1][-2000:]}"
            assert time.time() < deadline, "the kill point was never reached"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        group_gone(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def group_gone(pgid: int, timeout: float = 60) -> None:
    """Wait until every process of group ``pgid`` is gone, zombies included (Linux: /proc): a pool's
    workers outlive a SIGKILL of their group by a moment, and until they are reaped their pids still
    answer, so a rerun started sooner takes their trials for running and leaves them alone."""
    deadline = time.time() + timeout
    while any(_in_group(stat, pgid) for stat in Path("/proc").glob("[0-9]*/stat")):
        assert time.time() < deadline, f"processes of group {pgid} still there {timeout}s after SIGKILL"
        time.sleep(0.05)


def _in_group(stat: Path, pgid: int) -> bool:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid
    except (OSError, IndexError, ValueError):
        return False


def finish(cmd: List[str]) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def proposals(sweep_dir: Path):
    return [(t.number, t.params, t.state.name) for t in study_trials(sweep_dir)]


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    """What an uninterrupted search proposes, per sampler (run once each)."""
    made = {}

    def get(sampler: str):
        if sampler not in made:
            root = tmp_path_factory.mktemp(f"unbroken-{sampler}")
            f = search_file(root, sampler)
            finish(command(f, root / "out"))
            made[sampler] = proposals(root / "out" / "s")
        return made[sampler]

    return get


def test_killed_while_asking_for_a_trial_the_rerun_asks_for_it_again(tmp_path, unbroken):
    """SIGKILL between the records of one ask (the trial created, one of its parameters written)
    leaves a half-made trial: the rerun takes its records out and asks again, the same parameters
    as an unbroken search, not 'a damaged study, --repair' (what a kill at that moment used to give)."""
    f = search_file(tmp_path, "tpe")
    sweep_dir = tmp_path / "out" / "s"
    finish(command(f, tmp_path / "out") + ["--set", "search.trials=2"])  # trials 0 and 1, as the unbroken search
    journal = sweep_dir / "study.journal"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    create = next(r for r in records if r["op_code"] == 4)  # what an ask writes first: the trial, then each param
    param = next(r for r in records if r["op_code"] == 5 and r["trial_id"] == 1)
    with journal.open("a") as fh:
        fh.write(json.dumps(create) + "\n" + json.dumps({**param, "trial_id": 2}) + "\n")
    half = proposals(sweep_dir)[2]
    assert half[2] == "RUNNING" and len(half[1]) == 1  # one of the two keys: killed mid-ask
    res = finish(command(f, tmp_path / "out"))
    assert "trial 2 was being asked for when the search stopped; asked for again" in res.stdout + res.stderr
    after = proposals(sweep_dir)
    assert [(n, p) for n, p, _ in after] == [(n, p) for n, p, _ in unbroken("tpe")]
    assert [s for _, _, s in after] == ["COMPLETE"] * 4


@pytest.mark.parametrize("sampler", ["tpe", pytest.param("random", marks=pytest.mark.slow)])
def test_killed_after_a_trial_the_rerun_proposes_what_an_unbroken_search_proposes(tmp_path, unbroken, sampler):
    f = search_file(tmp_path, sampler)
    sweep_dir = tmp_path / "out" / "s"
    cmd = command(f, tmp_path / "out")

    def second_done() -> bool:
        folder = trial_folder(sweep_dir, 1)
        return folder is not None and status(folder).get("status") == "completed"

    kill_when(cmd, second_done)
    before = proposals(sweep_dir)  # trial 1's folder is completed; the study may not have heard it yet
    assert len(before) >= 2 and before[0][2] == "COMPLETE" and status(trial_folder(sweep_dir, 1))["status"] == "completed"
    finish(cmd)
    after = proposals(sweep_dir)
    expected = unbroken(sampler)
    assert [(n, p) for n, p, _ in after] == [(n, p) for n, p, _ in expected]
    assert [s for _, _, s in after] == ["COMPLETE"] * 4
    assert len({json.dumps(p, sort_keys=True) for _, p, _ in after}) == 4  # no trial proposed twice


def test_killed_mid_trial_the_rerun_resumes_it_and_proposes_the_same_rest(tmp_path, unbroken):
    f = search_file(tmp_path, "random")
    sweep_dir = tmp_path / "out" / "s"
    cmd = command(f, tmp_path / "out")

    def mid_second() -> bool:
        folder = trial_folder(sweep_dir, 2)
        return folder is not None and (folder / "checkpoints" / "last.ckpt.npz").is_file()

    kill_when(cmd, mid_second)
    before = proposals(sweep_dir)
    assert before[2][2] == "RUNNING" and len(before) == 3  # killed inside trial 2, before trial 3 was asked
    finish(cmd)
    after = proposals(sweep_dir)
    assert [(n, p) for n, p, _ in after] == [(n, p) for n, p, _ in unbroken("random")]
    assert [s for _, _, s in after] == ["COMPLETE"] * 4
    history = (trial_folder(sweep_dir, 2) / "history.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[1]) for r in history] == list(range(1, 41))  # continued, each epoch once


@pytest.mark.slow
def test_two_workers_killed_mid_search_keep_every_finished_trial_and_no_duplicates(tmp_path):
    f = search_file(tmp_path, "tpe", trials=5)
    sweep_dir = tmp_path / "out" / "s"
    cmd = command(f, tmp_path / "out", workers=2)

    def one_done_two_running() -> bool:
        folders = [trial_folder(sweep_dir, n) for n in range(5)]
        states = [status(p).get("status") for p in folders if p is not None]
        return "completed" in states and "running" in states

    kill_when(cmd, one_done_two_running)
    params = {n: p for n, p, _ in proposals(sweep_dir)}  # a trial may have finished before the study was told
    done = {n: params[n] for n in range(5) if trial_folder(sweep_dir, n) is not None
            and status(trial_folder(sweep_dir, n)).get("status") == "completed"}
    stamps = {n: (trial_folder(sweep_dir, n) / "metrics.json").stat().st_mtime_ns for n in done}
    assert done
    finish(cmd)
    after = proposals(sweep_dir)
    assert len(after) == 5 and [s for _, _, s in after] == ["COMPLETE"] * 5
    assert len({json.dumps(p, sort_keys=True) for _, p, _ in after}) == 5
    for n, p in done.items():  # kept, not trained again
        assert after[n][1] == p
        assert (trial_folder(sweep_dir, n) / "metrics.json").stat().st_mtime_ns == stamps[n]


@pytest.mark.slow
def test_killed_mid_promotion_the_rerun_ends_as_an_unbroken_search(tmp_path):
    """Successive halving (rungs 10, 30, 40 epochs): killed while the promoted trial trains past
    its first rung; the rerun continues it from its checkpoint and ends as an unbroken search."""
    sched = {"type": "successive_halving", "min_epochs": 10, "reduction_factor": 3}
    runs = {}
    for name in ("unbroken", "killed"):
        (tmp_path / name).mkdir()
        f = search_file(tmp_path / name, "random", trials=3, epochs=40, scheduler=sched)
        sweep_dir = tmp_path / name / "out" / "s"
        cmd = command(f, tmp_path / name / "out")
        if name == "killed":
            def promoted_training(sweep_dir: Path = sweep_dir) -> bool:  # after rung 0 all paused; now one continues
                folders = [trial_folder(sweep_dir, n) for n in range(3)]
                states = [status(p).get("status") for p in folders if p is not None]
                return states.count("paused") == 2 and states.count("running") == 1

            kill_when(cmd, promoted_training)
        finish(cmd)
        runs[name] = (proposals(sweep_dir), {n: epochs_of(trial_folder(sweep_dir, n)) for n in range(3)})
    assert runs["killed"] == runs["unbroken"]
    states = sorted(s for _, _, s in runs["killed"][0])
    assert states == ["COMPLETE", "RUNNING", "RUNNING"]  # one promoted to the end, two paused at rung 0
    assert sorted(len(e) for e in runs["killed"][1].values()) == [10, 10, 40]
    assert all(e == list(range(1, len(e) + 1)) for e in runs["killed"][1].values())  # each epoch once


def epochs_of(folder: Path) -> list:
    try:
        rows = (folder / "history.csv").read_text().strip().splitlines()[1:]
    except OSError:
        return []
    return [int(r.split(",")[1]) for r in rows if r.count(",") >= 1]
