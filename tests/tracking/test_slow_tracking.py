"""Services that fail slowly (issue 27, class 7; issue 28's MLflow lines): a tracking failure is
one line after a bounded wait, the run completes with its whole folder either way, MLflow's INFO
lines stay out of the terminal and no ./mlruns appears unasked."""

from __future__ import annotations

import copy
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from dlhw.config import validate
from tests.conftest import TINY

mlflow = pytest.importorskip("mlflow")
RUN_FILES = ("metrics.json", "model.keras", "history.csv", "config.yaml", "env.json", "status.json")


def tracked(uri: str) -> dict:
    cfg = copy.deepcopy(TINY)
    cfg["tracking"] = {"mlflow": {"uri": uri, "experiment": "t"}}
    return cfg


def tracking_lines(err: str) -> list:
    return [ln for ln in err.splitlines() if "tracking.mlflow" in ln or "SQLAlchemy" in ln or "retried" in ln
            or ln.startswith("INFO") or "mlflow" in ln.lower()]


@pytest.mark.parametrize("store", ["parent-is-a-file", "a-fifo", "read-only-folder"])
def test_a_local_store_that_cannot_be_written_is_one_line_at_once(tmp_path, capfd, monkeypatch, store):
    """Before: MLflow retried such a sqlite store 10 times with back-off, a warning per try."""
    from dlhw.tracking.mlflow import Tracker

    monkeypatch.chdir(tmp_path)
    if store == "parent-is-a-file":
        (tmp_path / "afile").write_text("x")
        uri = f"sqlite:///{tmp_path / 'afile' / 'mlflow.db'}"
    elif store == "a-fifo":
        os.mkfifo(tmp_path / "mlflow.db")
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder; the other two cases stand for it")
        (tmp_path / "ro").mkdir(mode=0o555)
        uri = f"sqlite:///{tmp_path / 'ro' / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    capfd.readouterr()
    start = time.monotonic()
    assert Tracker.start(validate(tracked(uri)), run_dir) is None
    waited = time.monotonic() - start
    lines = tracking_lines(capfd.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("warning: tracking.mlflow: cannot reach"), lines
    from dlhw.tracking.bounded import CALL_SECONDS

    assert waited < CALL_SECONDS  # refused by the preflight, not after MLflow's retries
    assert not (tmp_path / "mlruns").exists() and not (run_dir / "mlflow.json").exists()


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers (a hung tracking service)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held, stop = [], threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    t.join(5)
    for c in held:
        c.close()
    sock.close()


def test_a_server_that_never_answers_costs_a_bounded_wait_and_one_line(tmp_path, capfd, monkeypatch, silent_server):
    from dlhw.orchestration.experiment import run_experiment
    from dlhw.tracking import bounded

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bounded, "CALL_SECONDS", 3.0)  # MLflow's own HTTP timeout here is 10 s
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")  # as a user may have it: dlhw's bound still holds
    capfd.readouterr()
    start = time.monotonic()
    outcome = run_experiment(validate(tracked(silent_server)), out=tmp_path / "runs", quiet=True)
    elapsed = time.monotonic() - start
    lines = tracking_lines(capfd.readouterr().err)
    assert outcome.status == "completed"
    assert len(lines) == 1 and "no answer within 3 s" in lines[0], lines
    for name in RUN_FILES:
        assert (outcome.run_dir / name).is_file(), name
    assert json.loads((outcome.run_dir / "status.json").read_text())["status"] == "completed"
    assert elapsed < 120  # far below MLFLOW_HTTP_REQUEST_TIMEOUT's 120 s x retries


def test_a_sqlite_store_keeps_mlflow_quiet_and_no_mlruns_in_the_working_folder(tmp_path, capfd, monkeypatch):
    from dlhw.orchestration.experiment import run_experiment

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    capfd.readouterr()
    outcome = run_experiment(validate(tracked(uri)), out=tmp_path / "runs", quiet=True)
    captured = capfd.readouterr()
    assert outcome.status == "completed"
    assert sorted(p.name for p in work.iterdir()) == []  # no ./mlruns, no ./mlflow.db
    assert (store / "mlartifacts").is_dir()  # beside the database the user named
    noisy = [ln for ln in (captured.out + captured.err).splitlines() if " INFO " in ln or ln.startswith("INFO")]
    assert not noisy, noisy
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED"]


def test_store_paths_and_preflight_units(tmp_path):
    from dlhw.tracking.bounded import artifact_root, preflight, store_path

    assert store_path("sqlite:///rel/m.db") == Path("rel/m.db")
    assert store_path("sqlite:////abs/m.db") == Path("/abs/m.db")
    assert store_path("http://host:5000") is None and store_path(None) is None
    assert artifact_root(f"sqlite:///{tmp_path / 'm.db'}") == (tmp_path / "mlartifacts").as_uri()
    preflight(f"sqlite:///{tmp_path / 'new' / 'm.db'}")  # a folder MLflow may create: fine
    with pytest.raises(OSError, match="character device"):
        preflight("sqlite:////dev/null")
