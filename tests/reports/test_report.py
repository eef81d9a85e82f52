"""dlhw report on run folders the tests write by hand (two sweeps, repeats, failed, stale, loose runs)."""

from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.reports import make_report
from dlhw.reports.collect import collect
from tests.conftest import REPO

runner = CliRunner()
REPO_FIXTURE_CLAIMS = REPO / "tests" / "fixtures" / "claims_tiny"  # a trained tiny sweep with claims
HOSTILE = "<script>alert(1)</script>"


def write_run(folder: Path, status: str = "completed", val_acc: float = 0.5, epochs: int = 3,
              error: str | None = None, diagnostics=None, png: bool = True, pid: int | None = None) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    st = {"status": status, "name": folder.name}
    if error:
        st["error"] = error
    if pid is not None:
        st["pid"] = pid
    (folder / "status.json").write_text(json.dumps(st))
    rows = ["stage,epoch,loss,accuracy,val_loss,val_accuracy,lr"]
    for e in range(1, epochs + 1):
        rows.append(f"train,{e},{1.5 / e},{val_acc * e / epochs + 0.05},{1.6 / e},{val_acc * e / epochs},0.001")
    (folder / "history.csv").write_text("\n".join(rows) + "\n")
    seed = re.search(r"seed-(\d+)", folder.name)  # repeats differ in their seed (reports group by config)
    (folder / "config.yaml").write_text(f"name: x\nseed: {seed.group(1) if seed else 0}\n")
    if status == "completed":
        metrics = {split: {"samples": 10, "loss": 1.0 - val_acc + d, "accuracy": val_acc - d, "f1_macro": val_acc - d - 0.01}
                   for split, d in (("train", -0.05), ("val", 0.0), ("test", 0.02))}
        metrics.update(params={"total": 1210, "trainable": 1210}, train_seconds=2.5, best_epoch=epochs, epochs_run=epochs)
        if diagnostics is not None:
            metrics["diagnostics"] = diagnostics
        (folder / "metrics.json").write_text(json.dumps(metrics))
        if png:
            Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "confusion_matrix.png")
    return folder


def write_sweep(root: Path, name: str, trials: list) -> Path:
    """trials: (folder name, group, varied, status, val_acc, extra kwargs)."""
    root.mkdir(parents=True)
    entries = []
    for folder, group, varied, status, acc, kw in trials:
        write_run(root / folder, status, acc, **kw)
        entries.append({"name": folder, "group": group, "varied": varied, "status": status,
                        "label": ", ".join(f"{k.split('.')[-1]}={v}" for k, v in varied.items())})
    (root / "sweep.json").write_text(json.dumps({"name": name, "varied_keys": sorted({k for t in trials for k in t[2]}),
                                                 "trials": entries}))
    return root


@pytest.fixture
def runs(tmp_path) -> Path:
    return make_runs(tmp_path / "runs")


def make_runs(root: Path) -> Path:
    """Two sweeps (repeats, failed, diverged, hostile names) and two loose runs (one stale)."""
    write_sweep(root / "layers", "layers", [
        ("units-32", "units-32", {"model.units": 32}, "completed", 0.70, {}),
        ("units-64_seed-0", "units-64", {"model.units": 64}, "completed", 0.80, {}),
        ("units-64_seed-1", "units-64", {"model.units": 64}, "completed", 0.90, {}),
        ("units-128", "units-128", {"model.units": 128}, "failed", 0.0,
         {"error": f"DataError: bad file {HOSTILE}", "epochs": 1}),
    ])
    write_sweep(root / "hostile", HOSTILE, [
        ("lr-1", "lr-1", {"training.lr": HOSTILE}, "completed", 0.60,
         {"diagnostics": [{"kind": "overfitting", "message": f"val loss rose {HOSTILE}", "epoch": 2}]}),
        ("lr-2", "lr-2", {"training.lr": 0.1}, "diverged", 0.0, {"error": "loss became NaN/inf at epoch 1"}),
    ])
    write_run(root / "loose" / "<b>bold&amp", val_acc=0.65)
    write_run(root / "loose" / "stale-run", status="running", val_acc=0.3, pid=2 ** 22 + 12345)
    return root


def test_collect_finds_every_run_and_marks_status(runs):
    recs = {r.name: r for r in collect([runs])}
    assert len(recs) == 8
    assert recs["units-128"].status == "failed" and "bad file" in recs["units-128"].error
    assert recs["lr-2"].status == "diverged"
    assert recs["stale-run"].status == "stale"
    assert recs["units-64_seed-1"].group == "units-64" and recs["units-64_seed-1"].sweep == "layers"
    assert recs["<b>bold&amp"].sweep is None


def test_table_sort_best_and_mean_std(runs, tmp_path):
    rep = make_report([runs], tmp_path / "out")
    rows = rep.rows
    names = [r.name for r in rows]
    # 3 layer rows (repeats folded) + 2 hostile-sweep rows + 2 loose runs
    assert len(rows) == 7 and names.count("units-64") == 1
    assert names[0] == "units-64" and rows[0].best and not any(r.best for r in rows[1:])
    agg = rows[0]
    assert agg.n == 2
    mean, std = agg.values["val_accuracy"]
    assert mean == pytest.approx(0.85) and std == pytest.approx(statistics.stdev([0.8, 0.9]))
    # runs without the metric (failed, diverged, stale) come last
    assert {r.status for r in rows[-3:]} == {"failed", "diverged", "stale"}
    vals = [r.values["val_accuracy"][0] for r in rows if r.values["val_accuracy"][0] is not None]
    assert vals == sorted(vals, reverse=True)
    # ascending for losses
    rep2 = make_report([runs], tmp_path / "out2", metric="val_loss")
    losses = [r.values["val_loss"][0] for r in rep2.rows if r.values["val_loss"][0] is not None]
    assert losses == sorted(losses) and rep2.rows[0].name == "units-64"


def test_outputs_csv_md_and_charts(runs, tmp_path):
    out = tmp_path / "out"
    rep = make_report([runs], out)
    with open(out / "summary.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 7
    first = table[0]
    assert first["run"] == "units-64" and first["best"] == "1" and first["n"] == "2"
    assert float(first["val_accuracy"]) == pytest.approx(0.85) and float(first["val_accuracy_std"]) > 0
    failed = next(r for r in table if r["run"] == "units-128")
    assert failed["status"] == "failed" and "bad file" in failed["error"] and failed["val_accuracy"] == ""
    md = (out / "summary.md").read_text()
    assert "**units-64**" in md and "0.8500 ± 0.0707" in md and "<script>" not in md
    # one val-accuracy and one val-loss overlay per sweep, and one for the loose runs
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert len(charts) == 6 and "layers_val_accuracy.png" in charts and "loose_runs_val_loss.png" in charts
    assert all((out / "charts" / c).stat().st_size > 5000 for c in charts)
    assert {c["sweep"] for c in rep.charts} == {"layers", HOSTILE, "loose runs"}


def test_html_is_self_contained_and_escaped(runs, tmp_path):
    out = tmp_path / "out"
    make_report([runs], out)
    page = (out / "report.html").read_text()
    # two inline scripts (the data as JSON, the page's script) and nothing loaded from anywhere
    assert re.findall(r"<script[^>]*>", page.lower()) == ['<script type="application/json" id="dlhw-data">', "<script>"]
    assert HOSTILE not in page and "</script" not in page.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # in the HTML
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page  # in the JSON
    assert "&lt;b&gt;bold&amp;amp" in page
    assert not re.search(r"https?://", page.replace("http://www.w3.org/2000/svg", "")) and "<link" not in page
    # charts + confusion gallery + each completed run's figures in its detail section
    assert page.count('src="data:image/png;base64,') == 6 + 5 + 5
    assert re.search(r'<tr class="best" data-status="completed"><td class="l" data-s="units-64">units-64 <a href="[^"]+" '
                     r'title="units-64_seed-0">\[1\]</a> <a href="[^"]+" title="units-64_seed-1">\[2\]</a> ★ '
                     r'<a class="det" href="#run-\d+">details</a>', page)
    assert 's-failed' in page and 's-diverged' in page and 's-stale' in page
    assert "overfitting" in page and "Diagnostics" in page
    assert "0.8500 ± 0.0707" in page


def test_cli_report_terminal_table_and_errors(runs, tmp_path):
    r = runner.invoke(app, ["report", str(runs / "layers"), str(runs / "loose"), "--out", str(tmp_path / "o"),
                            "--metric", "test_accuracy"])
    assert r.exit_code == 0, r.output
    assert "units-64" in r.output and "0.8300 ± 0.0707" in r.output and "report:" in r.output
    assert (tmp_path / "o" / "report.html").exists()
    # default --out: the first path
    r = runner.invoke(app, ["report", str(runs / "layers")])
    assert r.exit_code == 0 and (runs / "layers" / "report.html").exists()
    r = runner.invoke(app, ["report", str(runs), "--metric", "val_acuracy"])
    assert r.exit_code == 2 and "did you mean 'val_accuracy'" in r.output
    r = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no such run folder" in r.output
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["report", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "no run folders found" in r.output


@pytest.mark.parametrize("width", [80, 120, 160])
def test_terminal_table_folds_and_never_cuts_a_number(runs, tmp_path, width):
    from rich.cells import cell_len
    from rich.console import Console

    from dlhw.reports.table import cell, header, print_table

    rep = make_report([runs], tmp_path / "out")
    console = Console(width=width, force_terminal=True, record=True)
    print_table(rep.rows, rep.metric, "runs", console=console)
    text = console.export_text()
    assert max(cell_len(line) for line in text.splitlines()) <= width
    keys, names = header(rep.rows, rep.metric)
    note = " ".join(text[text.find("not shown at"):].split()) if "not shown at" in text else ""
    shown = [k for k, n in zip(keys, names) if not note or n not in note.split(":", 1)[1].split("(")[0]]
    assert "run" in shown and "status" in shown and rep.metric in shown  # the essentials always show
    for k, n in zip(keys, names):
        assert n in text  # a header, or named in the note: no column vanishes silently
        if k in shown and k not in ("run", "sweep", "status", "diagnostics") and not k.startswith("varied:"):
            for r in rep.rows:
                assert cell(r, k) in text, (k, cell(r, k))  # every number whole, on one line
    assert ("not shown at" in text) == (len(shown) < len(keys))


def test_a_wide_terminal_shows_one_table_with_every_column(runs, tmp_path):
    from rich.console import Console

    from dlhw.reports.table import print_table

    rep = make_report([runs / "layers"], tmp_path / "out")
    console = Console(width=240, force_terminal=True, record=True)
    print_table(rep.rows, rep.metric, "runs", console=console)
    text = console.export_text()
    assert "(continued)" not in text and "not shown" not in text and "0.8300 ± 0.0707" in text


def test_confusion_gallery_names_the_split_each_matrix_counts(tmp_path):
    root = tmp_path / "runs"
    val_only = write_run(root / "no-test", val_acc=0.7)
    m = json.loads((val_only / "metrics.json").read_text())
    m["test"] = {"samples": 0}  # split: {test: 0.0}: the matrix counts the validation split
    (val_only / "metrics.json").write_text(json.dumps(m))
    make_report([val_only], tmp_path / "a")
    page = (tmp_path / "a" / "report.html").read_text()
    assert "<h2>Confusion matrices (validation split: no test split)</h2>" in page and "(test split)</h2>" not in page
    write_run(root / "with-test", val_acc=0.6)
    make_report([root], tmp_path / "b")
    page = (tmp_path / "b" / "report.html").read_text()
    assert "<h2>Confusion matrices (the split under each)</h2>" in page
    assert "no-test (validation split: no test split)</figcaption>" in page
    assert "with-test (test split)</figcaption>" in page
    make_report([root / "with-test"], tmp_path / "c")
    assert "<h2>Confusion matrices (test split)</h2>" in (tmp_path / "c" / "report.html").read_text()


def test_confusion_matrix_counts_read_on_their_colours(tmp_path, monkeypatch):
    import numpy as np

    from dlhw.evaluation import plots

    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig))
    cm = np.array([[90, 80, 85], [84, 95, 81], [82, 83, 99]])  # every count high
    plots.plot_confusion(cm, ["a", "b", "c"], tmp_path / "cm.png", "t")
    ax = figs[0].axes[0]
    im = ax.images[0]
    assert im.get_clim() == (0, 99)  # the colour scale starts at 0: 80 is a dark cell, not a white one
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    for text, colour in colours.items():
        r, g, b, _ = im.cmap(im.norm(int(text)))
        background = 0.299 * r + 0.587 * g + 0.114 * b
        assert (colour == "white") == (background < 0.5), (text, colour, background)
    assert colours["80"] == "white"  # the old threshold (max/2) painted 80 white on white
    plots.plot_confusion(np.array([[50, 0], [3, 40]]), ["a", "b"], tmp_path / "cm2.png", "t")
    colours = {t.get_text(): t.get_color() for t in figs[1].axes[0].texts}
    assert colours["0"] == "black" and colours["3"] == "black" and colours["50"] == "white"
