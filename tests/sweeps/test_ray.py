"""dlhw sweep --executor ray: a private instance beside another cluster, wrong addresses, token auth,
trial folders without a shared filesystem, and trials with no folder in the report.

Every Ray instance a test starts is its own: the private local instance dlhw starts (shut down by the
sweep), or a `ray start --head --block` in its own process group and temp folder, ended by that
group's id. Nothing here reads or writes /tmp/ray, and `ray stop` (which stops every Ray on the
machine) is never run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app

runner = CliRunner()
from tests.conftest import DLHW, TINY, wait_for  # noqa: E402


def sweep_file(tmp_path: Path, units=(8, 12), name: str = "onray") -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    f = tmp_path / f"{name}.yaml"
    f.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.layers": [[{"units": u}] for u in units]}}))
    return f


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_env(monkeypatch):
    """No RAY_ADDRESS, no auth settings from the caller, and a private RAY_TMPDIR (short: Ray puts
    socket paths under it) in which the test may plant a 'running cluster'."""
    pytest.importorskip("ray")
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    tmp = Path(tempfile.mkdtemp(prefix="dlhw-t-"))
    monkeypatch.setenv("RAY_TMPDIR", str(tmp))
    yield tmp
    import shutil

    import ray

    if ray.is_initialized():
        ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- the report
def test_report_lists_a_failed_trial_that_has_no_folder(tmp_path):
    """A Ray worker that died before its trial's folder existed: sweep.json has the trial, no folder does."""
    sweep = tmp_path / "runs" / "sw"
    done = sweep / "units-8"
    done.mkdir(parents=True)
    (done / "status.json").write_text(json.dumps({"status": "completed", "name": "units-8"}))
    (done / "metrics.json").write_text(json.dumps({"val": {"accuracy": 0.5, "loss": 1.0}}))
    died = "Ray task failed: WorkerCrashedError: The worker died unexpectedly"
    (sweep / "sweep.json").write_text(json.dumps({"name": "sw", "varied_keys": ["model.units"], "trials": [
        {"name": "units-8", "group": "units-8", "varied": {"model.units": 8}, "status": "completed"},
        {"name": "units-12", "group": "units-12", "varied": {"model.units": 12}, "status": "failed", "error": died},
        {"name": "units-16", "group": "units-16", "varied": {"model.units": 16}, "status": "queued"}]}))
    r = runner.invoke(app, ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert "3 runs" in r.output and f"units-12 (failed): {died}" in r.output
    rows = (tmp_path / "rep" / "summary.csv").read_text().splitlines()
    assert len(rows) == 4 and any(row.startswith("units-12,12,failed") and died in row for row in rows), rows
    assert any(row.startswith("units-16,16,queued") for row in rows), rows
    # only the sweep folder itself lists its trials: a run folder given alone stays alone
    r = runner.invoke(app, ["report", str(done), "--out", str(tmp_path / "one")])
    assert r.exit_code == 0 and "1 runs" in r.output, r.output


# ------------------------------------------------------- addresses and auth
class NotRay(threading.Thread):
    """A loopback TCP server that answers like a web server (a dashboard port given as --address)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(64)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("kind", ["closed port", "not ray"])
def test_a_wrong_address_fails_at_once_in_one_line(tmp_path, ray_env, kind):
    if kind == "not ray":
        server = NotRay()
        server.start()
        port, words = server.port, "not a Ray cluster"
    else:
        port, words = free_port(), "connection refused"
    f = sweep_file(tmp_path)
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--executor", "ray", "--address", f"127.0.0.1:{port}"])
    if kind == "not ray":
        server.sock.close()
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert f"--address 127.0.0.1:{port}: cannot reach a Ray cluster" in lines[0] and words in lines[0], r.output
    assert not (out / "onray" / "sweep.json").exists()  # checked before any trial was queued


def group_gone(pgid: int) -> bool:
    """No process is left in the process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def token_cluster(ray_env, tmp_path):
    """`ray start --head --block` with token authentication, in its own process group and temp folder."""
    port, token = free_port(), os.urandom(16).hex()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_TMPDIR": str(ray_env)}
    ray_cli = Path(sys.executable).with_name("ray")
    proc = subprocess.Popen([str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
                             "--include-dashboard=false", "--disable-usage-stats"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"ray start exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        yield port, token
    finally:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            wait_for(lambda: group_gone(proc.pid), 1)  # the group's other members end with their parent


@pytest.mark.slow
def test_a_cluster_with_token_auth_says_what_to_set(tmp_path, token_cluster):
    port, token = token_cluster
    f = sweep_file(tmp_path, units=(8,))
    out = tmp_path / "runs"
    cmd = DLHW + ["sweep", str(f), "--out", str(out), "--executor", "ray", "--address", f"127.0.0.1:{port}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    text = (r.stdout + r.stderr).strip()
    assert r.returncode == 2 and len(text.splitlines()) == 1, text
    assert "uses token authentication; set RAY_AUTH_MODE=token" in text and "gcs_client" not in text, text
    # with what the line says to set, the sweep connects, says where, and trains there
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Ray: connected to the cluster at 127.0.0.1:{port}" in r.stdout
    manifest = json.loads((out / "onray" / "sweep.json").read_text())
    assert [t["status"] for t in manifest["trials"]] == ["completed"]


# --------------------------------------------------------- a private instance
@pytest.mark.slow  # issue 28: 91 s
def test_ray_sweep_starts_a_private_instance_beside_a_running_cluster(tmp_path, ray_env):
    """Another cluster's address file (what `ray start` leaves) no longer breaks the sweep, nor is touched;
    Ray's own log lines go to the sweep's ray.log."""
    pointer = ray_env / "ray" / "ray_current_cluster"
    pointer.parent.mkdir()
    pointer.write_text(f"127.0.0.1:{free_port()}")
    f = sweep_file(tmp_path)
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--executor", "ray", "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert "Ray: started a private local instance" in r.output and "Token authentication" not in r.output
    manifest = json.loads((out / "onray" / "sweep.json").read_text())
    assert manifest["executor"] == "ray" and [t["status"] for t in manifest["trials"]] == ["completed", "completed"]
    assert os.getpid() not in {t["pid"] for t in manifest["trials"]}
    assert (out / "onray" / "layers-12" / "metrics.json").exists() and (out / "onray" / "ray.log").exists()
    assert not [p for p in (out / "onray").iterdir()  # marker and temp names gone (.lock: the sweep's lock file)
                if p.name.startswith(".") and p.name != ".lock"]
    assert pointer.read_text().startswith("127.0.0.1:")


# ------------------------------------------------ no shared filesystem
def _jobs(tmp_path: Path, sweep_dir: Path, units=(8,)):
    from dlhw.sweeps import build_plan

    plan = build_plan(sweep_file(tmp_path, units=units))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    from dlhw.sweeps.records import Job

    return [Job(name=t.name, raw=t.raw, source=t.source, out=str(sweep_dir), device="cpu") for t in plan.trials]


def test_a_worker_that_cannot_see_out_ships_the_trial_folder_back(tmp_path):
    """Two folders stand in for two nodes: the driver's OUT on node A, and node B, where a worker
    finds no such folder. The trial comes back as an archive and lands in node A's OUT."""
    from dlhw.sweeps.executors.ray import _collect, ray_trial

    node_a, node_b = tmp_path / "node-a", tmp_path / "node-b"
    node_b.mkdir()
    sweep_dir = node_a / "runs" / "onray"
    job = _jobs(tmp_path, sweep_dir)[0]
    marker = ".dlhw-ray-test"
    (sweep_dir / marker).touch()

    def on_node_b(p: Path) -> Path:
        return node_b / p.relative_to(node_a)

    res = ray_trial(job, marker, None, on_node_b)
    assert res.status == "completed" and isinstance(res.archive, bytes)
    assert not (sweep_dir / job.name).exists() and not any(node_b.iterdir())

    class FakeRay:  # _collect as the driver runs it, on a result already in hand
        @staticmethod
        def get(ref):
            return ref

    (sweep_dir / job.name).mkdir()
    (sweep_dir / job.name / "stale.txt").write_text("an older attempt")
    got = _collect(FakeRay, res, job)
    assert got.status == "completed" and got.archive is None
    run = sweep_dir / job.name
    assert (run / "metrics.json").exists() and json.loads((run / "status.json").read_text())["status"] == "completed"
    assert not (run / "stale.txt").exists()  # replaced as a whole
    assert sorted(p.name for p in sweep_dir.iterdir()) == sorted([marker, job.name])
    # a worker that sees the marker (a shared filesystem) writes straight into OUT and ships nothing
    res = ray_trial(job, marker, None, None)
    assert res.status == "completed" and res.archive is None


@pytest.mark.slow
def test_ray_trials_reach_out_without_a_shared_filesystem(tmp_path, ray_env):
    """The same two-node stand-in through Ray itself: tasks on a private instance that see node B."""
    from dlhw.sweeps.executors.ray import run_ray

    node_a, node_b = tmp_path / "node-a", tmp_path / "node-b"
    node_b.mkdir()
    sweep_dir = node_a / "runs" / "onray"
    jobs = _jobs(tmp_path, sweep_dir, units=(8, 12))
    results, lines = [], []
    run_ray(jobs, 2, None, results.append, echo=lines.append,
            view=lambda p, a=node_a, b=node_b: b / p.relative_to(a))
    assert sorted(r.status for r in results) == ["completed", "completed"], results
    for job in jobs:
        assert (sweep_dir / job.name / "metrics.json").exists()
    assert not any(node_b.iterdir()) and not [p for p in sweep_dir.iterdir() if p.name.startswith(".")]
