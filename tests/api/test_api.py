"""The Python API (dlhw.run, dlhw.sweep, dlhw.load, dlhw.report, Run, Sweep): the CLI's tests, through Python."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import dlhw
from dlhw.cli import app
from tests.conftest import REPO, TINY

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "matplotlib", "sklearn", "pandas")


def tiny(**changes) -> dict:
    """TINY (conftest), with dotted-key changes."""
    data = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def cli_error(args) -> str:
    """The one line `dlhw ...` prints for an error, without 'error: '."""
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, r.output
    return lines[0].removeprefix("error: ")


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    """One tiny run made with dlhw.run (2 epochs), shared by the read-only tests below."""
    out = tmp_path_factory.mktemp("api_runs")
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    run = dlhw.run(tiny(), overrides={"training.epochs": 2}, out=out, name="tiny", quiet=True)
    after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert after == before  # the run's graceful Ctrl-C handlers are gone once it returns
    return run


# ---------------------------------------------------------------- the package
def test_import_dlhw_is_light_and_names_the_whole_api():
    code = ("import sys, dlhw\n"
            "names = [dlhw.run, dlhw.sweep, dlhw.load, dlhw.report, dlhw.Run, dlhw.Sweep, dlhw.ConfigError, "
            "dlhw.DataError]\n"
            "assert all(callable(n) for n in names)\n"
            "print([m for m in %r if m in sys.modules])" % (HEAVY,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_sweep_and_report_are_the_api_functions_beside_their_packages():
    import inspect

    import dlhw.reports.table as table_module
    from dlhw.errors import ConfigError
    from dlhw.sweeps import build_plan

    assert inspect.isfunction(dlhw.sweep) and inspect.isfunction(dlhw.report)
    assert "workers" in inspect.signature(dlhw.sweep).parameters  # help(dlhw.sweep) shows the function
    assert dlhw.sweeps.build_plan is build_plan and dlhw.reports.table is table_module
    assert dlhw.ConfigError is ConfigError
    with pytest.raises(ConfigError, match="no such run folder or sweep"):
        dlhw.report("/nonexistent/runs")
    with pytest.raises(ConfigError, match="sweep file or folder not found"):
        dlhw.sweep("/nonexistent/grid.yaml")


# ------------------------------------------------------------------- configs
def test_a_config_is_a_path_a_dict_or_a_config_object(tmp_path, quickstart):
    from dlhw.api.common import resolve_config
    from dlhw.config import load_config

    cfg = resolve_config(quickstart, {"training.epochs": 5, "training.optimizer.type": "sgd"})
    assert cfg.training.epochs == 5 and cfg.training.optimizer.type == "sgd"
    assert resolve_config(quickstart, ["training.epochs=5", "training.optimizer.type=sgd"]).dump() == cfg.dump()
    as_dict = yaml.safe_load(quickstart.read_text())
    assert resolve_config(as_dict, {"training.epochs": 5, "training.optimizer.type": "sgd"}).dump() == cfg.dump()
    assert resolve_config(load_config(quickstart), {"training.epochs": 5,
                                                    "training.optimizer.type": "sgd"}).dump() == cfg.dump()
    layers = [{"units": 8}, {"units": 4, "dropout": 0.5}]  # a structured value, as a dict override gives it
    assert [x.units for x in resolve_config(quickstart, {"model.layers": layers}).model.layers] == [8, 4]
    with_base = {"base": str(quickstart), "training": {"epochs": 3}}
    assert resolve_config(with_base).model.layers[0].units == 256 and resolve_config(with_base).training.epochs == 3


def test_config_and_data_errors_raise_the_cli_line(tmp_path, quickstart):
    cases = [
        ({"training.optimizer.type": "adamm"}, ["--set", "training.optimizer.type=adamm"], dlhw.ConfigError),
        ({"dataset.source": "csv", "dataset.path": str(tmp_path / "none.csv"), "dataset.target": "label"},
         ["--set", "dataset.source=csv", f"dataset.path={tmp_path / 'none.csv'}", "dataset.target=label"],
         dlhw.DataError),
    ]
    for overrides, sets, kind in cases:
        out = tmp_path / "runs"
        with pytest.raises(kind) as info:
            dlhw.run(quickstart, overrides=overrides, out=out, quiet=True)
        assert str(info.value) == cli_error(["run", str(quickstart), "--out", str(out), *sets])
        assert not out.exists()  # nothing was started
    with pytest.raises(dlhw.ConfigError) as info:
        dlhw.run(tmp_path / "nope.yaml")
    assert str(info.value) == cli_error(["run", str(tmp_path / "nope.yaml")])
    with pytest.raises(dlhw.ConfigError, match=r"--device: expected auto, cpu or gpu \(gpu:N.*\); received 'tpu'"):
        dlhw.run(quickstart, device="tpu")
    with pytest.raises(dlhw.ConfigError, match="overrides: expected a dict"):
        dlhw.run(quickstart, overrides="training.epochs=5")
    with pytest.raises(dlhw.ConfigError, match="config: expected a YAML file path, a dict or a config object"):
        dlhw.run(42)


def test_load_tells_runs_sweeps_and_neither_apart(tmp_path, api_run):
    assert isinstance(dlhw.load(api_run.path), dlhw.Run) and dlhw.load(str(api_run.path)).path == api_run.path
    (tmp_path / "empty").mkdir()
    with pytest.raises(dlhw.ConfigError, match="neither a run folder .* nor a sweep folder"):
        dlhw.load(tmp_path / "empty")
    with pytest.raises(dlhw.ConfigError, match="no such run folder or sweep"):
        dlhw.load(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(dlhw.ConfigError, match="received a file"):
        dlhw.load(tmp_path / "file.txt")


# ---------------------------------------------------------------------- a run
def test_a_run_reads_its_folder(api_run):
    assert api_run.status == "completed" and api_run.path.name == "tiny" and api_run.error is None
    assert api_run.config.training.epochs == 2 and api_run.config.dataset.max_samples == 300
    m = api_run.metrics
    raw = json.loads((api_run.path / "metrics.json").read_text())
    assert raw.pop("schema_version") == 1 and m == raw  # the file's values; its schema_version is the record's
    assert 0 <= m["test"]["accuracy"] <= 1 and m["epochs_run"] == 2
    history = api_run.history
    assert list(history["epoch"]) == [1, 2] and {"loss", "val_loss", "accuracy", "lr"} <= set(history.columns)
    loaded = dlhw.load(api_run.path)  # the same answers read back from the folder
    assert loaded.config.dump() == api_run.config.dump() and loaded.metrics == m
    model = api_run.model()
    assert model.count_params() == m["params"]["total"]
    assert repr(api_run) == f"Run('{api_run.path}', status='completed')"
    import logging

    assert logging.getLogger("dlhw").level != logging.WARNING  # quiet=True was for that call only


def test_predict_answers_what_dlhw_predict_answers(api_run, tmp_path):
    import pandas as pd
    from sklearn.datasets import load_digits

    d = load_digits()
    csv = tmp_path / "digits.csv"
    pd.DataFrame(d.data[:5], columns=d.feature_names).to_csv(csv, index=False)
    frame = api_run.predict([str(csv)], top_k=2)
    assert list(frame.columns) == ["input", "class_1", "probability_1", "class_2", "probability_2"]
    r = runner.invoke(app, ["predict", str(api_run.path), str(csv), "--top-k", "2", "--json"])
    assert r.exit_code == 0, r.output
    cli = json.loads(r.output)
    assert list(frame["input"]) == [c["input"] for c in cli] == [f"digits.csv:{i}" for i in range(1, 6)]
    assert list(frame["class_1"]) == [c["top"][0]["class"] for c in cli]
    assert np.allclose(frame["probability_1"], [c["top"][0]["probability"] for c in cli])
    rows = api_run.predict(d.data[:5], top_k=2)  # an array of rows: the same answers, labelled by position
    assert list(rows["input"]) == ["0", "1", "2", "3", "4"]
    assert list(rows["class_1"]) == list(frame["class_1"]) and np.allclose(rows["probability_1"], frame["probability_1"])
    with_logits = api_run.predict(csv, top_k=1, logits=True)
    assert list(with_logits.columns) == ["input", "class_1", "probability_1", "logit_1"]
    with pytest.raises(dlhw.DataError, match="expected 64 feature columns"):
        api_run.predict(np.zeros((2, 3)))
    with pytest.raises(dlhw.DataError, match="input not found"):
        api_run.predict([str(tmp_path / "missing.png")])


def test_predict_takes_an_array_of_images_as_their_files(tmp_path):
    from PIL import Image

    from tests.conftest import make_image_folder

    images = make_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=6)
    config = {"name": "cnn", "dataset": {"source": "image_folder", "path": str(images), "image_size": [16, 16]},
              "model": {"type": "cnn", "rescale": 1 / 255, "blocks": [{"type": "conv", "filters": 4, "pool": 2}],
                        "dense": [{"units": 8}]},
              "training": {"epochs": 1, "batch_size": 4, "tensorboard": False, "checkpoint": False}}
    run = dlhw.run(config, out=tmp_path / "runs", quiet=True)
    files = sorted((images / "cat").iterdir())[:3]
    by_file = run.predict([str(f) for f in files], top_k=2)
    pixels = np.stack([np.asarray(Image.open(f)) for f in files])  # (3, 16, 16, 3), 0..255
    by_array = run.predict(pixels, top_k=2)
    assert list(by_array["input"]) == ["0", "1", "2"] and list(by_file["input"]) == [str(f) for f in files]
    assert list(by_array["class_1"]) == list(by_file["class_1"])
    assert np.allclose(by_array["probability_1"], by_file["probability_1"], atol=1e-6)
    with pytest.raises(dlhw.DataError, match=r"expected images shaped \(N, height, width, 3\)"):
        run.predict(pixels[..., 0])
    with pytest.raises(dlhw.DataError, match="expected pixel values 0..255"):
        run.predict(pixels * 2.0)


def test_repr_html_shows_status_metrics_and_images(api_run):
    page = api_run._repr_html_()
    assert "tiny: completed" in page and f"{api_run.metrics['test']['accuracy']:.4f}" in page
    assert page.count('<img src="data:image/png;base64,') == 2  # curves and confusion matrix


def test_a_run_that_diverges_is_returned_with_its_error_or_raised_with_check(tmp_path):
    from dlhw.errors import DivergedError

    overrides = {"training.optimizer": {"type": "sgd", "learning_rate": 1.0e12}}
    run = dlhw.run(tiny(), overrides=overrides, out=tmp_path, quiet=True)
    assert run.status == "diverged" and "loss became NaN/inf" in run.error and run.metrics == {}
    assert "diverged" in run._repr_html_() and "loss became NaN/inf" in run._repr_html_()
    with pytest.raises(DivergedError, match="loss became NaN/inf"):
        dlhw.run(tiny(), overrides=overrides, out=tmp_path, quiet=True, check=True)


def test_the_notebook_progress_bar_counts_epochs_and_is_quiet_when_asked(tmp_path, monkeypatch):
    import types

    from dlhw.api import display

    bars = []

    class FakeTqdm:  # records what tqdm.auto would draw
        def __init__(self, total, desc, unit, leave):
            self.total, self.desc, self.n, self.postfix, self.closed = total, desc, 0, {}, False
            bars.append(self)

        def set_postfix(self, shown, refresh):
            self.postfix = shown

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    fake = types.SimpleNamespace(tqdm=FakeTqdm)
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(auto=fake, tqdm=FakeTqdm))  # (text bar too)
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    monkeypatch.setattr(display, "in_notebook", lambda: True)
    dlhw.run(tiny(), overrides={"training.epochs": 2}, out=tmp_path, quiet=True)
    assert bars == []  # quiet: no bar
    run = dlhw.run(tiny(), overrides={"training.epochs": 2}, out=tmp_path)
    assert run.status == "completed" and len(bars) == 1
    bar = bars[0]
    assert (bar.total, bar.desc, bar.n, bar.closed) == (2, "tiny", 2, True)
    assert set(bar.postfix) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    monkeypatch.setattr(display, "in_notebook", lambda: False)  # a terminal or a script: Keras' own output
    assert display.epoch_bar(run.config, quiet=False, progress=None) is None


# -------------------------------------------------------------------- a sweep
def test_sweep_of_two_trials_table_best_load_report_and_html(tmp_path):
    base = tmp_path / "tiny.yaml"
    base.write_text(yaml.safe_dump(TINY))
    # the second trial validates but cannot train: 3 output units for the 10 digit classes
    grid = {"base": str(base), "grid": {"model.layers.0.units": [8, 16], "model.output.units": [None, 3]}}
    sweep = dlhw.sweep(grid, overrides={"training.epochs": 2}, out=tmp_path / "runs", workers=1, quiet=True)
    assert isinstance(sweep, dlhw.Sweep) and sweep.path == tmp_path / "runs" / "tiny"
    assert [r["status"] for r in sweep.results] == ["completed", "failed", "completed", "failed"]
    assert len(sweep.failed) == 2 and "does not match" in sweep.failed[0]["error"]
    runs = sweep.runs
    assert [r.name for r in runs] == ["units-8_units-none", "units-8_units-3", "units-16_units-none", "units-16_units-3"]
    assert runs[1].status == "failed" and "does not match" in runs[1].error
    assert runs[0].config.training.epochs == 2 and len(runs[0].history) == 2

    done = [r for r in runs if r.status == "completed"]
    by_val = sweep.best()
    assert by_val.metrics["val"]["accuracy"] == max(r.metrics["val"]["accuracy"] for r in done)
    assert sweep.best("val_loss").metrics["val"]["loss"] == min(r.metrics["val"]["loss"] for r in done)
    assert sweep.best("test_acc").metrics["test"]["accuracy"] == max(r.metrics["test"]["accuracy"] for r in done)
    with pytest.raises(dlhw.ConfigError, match="--metric: unknown metric 'val_acuracy'"):
        sweep.best("val_acuracy")

    page = dlhw.report(sweep.path)
    assert page == sweep.path / "report.html" and page.is_file()
    summary = (sweep.path / "summary.csv").read_text().splitlines()
    table = sweep.table()
    assert ",".join(table.columns) == summary[0] and len(table) == len(summary) - 1 == 4
    assert table["run"].iloc[0] == by_val.name and table["best"].iloc[0] == 1

    loaded = dlhw.load(sweep.path)
    assert isinstance(loaded, dlhw.Sweep) and [r["status"] for r in loaded.results] == \
        ["completed", "failed", "completed", "failed"]
    html = loaded._repr_html_()
    assert all(r.name in html for r in runs) and '<img src="data:image/png;base64,' in html
    assert "val acc" in html and f"{by_val.metrics['val']['accuracy']:.4f}" in html

    again = dlhw.sweep(grid, overrides={"training.epochs": 2}, out=tmp_path / "runs", workers=1, quiet=True)
    assert [r["status"] for r in again.results] == ["skipped", "failed", "skipped", "failed"]  # as `dlhw sweep`


def test_sweep_config_errors_raise_before_anything_trains(tmp_path):
    base = tmp_path / "tiny.yaml"
    base.write_text(yaml.safe_dump(TINY))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": "tiny.yaml", "grid": {"training.optimizer.type": ["sgd", "adamm"]}}))
    with pytest.raises(dlhw.ConfigError) as info:
        dlhw.sweep(grid, out=tmp_path / "runs", workers=1)
    assert str(info.value) == cli_error(["sweep", str(grid), "--out", str(tmp_path / "runs")])
    assert "did you mean 'adam'" in str(info.value) and not (tmp_path / "runs").exists()
    with pytest.raises(dlhw.ConfigError, match="--set training.optimizer.type: .* varies 'training.optimizer.type'"):
        dlhw.sweep(grid, out=tmp_path / "runs", overrides={"training.optimizer.type": "sgd"})
    grid.write_text(yaml.safe_dump({"base": "tiny.yaml", "grid": {"training.optimizer.type": ["sgd", "adam"]}}))
    with pytest.raises(dlhw.ConfigError, match="--workers: expected auto or a whole number"):
        dlhw.sweep(grid, out=tmp_path / "runs", workers=0, overrides={"training.epochs": 1})
    with pytest.raises(dlhw.ConfigError, match="sweep: expected a folder of configs, a sweep file or a dict"):
        dlhw.sweep(42)


# ------------------------------------------------------------------ notebook
def test_the_quickstart_notebook_runs_end_to_end(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    # As Jupyter runs it: the kernel starts in the notebook's own folder (a copy of examples/, so the runs it
    # writes land in tmp_path), with no configs/ beside it; the notebook finds the repository's configs itself.
    here = tmp_path / "examples"
    here.mkdir()
    nb = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    src = str(Path(dlhw.__file__).resolve().parents[1])  # the kernel imports this dlhw, not another install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(here)}}).execute(env=env)
    tmp_path = here  # the runs are beside the notebook
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    pages = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("quickstart: completed" in p and "<img" in p for p in pages)  # the Run, shown inline
    assert any("sweep " in p and "<img" in p for p in pages)  # the Sweep: its table and overlays
    assert (tmp_path / "runs" / "quickstart" / "metrics.json").is_file()
    assert (tmp_path / "runs" / "quickstart_optimizers" / "report.html").is_file()
    # tidy as a terminal: no TqdmWarning, no empty <pre> blocks (rich consoles capturing in Jupyter), readable figures
    streams = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "TqdmWarning" not in streams and "IProgress not found" not in streams
    html_blocks = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert not [b for b in html_blocks if re.fullmatch(r"<pre[^>]*>\s*</pre>\s*", b)]
    run_page = next(p for p in pages if "quickstart: completed" in p)
    assert "max-width:960px" in run_page  # curves.png at up to 960 px, not squeezed into 420
