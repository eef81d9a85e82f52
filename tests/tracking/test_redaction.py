"""Secrets in a tracking URI are used to connect and shown nowhere (issue 27, class 5):
not in what dlhw prints, not in config.yaml or any record of the run folder, not in MLflow's
params, tags or artifacts."""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.tracking.redact import MASK, has_secret, redact, redact_data
from tests.conftest import TINY

runner = CliRunner()
PASSWORD, TOKEN = "S3cr3t-pa55", "tok-9f8e7d"


@pytest.mark.parametrize("uri, shown", [
    (f"https://alice:{PASSWORD}@mlflow.example.com:5000/x", f"https://alice:{MASK}@mlflow.example.com:5000/x"),
    (f"http://{TOKEN}@host:5000", f"http://{MASK}@host:5000"),
    (f"postgresql://u:{PASSWORD}@db/mlflow", f"postgresql://u:{MASK}@db/mlflow"),
    (f"http://host/?token={TOKEN}&x=1", f"http://host/?token={MASK}&x=1"),
    (f"https://h/p?X-Amz-Signature={TOKEN}&X-Amz-Credential={TOKEN}&Expires=1",
     f"https://h/p?X-Amz-Signature={MASK}&X-Amz-Credential={MASK}&Expires=1"),
    (f"databricks://profile?api_key={TOKEN}", f"databricks://profile?api_key={MASK}"),
    (f"lost http://a:{PASSWORD}@h:1/api (refused)", f"lost http://a:{MASK}@h:1/api (refused)"),
])
def test_credentials_in_uris_are_masked(uri, shown):
    assert redact(uri) == shown
    assert PASSWORD not in redact(uri) and TOKEN not in redact(uri)
    assert has_secret(uri)


@pytest.mark.parametrize("text", ["sqlite:///mlflow.db", "file:./mlruns", "http://localhost:5000",
                                  "https://host/path?experiment=3", "lr=0.1 key=value", "a@b.c", "", "runs/x"])
def test_nothing_else_is_touched(text):
    assert redact(text) == text and not has_secret(text)


def test_redact_data_walks_a_config_dump():
    data = {"tracking": {"mlflow": {"uri": f"http://u:{PASSWORD}@h"}}, "layers": [{"n": f"x?token={TOKEN}"}], "k": 3}
    out = redact_data(data)
    assert PASSWORD not in str(out) and TOKEN not in str(out) and out["k"] == 3
    assert data["tracking"]["mlflow"]["uri"].endswith("@h")  # the caller's data is unchanged


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def secret_config(tmp_path: Path, uri: str) -> Path:
    cfg = copy.deepcopy(TINY)
    cfg["tracking"] = {"mlflow": {"uri": uri, "experiment": "t"}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def no_secret_under(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert PASSWORD.encode() not in data and TOKEN.encode() not in data, p


def test_an_unreachable_server_with_credentials_leaks_them_nowhere(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"http://alice:{PASSWORD}@127.0.0.1:{closed_port()}/?token={TOKEN}"
    cfg = secret_config(tmp_path, uri)
    shown = runner.invoke(app, ["show", str(cfg)])
    assert shown.exit_code == 0 and PASSWORD not in shown.output and TOKEN not in shown.output
    r = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "runs")])
    out = r.output + capfd.readouterr().err
    assert r.exit_code == 0, out
    assert "warning: tracking.mlflow" in out and f"alice:{MASK}@" in out
    assert PASSWORD not in out and TOKEN not in out
    run_dir = tmp_path / "runs" / "tiny"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["tracking"]["mlflow"]["uri"] == redact(uri)
    no_secret_under(tmp_path / "runs")


def test_a_bad_uri_in_an_error_message_is_masked(tmp_path):
    cfg = secret_config(tmp_path, f"http://alice:{PASSWORD}@host")
    data = yaml.safe_load(cfg.read_text())
    data["tracking"]["mlflow"]["bogus"] = f"http://alice:{PASSWORD}@host"
    cfg.write_text(yaml.safe_dump(data))
    r = runner.invoke(app, ["validate", str(cfg)])
    assert r.exit_code == 2 and PASSWORD not in r.output, r.output


@pytest.mark.slow
def test_a_real_server_gets_the_credentials_and_stores_none(tmp_path, monkeypatch):
    """A local MLflow server (it ignores basic auth): the run is copied there, and nothing MLflow
    holds of it (params, tags, config.yaml and every other artifact) carries the password."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    port = closed_port()
    exe = Path(sys.executable).with_name("mlflow")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mlflow"]
    server = subprocess.Popen(cmd + ["server", "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri",
                                     f"sqlite:///{tmp_path / 'm.db'}", "--default-artifact-root",
                                     (tmp_path / "art").as_uri(), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        import urllib.request

        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.skip("mlflow server did not start within 60 s")
                time.sleep(0.5)
        uri = f"http://alice:{PASSWORD}@127.0.0.1:{port}"
        r = runner.invoke(app, ["run", str(secret_config(tmp_path, uri)), "--out", str(tmp_path / "runs")])
        assert r.exit_code == 0 and "warning" not in r.output, r.output
        client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
        assert len(runs) == 1
        run = runs[0]
        assert PASSWORD not in str(run.data.params) and PASSWORD not in str(run.data.tags)
        no_secret_under(tmp_path / "art")
        no_secret_under(tmp_path / "runs")
        assert any((tmp_path / "art").rglob("config.yaml"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_a_logged_message_never_shows_a_password(caplog):
    """Masked by the filter on every dlhw logger (dlhw.runtime.log): caplog sees what a terminal would."""
    import logging

    from dlhw.runtime.log import get_logger

    with caplog.at_level(logging.WARNING, logger="dlhw"):
        get_logger("dlhw.tracking.somewhere").warning("cannot reach %s", "https://bob:hunter2@mlflow.example/x?token=abc")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "hunter2" not in text and "abc" not in text and "bob:***@mlflow.example" in text
