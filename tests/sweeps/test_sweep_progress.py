"""The sweep's progress display: live on a terminal, one clean line per trial elsewhere."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from dlhw.rundir.status import RunStatus
from dlhw.sweeps.progress import SweepProgress, planned_epochs, result_line
from dlhw.sweeps.records import Job, Result
from tests.conftest import TINY, wait_for

ESC = "\x1b"


def jobs(sweep_dir: Path, n: int = 2, epochs: int = 4):
    raw = {**TINY, "training": {**TINY["training"], "epochs": epochs}}
    return [Job(name=f"t{i}", raw=raw, source="test", out=str(sweep_dir), folder=f"t{i}") for i in range(n)]


def running(sweep_dir: Path, name: str, epoch: int) -> None:
    """What a worker's trial writes: status.json running, its heartbeat with the epoch done."""
    status = RunStatus(sweep_dir / name)
    (sweep_dir / name).mkdir(parents=True, exist_ok=True)
    status.set("running", name=name)
    status.heartbeat(min_interval=0, epoch=epoch, stage="train")



def test_planned_epochs_sum_the_stages():
    assert planned_epochs({"training": {"epochs": 7}}) == 7
    assert planned_epochs({"training": {"stages": [{"epochs": 2}, {"epochs": 3}]}}) == 5


def test_terminal_shows_starts_live_epochs_and_ends(tmp_path):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    progress = SweepProgress(console=console)
    assert progress.live
    todo = jobs(tmp_path)
    progress.start(todo, tmp_path, workers=2)
    try:
        running(tmp_path, "t0", 2)
        assert wait_for(lambda: "start" in out.getvalue() and "t0 (4 epochs)" in out.getvalue())
        assert wait_for(lambda: progress._epoch.get("t0") == 2)  # the live line follows the heartbeat
        progress.done(Result("t0", "completed", seconds=3.2, val_accuracy=0.875))
        running(tmp_path, "t1", 1)
        assert wait_for(lambda: "t1 (4 epochs)" in out.getvalue())
        progress.done(Result("t1", "failed", seconds=1.0, error="boom"))
    finally:
        progress.close()
    text = out.getvalue()
    assert ESC in text  # a terminal: colours and the live display's cursor moves
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "done    [1/2] t0: completed (3.2s) val acc 0.8750" in plain
    assert "done    [2/2] t1: failed (1.0s) boom" in plain
    assert "sweep: 2 trials, epochs" in plain  # the overall bar (with its ETA column)


def test_not_a_terminal_gives_one_plain_line_per_trial(tmp_path):
    out = io.StringIO()
    progress = SweepProgress(console=Console(file=out, width=60))  # a pipe or a file
    assert not progress.live
    todo = jobs(tmp_path, n=3)
    progress.start(todo, tmp_path, workers=2)
    running(tmp_path, "t0", 1)
    long_error = "a very long reason " * 8
    progress.done(Result("t0", "completed", seconds=2.0, val_accuracy=0.5))
    progress.done(Result("t1", "pruned", seconds=1.0, error="pruned at epoch 1"))
    progress.done(Result("t2", "failed", seconds=1.0, error=long_error))
    progress.close()
    text = out.getvalue()
    assert ESC not in text
    assert text.splitlines() == [result_line(Result("t0", "completed", seconds=2.0, val_accuracy=0.5), 1, 3),
                                 "[2/3] t1: pruned (1.0s) pruned at epoch 1",
                                 f"[3/3] t2: failed (1.0s) {long_error}".rstrip()]


def test_quiet_prints_nothing(tmp_path):
    out = io.StringIO()
    progress = SweepProgress(console=Console(file=out, force_terminal=True), quiet=True)
    progress.start(jobs(tmp_path), tmp_path)
    progress.done(Result("t0", "completed", seconds=1.0))
    progress.close()
    assert out.getvalue() == ""


def test_a_real_sweep_through_a_pipe_prints_one_line_per_trial(tmp_path):
    import yaml

    from dlhw.sweeps import build_plan
    from dlhw.sweeps.engine import run_sweep

    sweep_file = tmp_path / "two.yaml"
    sweep_file.write_text(yaml.safe_dump({**TINY, "name": "two", "grid": {"training.batch_size": [32, 64]}}))
    out = io.StringIO()
    lines = []
    outcome = run_sweep(build_plan(sweep_file), tmp_path / "runs", workers=1, echo=lines.append,
                        progress=SweepProgress(console=Console(file=out, width=80)))
    assert [r.status for r in outcome.results] == ["completed", "completed"]
    text = out.getvalue()
    assert ESC not in text and len(text.splitlines()) == 2
    assert all(re.match(r"\[\d/2\] .+: completed \(\d+\.\ds\) val acc \d\.\d{4}$", line) for line in text.splitlines())
    assert lines and lines[0].startswith("sweep two: 2 trials, 2 to run")


def test_a_real_search_feeds_the_live_display_as_its_trials_are_made(tmp_path):
    """A search's trials are made one at a time (the engine tells the display of each): the live
    display counts them against the budget and shows each one's end with the search's figures."""
    import yaml

    from dlhw.sweeps.engine import run_sweep
    from dlhw.sweeps.planning.space import build_search

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "epochs": 2}}))
    search_file = tmp_path / "s.yaml"
    search_file.write_text(yaml.safe_dump({"base": "base.yaml", "search": {"trials": 2, "sampler": "random", "seed": 1},
                                           "space": {"model.layers.0.units": [8, 16]}}))
    out = io.StringIO()
    progress = SweepProgress(console=Console(file=out, force_terminal=True, width=120))
    lines = []
    outcome = run_sweep(build_search(search_file), tmp_path / "runs", workers=1, echo=lines.append, progress=progress)
    assert [str(r.status) for r in outcome.results] == ["completed", "completed"]
    assert progress.total == 2 and len(progress.jobs) == 2 and sum(progress.epochs.values()) == 4
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    for i, r in enumerate(outcome.results, 1):
        assert re.search(rf"done +\[{i}/2\] {re.escape(r.name)}: completed \(\d+\.\ds\) \S+ \d\.\d{{4}}", plain), plain
    assert not any(re.match(r"\[\d/2\]", line) for line in lines)  # the display showed them, not plain echo lines
