"""tracking.wandb: runs, searches and resumed runs copied to Weights & Biases, offline (no network
here), asserted on what wandb wrote: the run's .wandb transaction log, read record by record."""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from tests.conftest import REPO, TINY
from tests.conftest import write_yaml as write

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2 as pb  # noqa: E402

SECRET = "0123456789abcdef0123456789abcdef01234567"  # a fake API key: never written anywhere


@pytest.fixture(autouse=True)
def wandb_env(tmp_path, monkeypatch):
    """wandb's own folders inside tmp_path; no API key, no netrc, no WANDB_MODE (each test says)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(home / name.lower()))
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_BASE_URL",
                 "WANDB_DISABLED", "NETRC", "WANDB_RUN_GROUP", "WANDB_TAGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


# ------------------------------------------------------------ reading what wandb wrote
def _chunks(path: Path) -> Iterator[bytes]:
    """The records of a .wandb file: W&B's LevelDB-style log (a 7-byte header ':W&B', then 32 KiB
    blocks of records, each with a 7-byte header: crc32, length, type full/first/middle/last)."""
    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B", path
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if n == 0 and kind == 0:  # the rest of a block, padded
            pos += left
            continue
        if pos + 7 + n > len(data):  # a record still being written
            return
        chunk, pos = data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk


def _items(items) -> Dict[str, Any]:
    return {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in items}


def read_offline(run_folder: Path) -> Dict[str, Any]:
    """One offline run (wandb/offline-run-*): its id, group, tags, config, history rows, summary
    (the updates merged in order), artifacts and exit code."""
    (log,) = list(run_folder.glob("run-*.wandb"))
    out: Dict[str, Any] = {"history": [], "summary": {}, "config": {}, "artifacts": [], "exit": None}
    for chunk in _chunks(log):
        rec = pb.Record()
        rec.ParseFromString(chunk)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out.update(id=rec.run.run_id, group=rec.run.run_group, tags=list(rec.run.tags),
                       job_type=rec.run.job_type, project=rec.run.project)
            out["config"].update(_items(rec.run.config.update))
        elif kind == "config":
            out["config"].update(_items(rec.config.update))
        elif kind == "history":
            out["history"].append(_items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(_items(rec.summary.update))
        elif kind == "artifact":
            out["artifacts"].append((rec.artifact.type, sorted(f.path for f in rec.artifact.manifest.contents)))
        elif kind == "exit":
            out["exit"] = rec.exit.exit_code
    return out


def offline_runs(run_dir: Path, wait: float = 60.0) -> List[Dict[str, Any]]:
    """The offline runs of a run folder, once each has its exit record (wandb's service may still
    be writing the last records of the log when ``finish`` returns)."""
    deadline = time.monotonic() + wait
    while True:
        runs = [read_offline(p) for p in sorted((run_dir / "wandb").glob("offline-run-*"))]
        if all(r["exit"] is not None for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def epochs(run: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [row for row in run["history"] if "loss" in row]


def tracked(wandb_cfg: Any = True, **training) -> dict:
    cfg = copy.deepcopy(TINY)
    cfg["training"].update({"epochs": 2, **training})
    cfg["tracking"] = {"wandb": wandb_cfg}
    return cfg


def dlhw(*args: str, env: Dict[str, str] | None = None, pre: str = "") -> subprocess.CompletedProcess:
    code = f"import sys; {pre}from dlhw.cli import main; sys.argv = ['dlhw'] + sys.argv[1:]; main()"
    full = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=full, timeout=600)


# ------------------------------------------------------------------ one run
def test_a_run_without_a_key_is_logged_offline_whole(tmp_path):
    """No API key: one line says offline; config, every epoch, final metrics, plots and files in
    wandb's offline run under the run folder; no credential in any file."""
    f = write(tmp_path / "tiny.yaml", tracked({"project": "p", "tags": ["a"]}))
    r = dlhw("run", str(f), "--out", str(tmp_path / "runs"), env={"WANDB_ENTITY": ""})
    assert r.returncode == 0, r.stdout + r.stderr
    said = [line for line in (r.stdout + r.stderr).splitlines() if "tracking.wandb" in line]
    assert len(said) == 1 and "no W&B API key" in said[0] and "wandb sync" in said[0], said
    run_dir = tmp_path / "runs" / "tiny"
    saved = json.loads((run_dir / "wandb.json").read_text())
    assert saved["mode"] == "offline" and saved["project"] == "p"
    (run,) = offline_runs(run_dir)
    assert run["id"] == saved["run_id"] and run["tags"] == ["a"] and run["project"] == "p" and run["exit"] == 0
    assert run["config"]["model.layers.0.units"] == 16 and run["config"]["training.epochs"] == 2
    assert run["config"]["dataset.name"] == "digits" and not any(k.startswith("tracking") for k in run["config"])
    with open(run_dir / "history.csv", newline="") as fh:
        history = list(csv.DictReader(fh))
    rows = epochs(run)
    assert [row["epoch"] for row in rows] == [1, 2]
    for row, line in zip(rows, history):
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert row[key] == pytest.approx(float(line[key]), rel=1e-5), key
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run["summary"]["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert run["summary"]["val_loss"] == pytest.approx(metrics["val"]["loss"])
    assert run["summary"]["best_epoch"] == metrics["best_epoch"] and run["summary"]["dlhw.status"] == "completed"
    assert run["summary"]["confusion_matrix/_type"] == run["summary"]["roc/_type"] == "image-file"  # the plots
    ((kind, files),) = run["artifacts"]  # the run folder's small files; no model unless log_model
    assert kind == "run-folder" and {"config.yaml", "metrics.json", "history.csv", "status.json"} <= set(files)
    assert "model.keras" not in files and not any(p.startswith(("wandb/", "checkpoints/")) for p in files)


def test_tracking_wandb_true_and_the_config_hash(tmp_path):
    """``wandb: true`` takes the defaults; tracking is not part of the config hash."""
    from dlhw.config import validate
    from dlhw.config.fingerprint import fingerprint

    on = validate(tracked(True))
    assert on.tracking.wandb is not None and on.tracking.wandb.log_model is False
    assert on.tracking.wandb.tags == [] and validate(tracked(False)).tracking.wandb is None
    assert fingerprint(on) == fingerprint(validate(tracked({"project": "x", "mode": "offline"})))
    assert fingerprint(on) == fingerprint(validate({k: v for k, v in tracked().items() if k != "tracking"}))


def test_an_interrupted_run_resumed_continues_its_wandb_run(tmp_path, monkeypatch):
    """Ctrl-C at epoch 1 (exit code 1, dlhw.status interrupted); --resume continues the same W&B
    run id (wandb.json), with the remaining epochs and the final metrics; log_model: the model."""
    from dlhw.config import validate
    from dlhw.orchestration.experiment import run_experiment
    from dlhw.rundir.status import RunStatus
    from dlhw.runtime import signals

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    beat = RunStatus.heartbeat

    def heartbeat(self, **extra):
        beat(self, **extra)
        if extra.get("epoch") == 1:
            signals.STATE.requested = signal.SIGINT

    monkeypatch.setattr(RunStatus, "heartbeat", heartbeat)
    cfg = validate(tracked({"log_model": True}, epochs=3, checkpoint="auto"))
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, out=tmp_path / "b", quiet=True)
    monkeypatch.setattr(RunStatus, "heartbeat", beat)
    run_dir = tmp_path / "b" / "tiny"
    run_id = json.loads((run_dir / "wandb.json").read_text())["run_id"]
    (first,) = offline_runs(run_dir)
    assert first["exit"] == 1 and first["summary"]["dlhw.status"] == "interrupted" and first["artifacts"][0][0] == "run-folder"
    run_experiment(cfg, resume=run_dir, quiet=True)
    assert json.loads((run_dir / "wandb.json").read_text())["run_id"] == run_id
    runs = offline_runs(run_dir)
    assert len(runs) == 2 and {r["id"] for r in runs} == {run_id}  # the same W&B run, never a second
    second = next(r for r in runs if r["summary"].get("dlhw.status") == "completed")
    assert [row["epoch"] for row in epochs(second)] == [2, 3] and second["exit"] == 0
    assert second["summary"]["test_accuracy"] == pytest.approx(json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"])
    assert ("model", ["model.keras"]) in second["artifacts"]
    for path in run_dir.rglob("*"):  # the key reached wandb through the environment, and no file
        if path.is_file() and not path.is_symlink():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_search_is_a_group_and_a_pruned_trial_is_marked(tmp_path):
    """An Optuna search: one W&B run per trial, the sweep's name as their group and the varied
    values in their config; the trial its pruner stops has the tag pruned and dlhw.status pruned."""
    pytest.importorskip("optuna")
    lr = "training.optimizer.learning_rate"
    write(tmp_path / "base.yaml", tracked({"mode": "offline"}))
    f = write(tmp_path / "s.yaml", {"base": "base.yaml", "search": {
        "trials": 2, "sampler": "tpe", "seed": 0, "pruner": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
        "enqueue": [{lr: 0.05, "training.optimizer.type": "adam"}, {lr: 1.0e-7, "training.optimizer.type": "sgd"}]},
        "space": {lr: {"log_uniform": [1.0e-7, 1.0e-1]}, "training.optimizer.type": ["adam", "sgd"]}})
    r = dlhw("sweep", str(f), "--workers", "1", "--out", str(tmp_path / "runs"), "--device", "cpu")
    assert r.returncode == 0, r.stdout + r.stderr
    sweep_dir = tmp_path / "runs" / "s"
    trials = {t["number"]: t for t in json.loads((sweep_dir / "sweep.json").read_text())["trials"]}
    assert [trials[0]["status"], trials[1]["status"]] == ["completed", "pruned"]
    done, pruned = (offline_runs(sweep_dir / trials[n]["run_dir"]) for n in (0, 1))
    assert len(done) == 1 and len(pruned) == 1
    done, pruned = done[0], pruned[0]
    assert done["group"] == pruned["group"] == "s" and done["id"] != pruned["id"]
    assert done["job_type"] == "trial" and done["config"]["sweep.name"] == "s"
    assert done["config"][f"sweep.varied.{lr}"] == 0.05 and pruned["config"][f"sweep.varied.{lr}"] == 1.0e-7
    assert pruned["config"]["sweep.varied.training.optimizer.type"] == "sgd"
    assert done["summary"]["dlhw.status"] == "completed" and "pruned" not in done["tags"]
    assert pruned["summary"]["dlhw.status"] == "pruned" and pruned["summary"]["pruned_at"] == 1
    assert "pruned" in pruned["tags"]
    assert pruned["exit"] == 0 and [row["epoch"] for row in epochs(pruned)] == [1]


def test_a_grid_sweep_without_a_key_says_offline_once_and_is_one_group(tmp_path):
    """A grid of two trials, no API key: one line for the whole sweep; both trials offline, in the
    group named after the sweep, each with its varied value."""
    lr = "training.optimizer.learning_rate"
    write(tmp_path / "base.yaml", tracked({"project": "p"}, epochs=1))
    f = write(tmp_path / "g.yaml", {"base": "base.yaml", "grid": {lr: [0.01, 0.001]}})
    r = dlhw("sweep", str(f), "--workers", "1", "--out", str(tmp_path / "runs"), "--device", "cpu")
    assert r.returncode == 0, r.stdout + r.stderr
    said = [line for line in (r.stdout + r.stderr).splitlines() if "tracking.wandb" in line]
    assert len(said) == 1 and "no W&B API key" in said[0] and "wandb sync" in said[0], said
    sweep_dir = tmp_path / "runs" / "g"
    trials = json.loads((sweep_dir / "sweep.json").read_text())["trials"]
    runs = [offline_runs(sweep_dir / t["run_dir"]) for t in trials]
    assert [len(x) for x in runs] == [1, 1]
    assert {x[0]["group"] for x in runs} == {"g"} and len({x[0]["id"] for x in runs}) == 2
    assert sorted(x[0]["config"][f"sweep.varied.{lr}"] for x in runs) == [0.001, 0.01]
    assert all(x[0]["summary"]["dlhw.status"] == "completed" and x[0]["exit"] == 0 for x in runs)


# ------------------------------------------------------------------ refusals and failures
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_without_the_package_tracking_wandb_is_exit_2_before_any_folder(tmp_path, command):
    base = write(tmp_path / "tiny.yaml", tracked())
    f = base if command == "run" else write(tmp_path / "s.yaml", {
        "base": "tiny.yaml", "grid": {"training.optimizer.learning_rate": [0.01, 0.001]}})
    r = dlhw(command, str(f), "--out", str(tmp_path / "runs"), pre="sys.modules['wandb'] = None; ")
    assert r.returncode == 2, r.stdout + r.stderr
    assert 'pip install "dlhw[wandb]"' in r.stdout + r.stderr and "tracking.wandb" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "runs").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_one_line_and_the_run_goes_on(tmp_path):
    """A key but no server: offline, said once. Asked for online with no server: wandb.init fails
    within its (short) timeout, one warning, and the run completes with its results."""
    base = f"http://127.0.0.1:{_closed_port()}"
    f = write(tmp_path / "tiny.yaml", tracked({"project": "p"}, epochs=1))
    r = dlhw("run", str(f), "--out", str(tmp_path / "a"), env={"WANDB_API_KEY": SECRET, "WANDB_BASE_URL": base})
    assert r.returncode == 0, r.stdout + r.stderr
    said = [line for line in (r.stdout + r.stderr).splitlines() if "tracking.wandb" in line]
    assert len(said) == 1 and "cannot reach" in said[0] and SECRET not in r.stdout + r.stderr, said
    assert len(offline_runs(tmp_path / "a" / "tiny")) == 1

    f = write(tmp_path / "on.yaml", tracked({"project": "p", "mode": "online"}, epochs=1))
    r = dlhw("run", str(f), "--out", str(tmp_path / "b"),
             env={"WANDB_API_KEY": SECRET, "WANDB_BASE_URL": base, "WANDB_INIT_TIMEOUT": "5"})
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    said = [line for line in out.splitlines() if "tracking.wandb" in line]
    assert len(said) == 1 and "cannot start a W&B run" in said[0] and SECRET not in out, said
    run_dir = tmp_path / "b" / "tiny"
    assert (run_dir / "metrics.json").is_file() and json.loads((run_dir / "status.json").read_text())["status"] == "completed"
