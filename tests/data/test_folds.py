"""K-fold cross-validation (dataset.folds), dataset.split_seed and a sweep's repeats with
vary: seed | split | both; reports fold the runs into mean ± std."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import validate
from dlhw.data import load_dataset
from dlhw.errors import ConfigError, DataError
from dlhw.sweeps import build_plan

runner = CliRunner()
BASE = {"name": "cv", "seed": 3, "dataset": {"source": "sklearn", "name": "iris", "standardize": False},
        "model": {"type": "mlp", "layers": [{"units": 8}]},
        "training": {"epochs": 1, "batch_size": 32, "tensorboard": False, "checkpoint": False},
        "evaluation": {"samples": 0}}


def cfg_with(**dataset):
    return validate({**BASE, "dataset": {**BASE["dataset"], **dataset}})


def rows_of(split) -> set:  # the samples themselves (iris unstandardised: the same rows in every split)
    return {tuple(np.round(r, 4)) for r in split.x}


def samples(split) -> Counter:  # a multiset: iris holds two identical rows
    return Counter(tuple(np.round(r, 4)) + (int(c),) for r, c in zip(split.x, split.y))


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_folds_are_disjoint_stratified_and_cover_every_sample():
    from sklearn.datasets import load_iris

    iris = load_iris()
    whole = Counter(tuple(np.round(r, 4)) + (int(c),) for r, c in zip(iris.data.astype(np.float32), iris.target))
    tests = [load_dataset(cfg_with(folds=5, fold=i)) for i in range(5)]
    assert sum((samples(d.splits["test"]) for d in tests), Counter()) == whole  # disjoint, together all of iris
    for d in tests:
        assert np.bincount(d.splits["test"].y).tolist() == [10, 10, 10]  # stratified: 50 per class / 5
        s = d.splits
        assert samples(s["train"]) + samples(s["val"]) + samples(s["test"]) == whole  # a partition
        assert len(s["val"]) == pytest.approx(120 * 0.15 / 0.85, abs=3)


def test_split_seed_changes_the_split_and_defaults_to_the_seed():
    a = load_dataset(cfg_with())
    same = load_dataset(cfg_with(split_seed=3))  # the run's seed is 3
    other = load_dataset(cfg_with(split_seed=4))
    assert rows_of(a.splits["test"]) == rows_of(same.splits["test"])
    assert rows_of(a.splits["test"]) != rows_of(other.splits["test"])


@pytest.mark.parametrize("folds, words", [(1, "at least 2 folds; received 1"), (0, "at least 2 folds")])
def test_too_few_folds_is_one_line(folds, words):
    with pytest.raises(ConfigError, match=f"dataset.folds: .*{words}") as err:
        cfg_with(folds=folds)
    assert "\n" not in str(err.value)


def test_more_folds_than_samples_of_a_class():
    with pytest.raises(DataError, match="dataset.folds: 60 folds need at least 60 samples of every class; "
                                        "class 'setosa' has 50"):
        load_dataset(cfg_with(folds=60, fold=0))


@pytest.mark.parametrize("dataset, words", [
    ({"fold": 1}, "dataset.fold needs dataset.folds"),
    ({"folds": 3, "fold": 3}, "dataset.fold must be 0 to folds-1 \\(2\\); received 3"),
])
def test_bad_fold(dataset, words):
    with pytest.raises(ConfigError, match=words):
        cfg_with(**dataset)


def test_folds_refused_where_dlhw_does_not_split(tmp_path):
    with pytest.raises(ConfigError, match="dataset.folds: keras dataset 'mnist' keeps its official test set"):
        load_dataset(validate({**BASE, "dataset": {"source": "keras", "name": "mnist", "folds": 3, "fold": 0}}))


def test_dlhw_run_with_folds_points_at_sweep(tmp_path):
    f = write(tmp_path / "cv.yaml", {**BASE, "dataset": {**BASE["dataset"], "folds": 3}})
    r = runner.invoke(app, ["run", str(f), "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2
    assert "dataset.folds: 3 folds are 3 runs; run them with `dlhw sweep CONFIG`" in r.output
    assert not (tmp_path / "runs").exists()


def test_plan_expands_folds_and_repeats(tmp_path):
    f = write(tmp_path / "cv.yaml", {**BASE, "dataset": {**BASE["dataset"], "folds": 3}, "repeats": 2})
    plan = build_plan(f)
    assert [t.name for t in plan.trials] == ["trial_seed-3_fold-0", "trial_seed-3_fold-1", "trial_seed-3_fold-2",
                                             "trial_seed-4_fold-0", "trial_seed-4_fold-1", "trial_seed-4_fold-2"]
    assert {t.group for t in plan.trials} == {"trial"}
    assert [t.cfg.dataset.fold for t in plan.trials] == [0, 1, 2, 0, 1, 2]
    assert len({t.shape for t in plan.trials}) == 1  # same shape: the same time per epoch


@pytest.mark.parametrize("vary, seeds, split_seeds, names", [
    ("both", [3, 4, 5], [None, None, None], ["trial_seed-3", "trial_seed-4", "trial_seed-5"]),
    ("seed", [3, 4, 5], [3, 3, 3], ["trial_seed-3", "trial_seed-4", "trial_seed-5"]),
    ("split", [3, 3, 3], [3, 4, 5], ["trial_split-3", "trial_split-4", "trial_split-5"]),
])
def test_repeats_vary(tmp_path, vary, seeds, split_seeds, names):
    plan = build_plan(write(tmp_path / "r.yaml", {**BASE, "repeats": 3, "vary": vary}))
    assert [t.cfg.seed for t in plan.trials] == seeds
    assert [t.cfg.dataset.split_seed for t in plan.trials] == split_seeds
    assert [t.name for t in plan.trials] == names


def test_vary_split_changes_the_split_and_vary_seed_keeps_it(tmp_path):
    split = build_plan(write(tmp_path / "a.yaml", {**BASE, "repeats": 2, "vary": "split"}))
    tests = [rows_of(load_dataset(t.cfg).splits["test"]) for t in split.trials]
    assert tests[0] != tests[1]
    seed = build_plan(write(tmp_path / "b.yaml", {**BASE, "repeats": 2, "vary": "seed"}))
    tests = [rows_of(load_dataset(t.cfg).splits["test"]) for t in seed.trials]
    assert tests[0] == tests[1]


def test_bad_vary(tmp_path):
    with pytest.raises(ConfigError, match="vary: expected one of seed, split, both; received 'folds'"):
        build_plan(write(tmp_path / "r.yaml", {**BASE, "repeats": 2, "vary": "folds"}))


def test_cross_validation_sweep_end_to_end_reports_mean_and_std(tmp_path):
    f = write(tmp_path / "cv.yaml", {**BASE, "dataset": {**BASE["dataset"], "folds": 3}})
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    runs = sorted((out / "cv").glob("trial_fold-*"))
    assert [p.name for p in runs] == ["trial_fold-0", "trial_fold-1", "trial_fold-2"]
    metrics = [json.loads((p / "metrics.json").read_text()) for p in runs]
    assert sum(m["test"]["samples"] for m in metrics) == 150  # every sample tested once
    r = runner.invoke(app, ["report", str(out / "cv")])
    assert r.exit_code == 0, r.output
    table = (out / "cv" / "summary.md").read_text()
    row = table.splitlines()[2]  # header, rule, the one row: 3 runs folded into mean ± std
    assert re.search(r"\|\s*\**3\**\s*\|", row) and "±" in row, table
