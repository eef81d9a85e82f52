"""dlhw sweep on a search file (search: + space:): Optuna's study in the sweep folder, pruning,
resume after SIGKILL, workers, Ray, determinism, dotted list keys, the feature cache, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app

runner = CliRunner()
from tests.conftest import DLHW, REPO, TINY, make_image_folder  # noqa: E402

pytest.importorskip("optuna")

BASE = {**TINY, "training": {**TINY["training"], "epochs": 2}}


def search_file(tmp_path: Path, search: dict, space: dict, base: dict = BASE, name: str = "s.yaml", **extra) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    f = tmp_path / name
    f.write_text(yaml.safe_dump({"base": "base.yaml", "search": search, "space": space, **extra}, sort_keys=False))
    return f


def manifest(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep.json").read_text())


def sweep(f: Path, out: Path, *args: str):
    return runner.invoke(app, ["sweep", str(f), "--out", str(out), "--device", "cpu", *args])


def study(sweep_dir: Path):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))
    return optuna.load_study(study_name=sweep_dir.name, storage=storage)


LR = "training.optimizer.learning_rate"


# -------------------------------------------------------------------- pruning
def test_a_clearly_bad_learning_rate_is_pruned_and_a_second_run_trains_nothing(tmp_path):
    f = search_file(tmp_path, {"trials": 2, "sampler": "tpe", "seed": 0,
                               "pruner": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
                               "enqueue": [{LR: 0.05}, {LR: 1.0e-7}]},
                    {LR: {"log_uniform": [1.0e-7, 1.0e-1]}})
    out = tmp_path / "out"
    r = sweep(f, out, "--workers", "1")
    assert r.exit_code == 0, r.output  # pruned is neither failed nor completed: exit 0
    sweep_dir = out / "s"
    trials = {t["number"]: t for t in manifest(sweep_dir)["trials"]}
    assert trials[0]["status"] == "completed" and trials[0]["value"] == pytest.approx(trials[0]["val_accuracy"])
    bad = trials[1]
    assert bad["status"] == "pruned" and bad["pruned_at"] == 1 and bad["varied"][LR] == 1.0e-7
    run = sweep_dir / bad["run_dir"]
    assert bad["run_dir"].startswith("001_learning_rate-1e-07")
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "pruned" and status["pruned_at"] == 1
    assert len((run / "history.csv").read_text().strip().splitlines()) == 2  # header + the one epoch it ran
    assert (run / "curves.png").exists() and not (run / "model.keras").exists()
    states = [t.state.name for t in study(sweep_dir).trials]
    assert states == ["COMPLETE", "PRUNED"]

    rep = runner.invoke(app, ["report", str(sweep_dir)])  # the Search section marks where it stopped
    assert rep.exit_code == 0, rep.output
    page = (sweep_dir / "report.html").read_text()
    assert '<h2 id="search">Search</h2>' in page and "pruned at epoch 1" in page and (sweep_dir / "search_best_so_far.png").exists()

    stamp = (run / "status.json").stat().st_mtime_ns
    again = sweep(f, out, "--workers", "1")
    assert again.exit_code == 0, again.output
    assert "nothing to train" in again.output
    assert len(study(sweep_dir).trials) == 2 and (run / "status.json").stat().st_mtime_ns == stamp


# -------------------------------------------------------------------- resume
def _status(run: Path) -> dict:
    try:
        return json.loads((run / "status.json").read_text())
    except (OSError, ValueError):
        return {}


@pytest.mark.slow  # issue 28: 100 s; subprocess
def test_a_killed_search_resumes_its_trial_with_the_same_params_and_stops_at_trials(tmp_path):
    base = {**TINY, "training": {**TINY["training"], "epochs": 300, "checkpoint": True}}
    f = search_file(tmp_path, {"trials": 2, "sampler": "random", "seed": 3},
                    {LR: {"log_uniform": [1.0e-3, 1.0e-1]}, "model.layers.0.units": [8, 12]}, base=base)
    out = tmp_path / "out"
    cmd = DLHW + ["sweep", str(f), "--out", str(out), "--workers", "1", "--device", "cpu", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    sweep_dir = out / "s"

    def first_run() -> Path | None:
        runs = sorted(p for p in sweep_dir.glob("000_*") if p.is_dir()) if sweep_dir.is_dir() else []
        return runs[0] if runs else None

    deadline = time.time() + 240
    try:
        while not (first_run() and _status(first_run()).get("epoch", 0) >= 1
                   and (first_run() / "checkpoints").is_dir()):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the first trial never reached epoch 1"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep process, mid-trial: no chance to record anything
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    run = first_run()
    params = study(sweep_dir).trials[0].params
    assert study(sweep_dir).trials[0].state.name == "RUNNING"

    res = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 to resume, 1 to ask" in res.stdout and "resuming it from its last checkpoint" in res.stdout
    trials = study(sweep_dir).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]  # 2 in all, never 2 more
    assert trials[0].params == params
    entry = next(t for t in manifest(sweep_dir)["trials"] if t["number"] == 0)
    assert entry["run_dir"] == run.name and entry["resumed"] is True
    history = (run / "history.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[1]) for r in history] == list(range(1, 301))  # one run, epochs 1..300 once each

    third = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and len(study(sweep_dir).trials) == 2


# -------------------------------------------------------------------- workers
@pytest.mark.slow  # issue 28: 90 s
def test_two_workers_keep_two_trials_running_on_a_grid(tmp_path):
    f = search_file(tmp_path, {"trials": 5, "sampler": "grid", "seed": 1},  # the grid has 3 points: 3 trials
                    {"model.layers.0.units": {"int": [8, 24], "step": 8}})
    out = tmp_path / "out"
    r = sweep(f, out, "--workers", "2")
    assert r.exit_code == 0, r.output
    m = manifest(out / "s")
    assert m["workers"] == 2 and m["search"]["sampler"] == "grid" and m["search"]["trials"] == 3
    assert [t["status"] for t in m["trials"]] == ["completed"] * 3
    assert sorted(t["varied"]["model.layers.0.units"] for t in m["trials"]) == [8, 16, 24]
    assert len({t["pid"] for t in m["trials"]}) == 2  # two worker processes shared the trials
    assert [t.state.name for t in study(out / "s").trials] == ["COMPLETE"] * 3


@pytest.mark.slow  # issue 28: 68 s
def test_the_same_seed_gives_the_same_search_with_one_worker(tmp_path):
    space = {LR: {"log_uniform": [1.0e-3, 1.0e-1]}, "training.optimizer.type": ["sgd", "adam"]}
    one_epoch = {**BASE, "training": {**BASE["training"], "epochs": 1}}
    f = search_file(tmp_path, {"trials": 3, "sampler": "tpe", "seed": 7}, space, base=one_epoch)
    got = []
    for out in ("a", "b"):
        r = sweep(f, tmp_path / out, "--workers", "1")
        assert r.exit_code == 0, r.output
        got.append([(t.params, t.value) for t in study(tmp_path / out / "s").trials])
    assert got[0] == got[1] and len({json.dumps(p, sort_keys=True) for p, _ in got[0]}) == 3


@pytest.mark.slow
def test_a_search_on_a_local_ray_instance_prunes_through_the_actor(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import tempfile

    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="dlhw-t-"))
    f = search_file(tmp_path, {"trials": 2, "sampler": "random", "seed": 0,
                               "pruner": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
                               "enqueue": [{LR: 0.05}, {LR: 1.0e-7}]},
                    {LR: {"log_uniform": [1.0e-7, 1.0e-1]}})
    r = sweep(f, tmp_path / "out", "--executor", "ray", "--workers", "1")
    assert r.exit_code == 0, r.output
    m = manifest(tmp_path / "out" / "s")
    assert m["executor"] == "ray"
    assert [t["status"] for t in m["trials"]] == ["completed", "pruned"]  # the pruner heard it through the actor
    assert [t.state.name for t in study(tmp_path / "out" / "s").trials] == ["COMPLETE", "PRUNED"]


# -------------------------------------------------------------------- multi-objective, report
@pytest.mark.slow  # issue 28: 47 s; a real search stays: test_a_clearly_bad_learning_rate_is_pruned_...
def test_a_multi_objective_search_and_its_report(tmp_path):
    one_epoch = {**BASE, "training": {**BASE["training"], "epochs": 1}}
    f = search_file(tmp_path, {"trials": 3, "sampler": "nsga2", "seed": 0, "metric": ["val_accuracy", "params_total"]},
                    {"model.layers.0.units": [4, 16, 32], LR: {"log_uniform": [1.0e-3, 1.0e-1]}}, base=one_epoch)
    out = tmp_path / "out"
    r = sweep(f, out, "--workers", "1")
    assert r.exit_code == 0, r.output
    m = manifest(out / "s")
    assert m["search"]["directions"] == ["maximize", "minimize"]
    assert all(len(t["value"]) == 2 and t["value"][1] == t["params"] for t in m["trials"])
    rep = runner.invoke(app, ["report", str(out / "s")])
    assert rep.exit_code == 0, rep.output
    page = (out / "s" / "report.html").read_text()
    assert '<h2 id="search">Search</h2>' in page and "Pareto front" in page
    for png in ("search_best_so_far.png", "search_parallel.png", "search_pareto.png", "search_importances.png"):
        assert (out / "s" / png).exists(), png


# -------------------------------------------------------------------- dotted keys, dry run
def test_dotted_keys_index_lists_in_set_grid_and_space(tmp_path):
    from dlhw.sweeps import build_plan
    from dlhw.sweeps.planning.space import build_search

    base = {**BASE, "model": {"type": "mlp", "layers": [{"units": 16}, {"units": 8}]}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    g = tmp_path / "g.yaml"
    g.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.layers.1.units": [4, 6]}}))
    plan = build_plan(g, ["model.layers.0.units=32"])
    assert [[layer.units for layer in t.cfg.model.layers] for t in plan.trials] == [[32, 4], [32, 6]]
    assert [t.name for t in plan.trials] == ["units-4", "units-6"]
    f = search_file(tmp_path, {"trials": 2}, {"model.layers.1.units": {"int": [4, 8]}}, base=base)
    splan = build_search(f, ["model.layers.0.units=32"])
    t = splan.trial(5, {"model.layers.1.units": 7})
    assert [layer.units for layer in t.cfg.model.layers] == [32, 7] and t.name == "005_units-7"


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "search").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_searches_validate_and_dry_run(path, tmp_path):
    r = sweep(path, tmp_path / "out", "--dry-run")
    assert r.exit_code == 0, r.output
    assert f"search {path.stem} (dry run" in r.output and "budget:" in r.output


def test_a_search_file_is_not_one_trial_of_a_folder_sweep(tmp_path):
    (tmp_path / "mixed").mkdir()
    f = search_file(tmp_path / "mixed", {"trials": 2}, {LR: [0.1, 0.01]})  # beside its base.yaml
    r = sweep(f.parent, tmp_path / "out", "--dry-run")
    assert r.exit_code == 2 and "a search file (search:, space:) runs on its own" in r.output, r.output


def test_dry_run_prints_space_sampler_pruner_and_budget(tmp_path):
    f = search_file(tmp_path, {"trials": 40, "sampler": "tpe", "pruner": {"type": "asha", "min_epochs": 1}},
                    {LR: {"log_uniform": [1.0e-4, 1.0e-1]}, "training.optimizer.type": ["sgd", "adam"],
                     "model.layers.0.units": {"int": [16, 512], "step": 16}})
    r = sweep(f, tmp_path / "out", "--dry-run")
    assert r.exit_code == 0, r.output
    for text in ("sampler: tpe (seed 0)", "val_accuracy (maximize)", "pruner:  asha (min 1 epoch(s), reduction factor 3",
                 "budget:  40 trials x 2 epochs = at most 80 epochs", "float 0.0001 .. 0.1, log scale",
                 "one of sgd, adam", "int 16 .. 512, step 16"):
        assert text in r.output, text
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------------- the feature cache
@pytest.mark.slow
def test_frozen_backbone_trials_reuse_the_feature_cache(tmp_path, monkeypatch):
    folder = make_image_folder(tmp_path / "img", per_class=8, size=32)
    monkeypatch.setenv("DLHW_CACHE_DIR", str(tmp_path / "cache"))
    base = {"name": "head", "seed": 0,
            "dataset": {"source": "image_folder", "path": str(folder), "image_size": [32, 32]},
            "model": {"type": "backbone", "backbone": {"name": "vgg16", "weights": None, "pooling": "avg",
                                                       "trainable": False},
                      "head": [{"type": "dense", "units": 8}]},
            "training": {"epochs": 2, "batch_size": 8, "tensorboard": False, "checkpoint": False},
            "evaluation": {"samples": 0}}
    f = search_file(tmp_path, {"trials": 2, "sampler": "grid"}, {"model.head.0.units": [4, 8]}, base=base)
    r = sweep(f, tmp_path / "out", "--workers", "1")
    assert r.exit_code == 0, r.output
    runs = sorted((tmp_path / "out" / "s").glob("00*"))
    caches = [json.loads((run / "metrics.json").read_text())["feature_cache"] for run in runs]
    assert sorted(caches[0]["misses"]) == ["test", "train", "val"]
    assert sorted(caches[1]["hits"]) == ["test", "train", "val"]  # the second trial read the first's features


# -------------------------------------------------------------------- bad input
BAD = [
    ({"trials": 2, "sampler": "tpee"}, {LR: [0.1]}, {}, "search.sampler: unknown sampler 'tpee' (did you mean 'tpe'?)"),
    ({"trials": 2, "pruner": "ashaa"}, {LR: [0.1]}, {}, "search.pruner: unknown pruner 'ashaa' (did you mean 'asha'?)"),
    ({"trials": 2, "pruner": {"type": "medain"}}, {LR: [0.1]}, {}, "search.pruner.type: unknown pruner 'medain' (did you mean 'median'?)"),
    ({"trials": 2}, {}, {}, "space: expected a mapping"),
    ({"trials": 2}, {LR: {"uniform": [0.1, 0.01]}}, {}, f"space.{LR}.uniform: bounds reversed"),
    ({"trials": 2}, {LR: {"log_uniform": [0.0, 0.1]}}, {}, f"space.{LR}.log_uniform: a log scale needs bounds above 0"),
    ({"trials": 2}, {"training.optimizer.learning_rat": {"uniform": [0.01, 0.1]}}, {},
     "space.training.optimizer.learning_rat: "),
    ({"trials": 2}, {LR: [0.1]}, {"grid": {"training.batch_size": [8, 16]}}, "grid: a file has either grid:"),
    ({"trials": 2, "metric": ["val_accuracy", "params_total"], "pruner": "median"}, {LR: [0.1]}, {},
     "search.pruner: a multi-objective search"),
    ({"trials": 0}, {LR: [0.1]}, {}, "search.trials: "),
    ({"trials": 2, "sampler": "grid"}, {LR: {"uniform": [0.01, 0.1]}}, {}, f"space.{LR}: the grid sampler needs"),
    ({"trials": 2, "metric": "val_acuracy"}, {LR: [0.1]}, {}, "search.metric: unknown metric 'val_acuracy' (did you mean 'val_accuracy'?)"),
]


@pytest.mark.parametrize("search,space,extra,message", BAD)
def test_bad_input_exits_2_with_one_line_naming_the_key(tmp_path, search, space, extra, message):
    f = search_file(tmp_path, search, space, **extra)
    r = sweep(f, tmp_path / "out")
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and "Traceback" not in line, line
    if message is not None:
        assert message in line, line
    assert not (tmp_path / "out").exists()


def test_a_space_key_the_schema_lacks_is_named_with_did_you_mean(tmp_path):
    f = search_file(tmp_path, {"trials": 2}, {"training.optimizer.learning_rat": {"uniform": [0.01, 0.1]}})
    r = sweep(f, tmp_path / "out", "--dry-run")
    assert r.exit_code == 2
    assert "space.training.optimizer.learning_rat" in r.output and "did you mean 'learning_rate'" in r.output


def test_dlhw_sweep_runs_a_search_given_as_a_dict(tmp_path, monkeypatch):
    import dlhw

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**BASE, "training": {**BASE["training"], "epochs": 1}}))
    monkeypatch.chdir(tmp_path)
    s = dlhw.sweep({"base": "base.yaml", "search": {"trials": 1, "sampler": "random"},
                    "space": {"model.layers.0.units": [8, 16]}}, out="out", workers=1, name="api", quiet=True)
    assert s.path == Path("out") / "api" and [r["status"] for r in s.results] == ["completed"]
    assert s.manifest["search"]["trials"] == 1 and s.best() is not None


def test_the_sweep_schema_knows_search_and_space():
    import jsonschema

    from dlhw.config.jsonschema import sweep_schema

    schema = sweep_schema()
    configs = REPO / "configs" / "search"
    for f in sorted(configs.glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(f.read_text()), schema)
    bad = {"base": "x.yaml", "search": {"trials": 3, "sampler": "tpee"}, "space": {LR: [0.1]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    with pytest.raises(jsonschema.ValidationError):  # a key the config does not have
        jsonschema.validate({"base": "x.yaml", "search": {"trials": 3}, "space": {"model.layerz.0.units": [8]}}, schema)


def test_the_contracts_search_example_plans_as_written():
    from dlhw.config.jsonschema import sweep_schema
    from dlhw.sweeps.planning.space import build_search
    from tests.config.test_config import CONTRACT, contract_blocks

    if not CONTRACT.exists():
        pytest.skip("shared/CONFIG.md not beside the repo")
    block = next(yaml.safe_load(b) for b in contract_blocks() if "search:" in b and "space:" in b)
    import jsonschema

    jsonschema.validate(block, sweep_schema())
    f = REPO / "configs" / "search" / "contract.yaml"  # its base: ../quickstart.yaml
    from dlhw.config.loader import deep_merge, load_raw

    raw = deep_merge(load_raw(f.parent.parent / "quickstart.yaml"), {k: v for k, v in block.items() if k != "base"})
    plan = build_search(f, raw=raw)
    assert plan.spec.trials == 40 and plan.pruner.type == "asha" and len(plan.params) == 3
