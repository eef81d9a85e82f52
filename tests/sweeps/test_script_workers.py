"""dlhw.run then dlhw.sweep with workers=2 from a plain script, stdin and ``python -c``: the pool's
workers start from dlhw's own module, never the caller's ``__main__`` (issue: every trial failed
with "worker exited with code 1" and best() was None)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, TINY

# No `if __name__ == "__main__":` guard, on purpose: a spawned worker that re-ran this would
# train and sweep again in every worker, or (stdin) fail to find the file.
SCRIPT = """
import json, sys
import dlhw

tiny = json.loads(sys.argv[1] if len(sys.argv) > 1 else {tiny!r})
out = {out!r}
run = dlhw.run(tiny, out=out, quiet=True)
print("run", run.status, flush=True)
grid = dict(tiny, name="twice", grid={{"model.layers": [[{{"units": 8}}], [{{"units": 12}}]]}})
sweep = dlhw.sweep(grid, out=out, workers=2, quiet=True)
best = sweep.best()
print("RESULT", json.dumps({{"statuses": [r["status"] for r in sweep.results],
                            "errors": [r.get("error") for r in sweep.results],
                            "workers": sweep.manifest.get("workers"),
                            "best": None if best is None else best.path.name}}), flush=True)
"""


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next((s for s in proc.stdout.splitlines() if s.startswith("RESULT ")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("how", ["file", pytest.param("stdin", marks=pytest.mark.slow),
                                 pytest.param("dash_c", marks=pytest.mark.slow)])
def test_a_script_without_a_main_guard_sweeps_on_two_workers(tmp_path, how):
    tiny = dict(TINY, dataset=dict(TINY["dataset"], max_samples=120))
    code = SCRIPT.format(tiny=json.dumps(tiny), out=str(tmp_path / "runs"))
    # the default start: dlhw.run imported TensorFlow, so the pool spawns its workers
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    env.pop("DLHW_WORKER_START", None)
    if how == "file":
        script = tmp_path / "experiment.py"
        script.write_text(code)
        cmd, stdin = [sys.executable, str(script)], None
    elif how == "stdin":
        cmd, stdin = [sys.executable, "-"], code
    else:
        cmd, stdin = [sys.executable, "-c", code], None
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    got = _result(proc)
    assert got["statuses"] == ["completed", "completed"], got
    assert got["workers"] == 2 and got["best"] is not None, got
    assert proc.stdout.count("run completed") == 1  # the script ran once: no worker re-ran it
    trials = json.loads((tmp_path / "runs" / "twice" / "sweep.json").read_text())["trials"]
    assert len({t["pid"] for t in trials}) == 2  # two worker processes, one trial each
