"""The run's switches travel as one typed RunOptions (dlhw.runtime.options), never as environment
variables between dlhw's own layers: the only DLHW_ variables the package reads are the
user-facing ones README documents, and none is written by the package."""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.conftest import REPO

USER_FACING = {"DLHW_CACHE_DIR", "DLHW_CACHE_MEMORY", "DLHW_NORMAL_EXIT", "DLHW_WORKER_START"}


def _sources():
    return sorted((REPO / "src" / "dlhw").rglob("*.py"))


def test_only_documented_dlhw_variables_are_read_and_none_is_written():
    named, written = set(), []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        named |= set(re.findall(r"\bDLHW_[A-Z_]+\b", text))
        written += [f"{path.name}: {m}" for m in re.findall(r"environ\[\s*[\"'](DLHW_[A-Z_]+)[\"']\s*\]\s*=", text)]
        written += [f"{path.name}: {m}" for m in re.findall(r"setdefault\(\s*[\"'](DLHW_[A-Z_]+)", text)]
    assert named <= USER_FACING, f"internal DLHW_ variables: {sorted(named - USER_FACING)}"
    assert not written, written
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert all(name in readme for name in named), sorted(n for n in named if n not in readme)
    for gone in ("DLHW_THREADS", "DLHW_WORKER_GPU"):
        assert gone not in "".join(p.read_text(encoding="utf-8") for p in _sources())


def test_run_options_are_one_frozen_value():
    from dlhw.runtime.options import RunOptions

    opt = RunOptions(device="cpu", threads=2, quiet=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.threads = 4  # type: ignore[misc]
    assert opt.updated({"threads": 4}) == RunOptions(device="cpu", threads=4, quiet=True)
    assert opt.keras_verbose() == 0 and RunOptions(progress=False).keras_verbose() == 0
    with pytest.raises(TypeError, match="unknown option"):
        opt.updated({"thread": 4})


def test_run_experiment_takes_options_hooks_or_their_fields_by_name():
    from dlhw.orchestration.experiment import RunHooks, split_switches
    from dlhw.runtime.options import RunOptions

    def seen(row):
        return None

    options, hooks = split_switches(None, None, {"quiet": True, "cache_dir": "/tmp/c", "on_epoch": seen})
    assert options == RunOptions(quiet=True, cache_dir=options.cache_dir) and str(options.cache_dir) == "/tmp/c"
    assert hooks == RunHooks(on_epoch=seen)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        split_switches(None, None, {"verbose": 2})


def test_a_pool_worker_is_given_its_gpu_and_memory_share_without_environment_variables():
    """sweeps.executors.worker: the worker's GPU comes back from its start-up and goes into each trial's device;
    its share of the image memory is set in the process, not through $DLHW_CACHE_MEMORY."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, os, queue\n"
            "from dlhw.data.image_cache import memory_budget\n"
            "from dlhw.sweeps.executors import resources, worker\n"
            "whole = memory_budget()\n"
            "q = queue.Queue(); q.put(1)\n"
            "gpu = worker.worker_init(q, ['3', '7'], 1, forked=True, share=4)\n"
            "print(json.dumps([gpu, os.environ.get('CUDA_VISIBLE_DEVICES'), whole, memory_budget(),\n"
            "                  sorted(k for k in os.environ if k.startswith('DLHW_')),\n"
            "                  resources.trial_device('gpu:1', gpu)]))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLHW_")}
    env["PYTHONPATH"] = str(REPO / "src")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    gpu, visible, whole, budget, dlhw_vars, device = json.loads(res.stdout.splitlines()[-1])
    assert gpu == "7" and visible == "7" and device == "gpu"
    assert budget == whole // 4 and dlhw_vars == []
