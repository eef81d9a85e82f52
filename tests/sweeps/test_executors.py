"""The executor interface (dlhw.sweeps.executors.base): an executor is one module defining
EXECUTOR; the engine finds it by name and hands it a Feed and on_result."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import yaml

from dlhw.errors import ConfigError
from tests.conftest import TINY

INLINE = textwrap.dedent('''
    """A test executor: every job in this process, in reverse, noting what it was given."""
    from dlhw.sweeps.executors.base import Executor
    from dlhw.sweeps.executors.trial import run_trial

    SEEN = {}


    class Inline(Executor):
        name = "inline"

        def run(self, feed, on_result, where):
            SEEN.update(size=feed.size(), workers=where.workers, sweep_dir=str(where.sweep_dir))
            jobs = list(feed)
            SEEN["jobs"] = [j.name for j in jobs]
            for job in reversed(jobs):
                on_result(run_trial(job))


    EXECUTOR = Inline()
''')


def test_executors_are_the_modules_that_define_one():
    from dlhw.sweeps import executors
    from dlhw.sweeps.executors.base import Executor

    assert {"local", "ray"} <= set(executors.names())
    assert not {"base", "trial", "pool", "worker", "serial", "resources"} & set(executors.names())
    for name in executors.names():
        assert isinstance(executors.get(name), Executor) and executors.get(name).name == name
    with pytest.raises(ConfigError, match="--executor: expected .*local.*ray.*; received 'spark'"):
        executors.get("spark")


def test_one_new_module_is_a_new_executor(tmp_path, monkeypatch):
    """A module dropped beside the others runs a real sweep: the engine gave it every job, its
    results were recorded in sweep.json, in plan order in the closing results."""
    from dlhw import api
    from dlhw.sweeps import executors

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "inline.py").write_text(INLINE)
    monkeypatch.setattr(executors, "__path__", [*executors.__path__, str(plugins)])
    monkeypatch.delitem(sys.modules, "dlhw.sweeps.executors.inline", raising=False)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    f = tmp_path / "g.yaml"
    f.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.layers": [[{"units": 4}], [{"units": 6}]]}}))
    result = api.sweep(f, out=tmp_path / "runs", executor="inline", workers=3, quiet=True)
    seen = sys.modules["dlhw.sweeps.executors.inline"].SEEN
    assert seen["size"] == 2 and seen["workers"] == 3 and seen["sweep_dir"] == str(tmp_path / "runs" / "g")
    assert [r["status"] for r in result.results] == ["completed", "completed"]
    assert [r["name"] for r in result.results] == ["layers-4", "layers-6"]  # plan order, whatever the executor's
    manifest = json.loads((tmp_path / "runs" / "g" / "sweep.json").read_text())
    assert manifest["executor"] == "inline" and [t["status"] for t in manifest["trials"]] == ["completed"] * 2


def test_a_search_source_offers_its_base_each_category_and_both_extremes(tmp_path):
    pytest.importorskip("optuna")
    from dlhw.sweeps.planning.space import build_search
    from dlhw.sweeps.sources import source_for
    from dlhw.sweeps.sources.search import SearchSource

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**TINY, "search": {"trials": 3},
                                 "space": {"training.optimizer.type": ["sgd", "adam"],
                                           "training.batch_size": {"int": [16, 64]}}}, sort_keys=False))
    source = source_for(build_search(f))
    assert isinstance(source, SearchSource) and source.size() == 3
    got = [(cfg.training.optimizer.type, cfg.training.batch_size) for _, cfg in source.configs()]
    assert got == [("adam", 64), ("sgd", 64), ("adam", 64), ("adam", 16), ("adam", 64)]
