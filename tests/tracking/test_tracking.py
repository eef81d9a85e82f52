"""tracking.mlflow (runs and sweeps copied to a real MLflow store) and a sweep's TensorBoard HParams."""

from __future__ import annotations

import copy
import json
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
from dlhw.config import validate
from tests.conftest import TINY
from tests.conftest import write_yaml as write

mlflow = pytest.importorskip("mlflow")
runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """MLflow's sqlite store keeps artifacts in ./mlruns by default: here, not in the repository."""
    monkeypatch.chdir(tmp_path)


def tracked(uri: str, experiment: str = "t", **training) -> dict:
    cfg = copy.deepcopy(TINY)
    cfg["training"].update({"epochs": 2, **training})
    cfg["tracking"] = {"mlflow": {"uri": uri, "experiment": experiment}}
    return cfg


def client(uri: str):
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow.MlflowClient(tracking_uri=uri)


def runs_of(uri: str, experiment: str = "t"):
    c = client(uri)
    exp = c.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment} at {uri}"
    return c, c.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def artifacts(c, run_id: str, path: str = "") -> set:
    out = set()
    for f in c.list_artifacts(run_id, path or None):
        out |= artifacts(c, run_id, f.path) if f.is_dir else {f.path}
    return out


def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


# ------------------------------------------------------------------ one run
def test_a_run_is_copied_whole_to_mlflow(tmp_path):
    from dlhw.config.fingerprint import fingerprint

    uri = sqlite_uri(tmp_path)
    cfg_file = write(tmp_path / "tiny.yaml", tracked(uri))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)  # the working directory is a repository
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    r = runner.invoke(app, ["run", str(cfg_file), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    run_dir = tmp_path / "runs" / "tiny"
    c, runs = runs_of(uri)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny"
    assert json.loads((run_dir / "mlflow.json").read_text())["run_id"] == run.info.run_id
    # params: the flattened resolved config, without tracking itself
    params = run.data.params
    assert params["model.layers.0.units"] == "16" and params["training.batch_size"] == "64"
    assert params["dataset.name"] == "digits" and params["training.optimizer.type"] == "adam"
    assert not any(k.startswith("tracking") for k in params)
    # every epoch's metrics, step = epoch
    for key in ("epoch/loss", "epoch/accuracy", "epoch/val_loss", "epoch/val_accuracy", "epoch/lr"):
        history = c.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == [1, 2], key
    rows = (run_dir / "history.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    val_loss = [m.value for m in c.get_metric_history(run.info.run_id, "epoch/val_loss")]
    assert val_loss[-1] == pytest.approx(float(last[header.index("val_loss")]), rel=1e-5)
    # the final per-split metrics
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        for key in ("loss", "accuracy"):
            assert run.data.metrics[f"{split}_{key}"] == pytest.approx(metrics[split][key])
    assert run.data.metrics["params_total"] == metrics["params"]["total"]
    # tags
    tags = run.data.tags
    assert tags["dlhw.status"] == "completed"
    assert tags["dlhw.config_hash"] == fingerprint(validate(yaml.safe_load(cfg_file.read_text())))
    import dlhw

    assert tags["dlhw.version"] == dlhw.__version__
    env = json.loads((run_dir / "env.json").read_text())
    assert tags["dlhw.git_commit"] == tags["mlflow.source.git.commit"] == env["git_commit"] == commit
    # the run folder's files, and the model as an MLflow Keras model
    files = artifacts(c, run.info.run_id)
    assert {"config.yaml", "status.json", "metrics.json", "history.csv", "model.keras", "env.json",
            "model/MLmodel"} <= files
    assert not any(f.startswith(".") or f.startswith("checkpoints") for f in files)
    mlmodel = yaml.safe_load(Path(c.download_artifacts(run.info.run_id, "model/MLmodel", str(tmp_path))).read_text())
    assert "keras" in mlmodel["flavors"]


def test_env_uri_and_the_true_shorthand_with_a_file_store(tmp_path, monkeypatch):
    """``--set tracking.mlflow=true`` with MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME: MLflow 3's
    file store (refused by MLflow unless allowed) works as CONFIG.md shows it."""
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    cfg = copy.deepcopy(TINY)
    r = runner.invoke(app, ["run", str(write(tmp_path / "tiny.yaml", cfg)), "--out", str(tmp_path / "runs"),
                            "--set", "tracking.mlflow=true", "--set", "tracking.mlflow.log_model=false"])
    assert r.exit_code == 0, r.output
    c, runs = runs_of(uri, "from-env")
    assert [x.info.status for x in runs] == ["FINISHED"]
    assert "model/MLmodel" not in artifacts(c, runs[0].info.run_id)  # log_model: false
    assert runs[0].data.metrics["test_accuracy"] == pytest.approx(
        json.loads((tmp_path / "runs" / "tiny" / "metrics.json").read_text())["test"]["accuracy"])


def test_tracking_changes_no_config_hash_and_no_resume_check():
    from dlhw.config.fingerprint import fingerprint, shape_fingerprint
    from dlhw.rundir.resume import _computed, first_difference

    with_tracking = validate(tracked("sqlite:///x.db"))
    plain = validate({k: v for k, v in tracked("sqlite:///x.db").items() if k != "tracking"})
    other = validate(tracked("http://example.org:5000", "other"))
    assert fingerprint(plain) == fingerprint(with_tracking) == fingerprint(other)
    assert shape_fingerprint(plain) == shape_fingerprint(other)  # the same time per epoch (sweep estimates)
    assert first_difference(_computed(with_tracking.dump()), _computed(other.dump())) is None
    assert validate({**TINY, "tracking": {"mlflow": True}}).tracking.mlflow.experiment is None
    assert validate({**TINY, "tracking": {"mlflow": False}}).tracking.mlflow is None


def test_status_mapping_covers_every_ending():
    from dlhw.rundir.states import Status
    from dlhw.tracking.mlflow import mlflow_status

    assert {mlflow_status(s) for s in Status} == {"FINISHED", "FAILED", "KILLED"}
    assert mlflow_status("completed") == "FINISHED" and mlflow_status("interrupted") == "KILLED"
    assert mlflow_status("diverged") == "FAILED" and mlflow_status("pruned") == "KILLED"


@pytest.mark.slow  # issue 28: 46 s
def test_failed_then_interrupted_then_resumed_keep_one_mlflow_run(tmp_path, monkeypatch):
    """A crash ends the MLflow run FAILED; an interrupted run ends KILLED, and its --resume continues
    the same MLflow run (id kept in the run folder) to FINISHED, its epoch history whole."""
    import dlhw.orchestration.experiment as experiment
    from dlhw.orchestration.experiment import run_experiment
    from dlhw.rundir.status import RunStatus
    from dlhw.runtime import signals

    uri = sqlite_uri(tmp_path)

    def crash(*a, **k):
        raise RuntimeError("simulated crash while evaluating")

    monkeypatch.setattr(experiment, "evaluate_and_write", crash)
    with pytest.raises(RuntimeError):
        run_experiment(validate(tracked(uri)), out=tmp_path / "a", quiet=True)
    monkeypatch.undo()
    c, runs = runs_of(uri)
    assert runs[0].info.status == "FAILED" and runs[0].data.tags["dlhw.status"] == "failed"
    assert "simulated crash" in runs[0].data.tags["dlhw.error"]
    from dlhw.errors import DivergedError

    with pytest.raises(DivergedError):
        run_experiment(validate(tracked(uri, optimizer={"type": "sgd", "learning_rate": 1e12})),
                       out=tmp_path / "d", quiet=True)
    diverged = runs_of(uri)[1][-1]
    assert diverged.info.status == "FAILED" and diverged.data.tags["dlhw.status"] == "diverged"
    assert "status.json" in artifacts(c, diverged.info.run_id)  # the folder of a failed run is copied too

    beat = RunStatus.heartbeat

    def heartbeat(self, **extra):  # Ctrl-C during epoch 2
        beat(self, **extra)
        if extra.get("epoch") == 1:
            signals.STATE.requested = signal.SIGINT

    monkeypatch.setattr(RunStatus, "heartbeat", heartbeat)
    cfg = tracked(uri, epochs=3, checkpoint="auto")  # a checkpoint at the Ctrl-C: resume from epoch 2
    with pytest.raises(KeyboardInterrupt):
        run_experiment(validate(cfg), out=tmp_path / "b", quiet=True)
    monkeypatch.setattr(RunStatus, "heartbeat", beat)
    run_dir = tmp_path / "b" / "tiny"
    run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]
    assert c.get_run(run_id).info.status == "KILLED"
    assert c.get_run(run_id).data.tags["dlhw.status"] == "interrupted"
    run_experiment(validate(cfg), resume=run_dir, quiet=True)
    assert json.loads((run_dir / "mlflow.json").read_text())["run_id"] == run_id
    run = c.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["dlhw.status"] == "completed"
    assert [m.step for m in c.get_metric_history(run_id, "epoch/loss")] == [1, 2, 3]
    assert len(runs_of(uri)[1]) == 3  # the crashed, the diverged run and this one: no new run for the resume


# ------------------------------------------------------------- failure modes
def test_missing_mlflow_exits_2_with_the_pip_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    cfg_file = write(tmp_path / "tiny.yaml", tracked(sqlite_uri(tmp_path)))
    r = runner.invoke(app, ["run", str(cfg_file), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    assert 'pip install "dlhw[mlflow]"' in r.output and "Traceback" not in r.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    write(tmp_path / "sweep" / "base.yaml", tracked(sqlite_uri(tmp_path)))
    sweep = write(tmp_path / "sweep" / "s.yaml", {"base": "base.yaml", "grid": {"seed": [0, 1]}})
    r = runner.invoke(app, ["sweep", str(sweep), "--workers", "1", "--out", str(tmp_path / "swept")])
    assert r.exit_code == 2 and 'pip install "dlhw[mlflow]"' in r.output, r.output
    assert not (tmp_path / "swept" / "s").exists()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_one_warning_and_a_complete_run(tmp_path, caplog):
    from dlhw.orchestration.experiment import run_experiment

    uri = f"http://127.0.0.1:{closed_port()}"
    outcome = run_experiment(validate(tracked(uri)), out=tmp_path, quiet=True)
    from tests.conftest import warned

    err = warned(caplog)
    warnings = [line for line in err.splitlines() if line.startswith("tracking.mlflow")]
    assert len(warnings) == 1 and uri in warnings[0], err
    run_dir = outcome.run_dir
    assert outcome.status == "completed"
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    for name in ("metrics.json", "model.keras", "history.csv", "config.yaml", "env.json", "curves.png"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "mlflow.json").exists()


def test_an_unreachable_server_is_one_warning_for_a_whole_sweep(tmp_path, capfd):
    uri = f"http://127.0.0.1:{closed_port()}"
    write(tmp_path / "base.yaml", tracked(uri, epochs=1))
    sweep = write(tmp_path / "g.yaml", {"base": "base.yaml", "grid": {"seed": [0, 1]}})
    r = runner.invoke(app, ["sweep", str(sweep), "--workers", "1", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    text = r.output + capfd.readouterr().err
    assert text.count("warning: tracking.mlflow") == 1 and uri in text, text
    sweep_dir = tmp_path / "runs" / "g"
    assert [t["status"] for t in json.loads((sweep_dir / "sweep.json").read_text())["trials"]] == ["completed"] * 2
    assert not list(sweep_dir.rglob("mlflow.json"))


# -------------------------------------------------------------------- sweeps
def hparams_sessions(sweep_dir: Path) -> dict:
    """Trial folder -> (hparams, final scalars, status) read back from the event files, as
    TensorBoard's HParams plugin reads them; plus the experiment summary under ''."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata

    out = {}
    for tb in [sweep_dir] + sorted(sweep_dir.glob("*/tb")):
        acc = event_accumulator.EventAccumulator(str(tb), size_guidance={event_accumulator.TENSORS: 0})
        acc.Reload()
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
        if metadata.EXPERIMENT_TAG in content:
            exp = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
            out[""] = exp
        if metadata.SESSION_START_INFO_TAG in content:
            start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
            end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
            scalars = {t: acc.Scalars(t)[-1].value for t in acc.Tags()["scalars"]}
            out[tb.parent.name] = (start, scalars, end)
    return out


@pytest.mark.parametrize("workers", ["1", pytest.param("2", marks=pytest.mark.slow)])
def test_a_sweep_is_a_parent_run_with_a_child_per_trial_and_hparams(tmp_path, workers):
    from tensorboard.plugins.hparams import api_pb2

    uri = sqlite_uri(tmp_path)
    write(tmp_path / "base.yaml", tracked(uri, "sw", epochs=1, tensorboard=True))
    sweep = write(tmp_path / "lr.yaml", {"base": "base.yaml",
                                         "grid": {"training.optimizer.learning_rate": [0.01, 0.001],
                                                  "training.optimizer.type": ["adam"]}})
    r = runner.invoke(app, ["sweep", str(sweep), "--workers", workers, "--out", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    sweep_dir = tmp_path / "runs" / "lr"
    c, runs = runs_of(uri, "sw")
    parents = [x for x in runs if "mlflow.parentRunId" not in x.data.tags]
    children = [x for x in runs if "mlflow.parentRunId" in x.data.tags]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.run_name == "lr" and parent.info.status == "FINISHED"
    assert json.loads((sweep_dir / "mlflow.json").read_text())["run_id"] == parent.info.run_id
    assert {x.data.tags["mlflow.parentRunId"] for x in children} == {parent.info.run_id}
    assert all(x.info.status == "FINISHED" for x in children)
    assert "sweep.json" in artifacts(c, parent.info.run_id)
    trials = {x.info.run_name: x for x in children}
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert set(trials) == {t["run_dir"] for t in manifest["trials"]}
    for name, x in trials.items():
        lr = float(x.data.params["training.optimizer.learning_rate"])
        assert f"{lr:g}" in name
        assert x.data.metrics["test_accuracy"] == pytest.approx(
            json.loads((sweep_dir / name / "metrics.json").read_text())["test"]["accuracy"])

    # TensorBoard HParams: the experiment in the sweep folder, one session per trial
    found = hparams_sessions(sweep_dir)
    exp = found.pop("")
    assert [h.name for h in exp.hparam_infos] == ["training.optimizer.learning_rate", "training.optimizer.type"]
    assert sorted(v.number_value for v in exp.hparam_infos[0].domain_discrete.values) == [0.001, 0.01]
    assert {m.name.tag for m in exp.metric_infos} >= {"test_accuracy", "val_loss", "val_accuracy"}
    assert set(found) == set(trials)
    for name, (start, scalars, end) in found.items():
        metrics = json.loads((sweep_dir / name / "metrics.json").read_text())
        assert start.hparams["training.optimizer.learning_rate"].number_value == pytest.approx(
            float(trials[name].data.params["training.optimizer.learning_rate"]))
        assert start.hparams["training.optimizer.type"].string_value == "adam"
        assert scalars["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
        assert scalars["val_loss"] == pytest.approx(metrics["val"]["loss"], rel=1e-5)
        assert end.status == api_pb2.STATUS_SUCCESS

    # run again: completed trials are skipped, the parent run continues, no new runs
    r = runner.invoke(app, ["sweep", str(sweep), "--workers", workers, "--out", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    assert len(runs_of(uri, "sw")[1]) == 3
    assert len(list(sweep_dir.glob("events.out.tfevents.*"))) == 1  # replaced, not added


def test_hparams_without_mlflow_record_failed_trials_and_list_values(tmp_path):
    """No tracking configured: the HParams summaries are still written; a trial that fails has a
    session that says so; a list value (layers) is shown as JSON text, None as null."""
    from tensorboard.plugins.hparams import api_pb2

    write(tmp_path / "base.yaml", {**TINY, "training": {**TINY["training"], "tensorboard": True}})
    sweep = write(tmp_path / "g.yaml", {"base": "base.yaml", "grid": {
        "model.init_from": [None, str(tmp_path / "nowhere")], "model.layers": [[{"units": 8}]]}})
    r = runner.invoke(app, ["sweep", str(sweep), "--workers", "1", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 1, r.output  # the init_from trial fails, the other completes
    found = hparams_sessions(tmp_path / "runs" / "g")
    exp = found.pop("")
    assert [h.type for h in exp.hparam_infos] == [api_pb2.DATA_TYPE_STRING] * 2
    assert len(found) == 2
    ends = {}
    for start, scalars, end in found.values():
        assert json.loads(start.hparams["model.layers"].string_value)[0]["units"] == 8
        ends[start.hparams["model.init_from"].string_value] = (end.status, "test_accuracy" in scalars)
    assert ends == {"null": (api_pb2.STATUS_SUCCESS, True),
                    str(tmp_path / "nowhere"): (api_pb2.STATUS_FAILURE, False)}


@pytest.mark.slow  # issue 28: 17 s
def test_a_search_is_a_parent_run_and_a_pruned_trial_ends_killed(tmp_path):
    """An Optuna search (sweeps.search): one parent run, a child per trial; the trial its pruner
    stops ends KILLED (dlhw.status pruned); HParams shows the space's range and choices."""
    pytest.importorskip("optuna")
    from tensorboard.plugins.hparams import api_pb2

    lr = "training.optimizer.learning_rate"
    uri = sqlite_uri(tmp_path)
    write(tmp_path / "base.yaml", tracked(uri, "search", tensorboard=True))
    f = write(tmp_path / "s.yaml", {"base": "base.yaml", "search": {
        "trials": 2, "sampler": "tpe", "seed": 0, "pruner": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
        "enqueue": [{lr: 0.05, "training.optimizer.type": "adam"}, {lr: 1.0e-7, "training.optimizer.type": "sgd"}]},
        "space": {lr: {"log_uniform": [1.0e-7, 1.0e-1]}, "training.optimizer.type": ["adam", "sgd"]}})
    r = runner.invoke(app, ["sweep", str(f), "--workers", "1", "--out", str(tmp_path / "runs"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    sweep_dir = tmp_path / "runs" / "s"
    trials = {t["number"]: t for t in json.loads((sweep_dir / "sweep.json").read_text())["trials"]}
    assert [trials[0]["status"], trials[1]["status"]] == ["completed", "pruned"]
    c, runs = runs_of(uri, "search")
    parent = next(x for x in runs if "mlflow.parentRunId" not in x.data.tags)
    children = {x.info.run_name: x for x in runs if x.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert parent.info.run_name == "s" and parent.info.status == "FINISHED" and len(runs) == 3
    assert json.loads(parent.data.params["search.metric"]) == ["val_accuracy"]
    done, pruned = children[trials[0]["run_dir"]], children[trials[1]["run_dir"]]
    assert done.info.status == "FINISHED" and "test_accuracy" in done.data.metrics
    assert pruned.info.status == "KILLED" and pruned.data.tags["dlhw.status"] == "pruned"
    assert [m.step for m in c.get_metric_history(pruned.info.run_id, "epoch/loss")] == [1]

    found = hparams_sessions(sweep_dir)
    exp = found.pop("")
    infos = {h.name: h for h in exp.hparam_infos}
    assert (infos[lr].domain_interval.min_value, infos[lr].domain_interval.max_value) == (1.0e-7, 1.0e-1)
    assert [v.string_value for v in infos["training.optimizer.type"].domain_discrete.values] == ["adam", "sgd"]
    sessions = {start.hparams["training.optimizer.type"].string_value: (start, end) for start, _, end in found.values()}
    assert sessions["sgd"][0].hparams[lr].number_value == pytest.approx(1.0e-7)
    assert sessions["adam"][1].status == api_pb2.STATUS_SUCCESS


def test_no_hparams_where_tensorboard_is_off(tmp_path):
    from dlhw.sweeps import build_plan
    from dlhw.tracking.hparams import HParamsLog

    write(tmp_path / "base.yaml", TINY)  # training.tensorboard: false
    plan = build_plan(write(tmp_path / "g.yaml", {"base": "base.yaml", "grid": {"seed": [0, 1]}}))
    sweep_dir = tmp_path / "runs" / "g"
    (sweep_dir / plan.trials[0].name).mkdir(parents=True)
    log = HParamsLog.for_plan(plan, sweep_dir)
    log.trial(plan.trials[0].name, sweep_dir / plan.trials[0].name, "completed")
    assert log.write_experiment() is None
    assert sorted(p.relative_to(sweep_dir).as_posix() for p in sweep_dir.rglob("*")) == [plan.trials[0].name]


# -------------------------------------------------------- a real mlflow server
@pytest.mark.slow
def test_against_a_local_mlflow_server(tmp_path):
    port = closed_port()
    exe = Path(sys.executable).with_name("mlflow")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mlflow"]
    server = subprocess.Popen(cmd + ["server", "--host", "127.0.0.1", "--port", str(port),
                                     "--backend-store-uri", sqlite_uri(tmp_path),
                                     "--default-artifact-root", (tmp_path / "art").as_uri(), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.time() + 45  # ~30 s on a busy 2-core machine
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.skip("mlflow server did not start on 127.0.0.1 within 45 s")
                time.sleep(0.5)
        r = runner.invoke(app, ["run", str(write(tmp_path / "tiny.yaml", tracked(uri))), "--out",
                                str(tmp_path / "runs")])
        assert r.exit_code == 0, r.output
        assert "warning" not in r.output
        c, runs = runs_of(uri)
        assert [x.info.status for x in runs] == ["FINISHED"]
        assert [m.step for m in c.get_metric_history(runs[0].info.run_id, "epoch/loss")] == [1, 2]
        assert {"metrics.json", "model/MLmodel"} <= artifacts(c, runs[0].info.run_id)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
