"""dlhw sweep: plans (grid, random, repeats, folders, names), real tiny sweeps, skip/rerun, failures, workers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.errors import ConfigError
from dlhw.sweeps import build_plan

runner = CliRunner()
from tests.conftest import DLHW, REPO, TINY  # noqa: E402
from tests.conftest import write_yaml as write  # noqa: E402


def sweep_file(tmp_path: Path, grid: dict, name: str = "grid.yaml", **extra) -> Path:
    write(tmp_path / "base.yaml", TINY)
    return write(tmp_path / name, {"base": "base.yaml", "grid": grid, **extra})


# ------------------------------------------------------------------- planning
def test_grid_expansion_names_hashes_and_repeats(tmp_path):
    f = sweep_file(tmp_path, {"training.optimizer.type": ["sgd", "adam"],
                              "model.layers": [[{"units": 256}], [{"units": 256}, {"units": 512}],
                                               [{"units": 64}] * 3]}, repeats=2)
    plan = build_plan(f, ["training.epochs=3"])
    assert plan.name == "grid" and plan.varied_keys == ["training.optimizer.type", "model.layers"]
    assert len(plan.trials) == 2 * 3 * 2
    names = [t.name for t in plan.trials]
    assert names[:4] == ["optimizer-sgd_layers-256_seed-0", "optimizer-sgd_layers-256_seed-1",
                         "optimizer-sgd_layers-256-512_seed-0", "optimizer-sgd_layers-256-512_seed-1"]
    assert "optimizer-adam_layers-3x64_seed-1" in names and len(set(names)) == len(names)
    t = plan.trials[2]
    assert t.group == "optimizer-sgd_layers-256-512" and t.varied["training.optimizer.type"] == "sgd"
    assert t.cfg.training.optimizer.type == "sgd" and [layer.units for layer in t.cfg.model.layers] == [256, 512]
    assert t.cfg.training.epochs == 3 and [x.cfg.seed for x in plan.trials[:2]] == [0, 1]
    # stable: the same file gives the same names and hashes; every trial has its own hash
    again = build_plan(f, ["training.epochs=3"])
    assert [(x.name, x.hash) for x in again.trials] == [(x.name, x.hash) for x in plan.trials]
    assert len({x.hash for x in plan.trials}) == len(plan.trials)
    # repeats differ only in seed: same shape
    assert plan.trials[0].shape == plan.trials[1].shape and plan.trials[0].hash != plan.trials[1].hash


def test_random_sampling_is_seeded_subset(tmp_path):
    grid = {"training.optimizer.learning_rate": [0.1, 0.01, 0.001], "training.batch_size": [16, 32, 64]}
    a = build_plan(sweep_file(tmp_path, grid, random={"samples": 4, "seed": 1}))
    b = build_plan(sweep_file(tmp_path, grid, random={"samples": 4, "seed": 1}))
    c = build_plan(sweep_file(tmp_path, grid, random={"samples": 4, "seed": 3}))
    full = build_plan(sweep_file(tmp_path, grid))
    assert len(a.trials) == 4 and len(full.trials) == 9
    assert [t.name for t in a.trials] == [t.name for t in b.trials] != [t.name for t in c.trials]
    assert {t.name for t in a.trials} <= {t.name for t in full.trials}
    assert "learning_rate-0.001_batch_size-16" in {t.name for t in full.trials}


def test_folder_of_configs_with_base(tmp_path):
    write(tmp_path / "base.yaml", TINY)
    for units in (8, 32):
        write(tmp_path / "sweep" / f"units_{units}.yaml", {"base": "../base.yaml", "model": {"layers": [{"units": units}]}})
    plan = build_plan(tmp_path / "sweep")
    assert plan.name == "sweep" and [t.name for t in plan.trials] == ["units_32", "units_8"]
    assert plan.varied_keys == ["model.layers"] and plan.trials[0].varied == {"model.layers": [
        {"units": 32, "activation": "relu", "dropout": 0.0, "batch_norm": False}]}


@pytest.mark.parametrize("grid, extra, words", [
    ({"training.optimizer.type": ["sgd", "adamm"]}, {}, "did you mean 'adam'"),
    ({"training.epochs": 3}, {}, "grid.training.epochs: expected a non-empty list"),
    ({"training.epochs": [1]}, {"repeats": 0}, "repeats: expected a whole number"),
    ({"training.epochs": [1]}, {"random": {"samples": 0}}, "random: expected"),
])
def test_config_errors_found_before_training(tmp_path, grid, extra, words):
    f = sweep_file(tmp_path, grid, **extra)
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "runs").exists()


def test_set_may_not_override_a_grid_key(tmp_path):
    f = sweep_file(tmp_path, {"training.epochs": [1, 2]})
    with pytest.raises(ConfigError, match="varies 'training.epochs'"):
        build_plan(f, ["training.epochs=5"])


def test_ray_missing_says_the_install_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    f = sweep_file(tmp_path, {"training.epochs": [1]})
    r = runner.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "runs"), "--executor", "ray"])
    assert r.exit_code == 2 and 'pip install "dlhw[ray]"' in r.output


def test_a_trial_running_elsewhere_is_left_alone(tmp_path):
    from dlhw.sweeps.engine import run_sweep

    plan = build_plan(sweep_file(tmp_path, {"training.epochs": [1]}))
    busy = tmp_path / "runs" / "grid" / "epochs-1"
    busy.mkdir(parents=True)
    (busy / "status.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))  # a live process
    lines = []
    outcome = run_sweep(plan, tmp_path / "runs", workers=1, rerun=True, echo=lines.append)
    assert outcome.exit_code == 0 and outcome.results[0].status == "running"
    assert any("left alone" in line for line in lines)
    assert json.loads((busy / "status.json").read_text())["status"] == "running"
    assert json.loads((tmp_path / "runs" / "grid" / "sweep.json").read_text())["trials"][0]["status"] == "running"


# ------------------------------------------------------------------ real runs
def test_sweep_end_to_end_failure_skip_rerun_dry_run_and_report(tmp_path):
    # the second trial validates but cannot train: 3 output units for the 10 digit classes
    f = sweep_file(tmp_path, {"model.output.units": [None, 3], "model.layers": [[{"units": 16}]]}, name="e2e.yaml")
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "units-none_layers-16" in r.output and "1,210" in r.output and "no estimate yet" in r.output
    assert not (out / "e2e").exists()

    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out)])
    assert r.exit_code == 1, r.output
    assert "1 failed" in r.output and "model.output.units" in r.output and "units-3_layers-16" in r.output
    sweep_dir = out / "e2e"
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    status = {t["name"]: t for t in manifest["trials"]}
    assert status["units-none_layers-16"]["status"] == "completed"
    assert status["units-3_layers-16"]["status"] == "failed" and "does not match" in status["units-3_layers-16"]["error"]
    assert manifest["varied_keys"] == ["model.output.units", "model.layers"]
    assert json.loads((sweep_dir / "units-3_layers-16" / "status.json").read_text())["status"] == "failed"
    good = sweep_dir / "units-none_layers-16"
    assert (good / "metrics.json").exists() and (good / "history.csv").exists()
    first_start = json.loads((good / "status.json").read_text())["started"]

    # again: the completed trial is skipped, the failed one tried again (and fails again)
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out)])
    assert r.exit_code == 1 and "1 already completed (skipped" in r.output
    assert "units-3_layers-16: unfinished (failed), training it again" in r.output
    assert json.loads((good / "status.json").read_text())["started"] == first_start

    # an interrupted trial is picked up again (from its checkpoint where `dlhw run --resume` can)
    st = json.loads((good / "status.json").read_text())
    st["status"] = "interrupted"
    (good / "status.json").write_text(json.dumps(st))
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out)])
    assert "units-none_layers-16: unfinished (interrupted), resuming it" in r.output
    assert json.loads((good / "status.json").read_text())["status"] == "completed"

    # a time estimate now exists for that shape
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--dry-run", "--set", "training.epochs=4"])
    assert r.exit_code == 0 and "no estimate yet" not in r.output and "about" in r.output

    # --rerun trains the completed trial again
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out), "--rerun"])
    assert r.exit_code == 1 and "skipped" not in r.output
    assert json.loads((good / "status.json").read_text())["status"] == "completed"
    assert json.loads((sweep_dir / "sweep.json").read_text())["trials"][0]["skipped"] is False

    # a changed config (another --set) is refused before anything is written: the completed results
    # stay, and no second folder is made for the trial
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out), "--set", "training.batch_size=32"])
    assert r.exit_code == 2, r.output
    assert ("units-none_layers-16: completed with another config (training.batch_size: 64 -> 32)" in r.output
            and "--rerun trains it again in its folder" in r.output), r.output
    assert yaml.safe_load((good / "config.yaml").read_text())["training"]["batch_size"] == 64
    assert json.loads((good / "status.json").read_text())["started"] != first_start  # (the --rerun above)
    assert not (sweep_dir / "units-none_layers-16-2").exists()
    # with --rerun, the changed config replaces the trial's own results, in its folder
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out), "--set", "training.batch_size=16", "--rerun"])
    assert "(training.batch_size: 64 -> 16); --rerun: training it again in its folder" in r.output, r.output
    assert yaml.safe_load((good / "config.yaml").read_text())["training"]["batch_size"] == 16
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) == \
        ["units-3_layers-16", "units-none_layers-16"]

    # and the report reads the sweep: the failed trial is in the table, marked
    r = runner.invoke(app, ["report", str(sweep_dir)])
    assert r.exit_code == 0, r.output
    page = (sweep_dir / "report.html").read_text()
    assert "units-3_layers-16" in page and "s-failed" in page
    assert (sweep_dir / "charts" / "e2e_val_accuracy.png").exists()


def test_pool_order_is_longest_first(tmp_path):
    from dlhw.sweeps.manifest import longest_first

    f = sweep_file(tmp_path, {"model.layers": [[{"units": 16}], [{"units": 64}] * 3, [{"units": 32}] * 2],
                              "training.epochs": [1, 4]})
    plan = build_plan(f, [])
    size = {t.name: (t.epochs, len(t.cfg.model.layers)) for t in plan.trials}
    order = [size[t.name] for t in longest_first(plan.trials, [])]
    assert order == [(4, 3), (1, 3), (4, 2), (1, 2), (4, 1), (1, 1)]  # epochs x size proxy, largest first
    # once every trial has a measured time per epoch, those decide: here the smallest model was slowest
    timings = [{"shape": t.shape, "params": None, "data_key": "", "sec_per_epoch": 9.0 if size[t.name][1] == 1 else 1.0}
               for t in plan.trials]
    first = longest_first(plan.trials, timings)[0]
    assert size[first.name] == (4, 1)


def test_parallel_workers_use_separate_processes_and_survive_a_diverged_trial(tmp_path):
    f = sweep_file(tmp_path, {"training.optimizer": [{"type": "sgd", "learning_rate": 0.01},
                                                     {"type": "sgd", "learning_rate": 1.0e12}]}, name="par.yaml")
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", str(f), "--out", str(out), "--workers", "2", "--device", "cpu"])
    assert r.exit_code == 1, r.output
    assert "diverged" in r.output and "NaN" in r.output and "1 failed" in r.output
    manifest = json.loads((out / "par" / "sweep.json").read_text())
    assert [t["status"] for t in manifest["trials"]] == ["completed", "diverged"]
    pids = {t["pid"] for t in manifest["trials"]}
    assert len(pids) == 2 and os.getpid() not in pids
    good, bad = (out / "par" / t["name"] for t in manifest["trials"])
    assert json.loads((good / "metrics.json").read_text())["epochs_run"] == 1
    assert json.loads((bad / "status.json").read_text())["status"] == "diverged" and not (bad / "metrics.json").exists()


def test_repo_sweep_configs_plan(monkeypatch):
    """The shipped S4/S5 sweeps expand and validate; MNIST is one --set away."""
    sizes = {"mlp_layers": 8, "mlp_neurons": 6, "mlp_optimizers": 4 * 5, "reuters_losses": 5}  # optimizers: 5 seeds
    for folder, n in sizes.items():
        plan = build_plan(REPO / "configs" / folder)
        assert len(plan.trials) == n and plan.varied_keys
    mnist = build_plan(REPO / "configs" / "mlp_layers", ["dataset.source=keras", "dataset.name=mnist"])
    assert all(t.cfg.dataset.name == "mnist" for t in mnist.trials)
    assert [t.name for t in mnist.trials][:2] == ["mlp_layers_layers-2x256", "mlp_layers_layers-3x256"]
    reuters = build_plan(REPO / "configs" / "reuters_losses")
    pairs = {(t.cfg.model.output.activation, t.cfg.training.loss) for t in reuters.trials}
    assert pairs == {("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy"),
                     ("sigmoid", "mse"), ("softmax", "mse"), ("linear", "mse")}


@pytest.mark.slow  # issue 28: 29 s; a shipped sweep folder on a stand-in
def test_reuters_losses_sweep_on_a_stand_in(tmp_path, monkeypatch):
    """S4's five pairings train (in this process, so the stand-in Reuters loader applies)."""
    from tests.conftest import fake_reuters

    fake_reuters(monkeypatch, n=160, vocab=60, n_test=40, lengths=(4, 12))
    cache = tmp_path / "keras" / "datasets"  # the sweep checks the Keras cache before it writes anything;
    cache.mkdir(parents=True)                 # the stand-in loader never reads this placeholder
    (cache / "reuters.npz").write_bytes(b"")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", "--workers", "1", str(REPO / "configs" / "reuters_losses"), "--out", str(out),
                            "--set", "training.epochs=1", "training.tensorboard=false", "dataset.num_words=60"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "reuters_losses" / "sweep.json").read_text())
    assert [t["status"] for t in manifest["trials"]] == ["completed"] * 5
    m = json.loads((out / "reuters_losses" / "softmax_mse" / "metrics.json").read_text())
    assert m["output"]["activation"] == "softmax" and m["output"]["loss"] == "mse" and m["output"]["units"] == 4


@pytest.mark.slow  # issue 28: 2 x 60 s; the CLI sweep end to end stays (test_sweep_end_to_end_...)
@pytest.mark.parametrize("workers", [1, "default"])
def test_a_real_sweep_process_is_quiet_and_leaves_no_temporary_files(tmp_path, workers):
    """Six trials in a `dlhw sweep` process: TensorFlow's retracing warnings (every trial builds a new
    model) are not shown, and the fast exit still runs autograph's clean-up of its temporary files.
    With the default (--workers auto: as many workers as cores, forked here: Linux, no GPU) the
    same holds for the workers."""
    import subprocess

    from dlhw.sweeps.executors.resources import auto_workers

    flag = [] if workers == "default" else ["--workers", str(workers)]
    expected = auto_workers(6, []) if workers == "default" else workers

    f = sweep_file(tmp_path, {"model.layers": [[{"units": u}] for u in (4, 5, 6, 7, 8, 9)]}, name="quiet.yaml")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    res = subprocess.run(DLHW + ["sweep", str(f), "--out", str(tmp_path / "runs"), "--quiet", "--device", "cpu", *flag],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "TMPDIR": str(tmp), "DLHW_NORMAL_EXIT": ""})
    assert res.returncode == 0, res.stderr
    assert "WARNING:tensorflow" not in res.stderr and "retracing" not in res.stderr
    assert len(list((tmp_path / "runs" / "quiet").glob("*/metrics.json"))) == 6
    assert list(tmp.glob("__autograph_generated_file*")) == []
    manifest = json.loads((tmp_path / "runs" / "quiet" / "sweep.json").read_text())
    assert manifest["workers"] == expected
    assert len({t["pid"] for t in manifest["trials"]}) == expected


def test_workers_auto_is_one_per_core_within_memory_and_one_per_gpu(monkeypatch):
    from dlhw.errors import ConfigError
    from dlhw.sweeps.executors import resources as execute

    assert execute.parse_workers("auto") == "auto" and execute.parse_workers(" AUTO ") == "auto"
    assert execute.parse_workers("3") == 3 and execute.parse_workers(2) == 2
    for bad in ("0", "-1", "two", "1.5", ""):
        with pytest.raises(ConfigError, match="--workers: expected auto or a whole number"):
            execute.parse_workers(bad)
    monkeypatch.setattr(execute.os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    monkeypatch.setattr(execute, "_available_memory", lambda: 64 * 2 ** 30)
    assert execute.auto_workers(10, []) == 6  # one per core
    assert execute.auto_workers(4, []) == 4  # never more than the trials
    assert execute.auto_workers(1, []) == 1
    assert execute.auto_workers(10, ["0", "1"]) == 2  # one per GPU
    monkeypatch.setattr(execute, "_available_memory", lambda: 5 * 2 ** 30)
    assert execute.auto_workers(10, []) == 2  # 2 GiB each
    monkeypatch.setattr(execute, "_available_memory", lambda: 2 ** 29)
    assert execute.auto_workers(10, []) == 1
    monkeypatch.setattr(execute.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(execute, "_available_memory", lambda: 1024 * 2 ** 30)
    assert execute.auto_workers(100, []) == execute.AUTO_WORKERS_MAX


@pytest.mark.slow  # issue 28: 26 s subprocess
def test_workers_share_the_image_cache_budget(monkeypatch):
    """Each worker of N keeps 1/N of the decoded-image memory budget unless DLHW_CACHE_MEMORY says."""
    from dlhw.data.image_cache import memory_budget

    monkeypatch.delenv("DLHW_CACHE_MEMORY", raising=False)
    whole = memory_budget()
    env = {k: v for k, v in os.environ.items() if k != "DLHW_CACHE_MEMORY"}
    code = ("import os, multiprocessing as mp\n"
            "from dlhw.sweeps.executors import worker\n"
            "q = mp.get_context('spawn').Queue(); q.put(0)\n"
            "worker.worker_init(q, [], 1, share=4)\n"
            "from dlhw.data.image_cache import memory_budget\n"
            "print(memory_budget())\n")
    import subprocess

    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.split()[-1]) == whole // 4


# ------------------------------------------------------- worker start, Ctrl-C
def test_workers_are_forked_only_where_that_is_safe(monkeypatch):
    from dlhw.sweeps.executors import pool
    from dlhw.sweeps.executors import resources as execute

    monkeypatch.setattr(execute, "visible_gpus", lambda: [])
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DLHW_WORKER_START", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert pool.start_method() == "fork"
    monkeypatch.setenv("DLHW_WORKER_START", "spawn")
    assert pool.start_method() == "spawn"
    monkeypatch.delenv("DLHW_WORKER_START")
    assert pool.start_method(["0"]) == "spawn"  # the sweep found a GPU
    monkeypatch.setattr(execute, "visible_gpus", lambda: ["0"])  # --device cpu on a GPU machine
    assert pool.start_method() == "spawn"
    monkeypatch.setattr(execute, "visible_gpus", lambda: [])
    monkeypatch.setattr(sys, "platform", "darwin")
    assert pool.start_method() == "spawn"
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "tensorflow", object())  # already imported: it may have run ops
    assert pool.start_method() == "spawn"


def _forked_worker(slots, stop, marks: str) -> None:
    import atexit

    from dlhw.sweeps.executors.worker import worker_init

    worker_init(slots, [], 1, True)
    atexit.register(lambda: Path(marks, "own").write_text("ran"))


def test_a_forked_worker_runs_its_own_exit_hooks_not_the_parents(tmp_path):
    import atexit
    import multiprocessing as mp

    parent = os.getpid()
    atexit.register(lambda: os.getpid() != parent and Path(tmp_path, "inherited").write_text("ran"))
    ctx = mp.get_context("fork")
    slots = ctx.Queue()
    slots.put(0)
    proc = ctx.Process(target=_forked_worker, args=(slots, ctx.Event(), str(tmp_path)))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert (tmp_path / "own").read_text() == "ran"  # e.g. autograph removing its temporary files
    assert not (tmp_path / "inherited").exists()


def test_run_interrupted_survives_pickling():
    import pickle
    import signal

    from dlhw.runtime.signals import RunInterrupted

    exc = pickle.loads(pickle.dumps(RunInterrupted(signal.SIGTERM, "interrupted by SIGTERM; resume with: x")))
    assert exc.signum == signal.SIGTERM and exc.exit_code == 143 and str(exc).endswith("resume with: x")


@pytest.mark.slow  # issue 28: 143 s; Ctrl-C in-process: test_checkpoint_policy, test_a_signal_between_trials_stops_the_next_one
def test_ctrl_c_stops_a_parallel_sweep_cleanly_then_it_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group) while two workers train: exit 130 promptly, every worker
    gone, the running trials interrupted and resumable, the rest never started. Before the fix the
    parent hung at exit about half the time, waiting for workers that never got their stop."""
    import signal
    import subprocess
    import time

    base = {**TINY, "training": {**TINY["training"], "epochs": 400, "checkpoint": "every_epoch"}}
    write(tmp_path / "base.yaml", base)
    f = write(tmp_path / "long.yaml", {"base": "base.yaml", "grid": {"training.optimizer.learning_rate":
                                                                    [0.001, 0.002, 0.003, 0.004]}})
    out = tmp_path / "runs"
    proc = subprocess.Popen(DLHW + ["sweep", str(f), "--out", str(out), "--workers", "2", "--device", "cpu", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 240
    while len([p for p in (out / "long").glob("*/checkpoints/last.ckpt.npz")]) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "two trials never reached a checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("dlhw sweep did not exit within 60 s of Ctrl-C")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    manifest = json.loads((out / "long" / "sweep.json").read_text())
    assert [t["status"] for t in manifest["trials"]] == ["interrupted"] * 4
    pids = {json.loads((d / "status.json").read_text())["pid"] for d in (out / "long").iterdir() if d.is_dir()}
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    started = [d for d in (out / "long").iterdir() if d.is_dir()]
    assert len(started) == 2 and all(json.loads((d / "status.json").read_text())["status"] == "interrupted"
                                     for d in started)
    again = subprocess.run(DLHW + ["sweep", str(f), "--out", str(out), "--workers", "2", "--device", "cpu",
                                  ], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("resuming it from its last checkpoint") == 2


def test_a_signal_between_trials_stops_the_next_one(tmp_path):
    """In a worker, Ctrl-C between trials is only noted: the next trial is declined untouched, and
    one that is already starting when the signal lands stops as its training begins."""
    import signal

    from dlhw.runtime import signals
    from dlhw.sweeps.executors.worker import pool_trial
    from dlhw.sweeps.records import Job

    job = Job(name="t", raw=TINY, source="test", out=str(tmp_path), device="cpu")
    signals.note_between_runs(signal.SIGINT, None)
    res = pool_trial(job)
    assert res.status == "interrupted" and not (tmp_path / "t").exists()
    assert signals.STATE.requested is None  # consumed: the worker's later trials run
    signals.note_between_runs(signal.SIGINT, None)  # as if it landed after the check above
    from dlhw.sweeps.executors.trial import run_trial

    with pytest.raises(signals.RunInterrupted, match="SIGINT"):
        run_trial(job)
    status = json.loads((tmp_path / "t" / "status.json").read_text())
    assert status["status"] == "interrupted" and signals.STATE.requested is None
    assert pool_trial(job.replace(name="u")).status == "completed"
