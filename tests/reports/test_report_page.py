"""report.html's explorable parts, read without a browser: the embedded data, the per-run detail
sections (config diff, figures), the page with scripts off, parallel coordinates, the size budget.
(tests/reports/test_report_browser.py runs the script in headless Chromium.)"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from dlhw.reports import make_report
from dlhw.reports.collect import collect
from tests.reports.test_report import HOSTILE, make_runs, write_run, write_sweep

BASE = {"name": "grid", "seed": 0, "dataset": {"source": "sklearn", "name": "digits"},
        "model": {"type": "mlp", "layers": [{"units": 16, "activation": "relu"}]},
        "training": {"epochs": 3, "batch_size": 32, "optimizer": {"type": "adam", "learning_rate": 0.001}}}


@pytest.fixture
def runs(tmp_path) -> Path:
    return make_runs(tmp_path / "runs")


def embedded(page: str) -> dict:
    text = page.split('<script type="application/json" id="dlhw-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(text)


class Static(HTMLParser):
    """What a reader with scripts off gets: the text and elements outside <script>."""

    def __init__(self):
        super().__init__()
        self.tags: list = []
        self.text: list = []
        self._script = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._script += 1
        elif not self._script:
            self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "script":
            self._script -= 1

    def handle_data(self, data):
        if not self._script:
            self.text.append(data)


def test_the_page_data_holds_every_run_history_and_final_metrics(runs, tmp_path):
    make_report([runs], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    data = embedded(page)
    assert data["metric"] == "val_accuracy" and data["higher"] is True
    assert len(data["runs"]) == 8 and len(data["rows"]) == 7
    assert [g["title"] for g in data["groups"]] == [HOSTILE, "layers", "loose runs"]  # as the overlays: as found
    by_name = {r["name"]: r for r in data["runs"]}
    run = by_name["units-32"]
    x, y = run["h"]["val_accuracy"]
    assert x == [1.0, 2.0, 3.0] and y == pytest.approx([0.7 / 3, 1.4 / 3, 0.7], rel=1e-5)  # 6 significant digits
    assert set(run["h"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert run["final"]["test_accuracy"] == pytest.approx(0.68) and "test_samples" not in run["final"]
    assert by_name["units-128"]["final"] == {} and by_name["units-128"]["status"] == "failed"
    assert run["stages"] == []  # one stage: nothing to mark
    best = data["rows"][0]
    assert best["name"] == "units-64" and best["best"] and best["metric"] == pytest.approx(0.85)
    assert sorted(data["runs"][i]["name"] for i in best["runs"]) == ["units-64_seed-0", "units-64_seed-1"]
    assert data["groups"][1]["rows"][0] == 0 and data["groups"][1]["keys"] == ["model.units"]  # best first
    # the detail section each run points to exists, and the table links the row to it
    for r in data["runs"]:
        assert f'<details class="run" id="{r["detail"]}">' in page
    assert f'href="#{by_name["units-32"]["detail"]}">details</a>' in page
    assert data["rows"][[r["name"] for r in data["rows"]].index("lr-1")]["varied"] == {"training.lr": HOSTILE}


def test_the_curves_bands_are_95_percent_t_intervals_as_in_curves_png(runs, tmp_path):
    """The page's bands use scipy's t(0.975, n - 1) for the largest group (units-64: 2 seeds, df 1),
    the same half-width charts.py draws into the PNG overlays, not one standard deviation."""
    from scipy.stats import t

    from dlhw.reports.charts import _series

    make_report([runs], tmp_path / "out")
    data = embedded((tmp_path / "out" / "report.html").read_text())
    assert data["t975"] == pytest.approx([t.ppf(0.975, 1)], rel=1e-6) and data["t975"][0] > 12.7
    recs = [r for r in collect([runs]) if r.name.startswith("units-64_seed-")]
    assert len(recs) == 2
    _, mean, half = _series(recs, "val_accuracy")
    vals = [[row["val_accuracy"] for row in r.history] for r in recs]
    sd = [abs(a - b) / 2 ** 0.5 for a, b in zip(*vals)]  # two values: their sample sd
    assert half == pytest.approx([data["t975"][0] * s / 2 ** 0.5 for s in sd], rel=1e-5)


def test_detail_sections_diff_each_config_against_its_sweep_base(tmp_path):
    root = write_sweep(tmp_path / "runs" / "grid", "grid", [
        (f"lr-{lr}", f"lr-{lr}", {"training.optimizer.learning_rate": lr}, "completed", acc, {})
        for lr, acc in ((0.1, 0.7), (0.01, 0.8), (0.001, 0.6))])
    for lr in (0.1, 0.01, 0.001):
        cfg = json.loads(json.dumps(BASE))
        cfg["training"]["optimizer"]["learning_rate"] = lr
        if lr == 0.001:  # one trial that also differs in what the sweep did not vary
            cfg["training"]["batch_size"] = 64
            cfg["model"]["layers"].append({"units": 8, "activation": "relu"})
        (root / f"lr-{lr}" / "config.yaml").write_text(yaml.safe_dump(cfg))
    make_report([root], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    sections = dict(re.findall(r'<details class="run" id="(run-\d)"><summary><b>([^<]+)</b>', page))
    section = {name: page.split(f'id="{rid}"', 1)[1].split("</details>", 1)[0] for rid, name in sections.items()}
    odd = section["lr-0.001"]
    assert '<tr class="varied"><td class="l"><code>training.optimizer.learning_rate</code></td><td class="l">0.001' in odd
    assert "varied: 0.1, 0.01, 0.001" in odd
    assert re.search(r"<code>training.batch_size</code></td><td class=\"l\">64</td><td class=\"l\">32</td>", odd)
    assert re.search(r"<code>model.layers.1.units</code></td><td class=\"l\">8</td><td class=\"l\">\(absent\)</td>", odd)
    plain = section["lr-0.1"]
    assert "training.batch_size" not in plain and "model.layers.1" not in plain and "training.optimizer.learning_rate" in plain
    # its final metrics per split, its figure embedded, its curves drawn by the script (a link to the PNG otherwise)
    assert '<td class="l">test</td>' in plain and 'alt="confusion matrix of lr-0.1"' in plain
    assert '<div class="runchart" data-run="' in plain


def test_a_two_stage_run_marks_where_its_second_stage_starts(tmp_path):
    run = write_run(tmp_path / "runs" / "two-stage", epochs=4)
    rows = (run / "history.csv").read_text().splitlines()
    rows[3:] = [r.replace("train,", "finetune,", 1) for r in rows[3:]]  # epochs 3 and 4: the second stage
    (run / "history.csv").write_text("\n".join(rows) + "\n")
    make_report([run], tmp_path / "out")
    data = embedded((tmp_path / "out" / "report.html").read_text())
    assert data["runs"][0]["stages"] == [[2.5, "finetune"]]


def test_the_page_reads_with_scripts_off(runs, tmp_path):
    make_report([runs], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    static = Static()
    static.feed(page)
    text = " ".join(static.text)
    rows = [a for t, a in static.tags if t == "tr" and "data-status" in a]
    assert len(rows) == 7  # the whole table, in the HTML
    assert len([a for t, a in static.tags if t == "details"]) == 8  # every run's details (no script opens them)
    assert sum(1 for t, a in static.tags if t == "img" and "charts" not in a) >= 6  # the PNG overlays stay
    assert "units-64" in text and "0.8500 ± 0.0707" in text and "Run details" in text
    assert 'class="charts static"' in page  # shown unless the script runs (and always when printing)
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert ".js .static{display:none}" in css and "@media print" in css


def test_parallel_coordinates_for_sweeps_with_two_or_more_varied_keys(runs, tmp_path):
    make_report([runs], tmp_path / "one")
    assert "Parallel coordinates" not in (tmp_path / "one" / "report.html").read_text()  # one varied key each
    root = write_sweep(tmp_path / "grid", "grid", [
        (f"u{u}-lr{lr}", f"u{u}-lr{lr}", {"model.units": u, "training.lr": lr}, "completed", acc, {})
        for u, lr, acc in ((8, 0.1, 0.5), (8, 0.01, 0.6), (32, 0.1, 0.7), (32, 0.01, 0.9))])
    make_report([root], tmp_path / "two")
    page = (tmp_path / "two" / "report.html").read_text()
    assert '<h2 id="parallel">Parallel coordinates</h2>' in page and '<div class="pcoords" data-group="0">' in page
    group = embedded(page)["groups"][0]
    assert group["keys"] == ["model.units", "training.lr"] and group["labels"] == {"model.units": "units",
                                                                                   "training.lr": "lr"}


def test_small_png_scales_figures_down_and_keeps_what_it_cannot_read(tmp_path):
    from PIL import Image

    from dlhw.reports.details import IMAGE_WIDTH, small_png

    big = tmp_path / "big.png"
    Image.new("RGB", (970, 850), (240, 240, 255)).save(big)
    with Image.open(__import__("io").BytesIO(small_png(big))) as im:
        assert im.width == IMAGE_WIDTH and im.height == round(850 * IMAGE_WIDTH / 970)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert small_png(bad) == b"not a png"


def _figures(folder: Path) -> dict:
    """A real confusion matrix, ROC and curves, drawn once by dlhw's own plots (10 classes)."""
    import numpy as np

    from dlhw.evaluation import plots

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 27)
    proba = rng.dirichlet(np.ones(10), size=len(y))
    proba[np.arange(len(y)), y] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    cm = np.zeros((10, 10), dtype=int)
    np.add.at(cm, (y, proba.argmax(axis=1)), 1)
    folder.mkdir(parents=True)
    plots.plot_confusion(cm, [str(i) for i in range(10)], folder / "confusion_matrix.png", "confusion matrix (test split)")
    plots.plot_roc(y, proba, [str(i) for i in range(10)], folder / "roc.png", "ROC")
    return {name: folder / name for name in ("confusion_matrix.png", "roc.png")}


@pytest.mark.slow  # issue 28: 21 s
def test_a_50_run_report_stays_under_5_mb(tmp_path):
    figures = _figures(tmp_path / "figures")
    trials = [(f"t{i:02d}", f"t{i:02d}", {"training.optimizer.learning_rate": 10 ** -(1 + i % 4), "model.units": 8 * (1 + i % 5)},
               "completed", 0.5 + i / 200, {"epochs": 30}) for i in range(50)]
    root = write_sweep(tmp_path / "runs" / "big", "big", trials)
    for folder, *_ in trials:
        for name, src in figures.items():
            shutil.copy(src, root / folder / name)
        (root / folder / "config.yaml").write_text(yaml.safe_dump(BASE))
    make_report([root], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    size = len(page.encode())
    assert size < 5 * 2 ** 20, f"{size / 2 ** 20:.2f} MB"
    assert page.count('alt="confusion matrix of t') == 50 + 12 and page.count('alt="ROC of t') == 50  # details + gallery
    assert len(embedded(page)["runs"]) == 50 and page.count('class="pcoords"') == 1


def test_figures_past_the_embedding_limit_are_linked(tmp_path, monkeypatch):
    from dlhw.reports import details

    monkeypatch.setattr(details, "DETAIL_IMAGES", 2)
    root = write_sweep(tmp_path / "runs" / "s", "s", [
        (f"r{i}", f"r{i}", {"x": i}, "completed", 0.5 + i / 10, {}) for i in range(4)])
    make_report([root], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count('alt="confusion matrix of r') == 2 + 4  # the best two's details + the gallery
    for name in ("r1", "r0"):  # the two worst: linked to their run folders
        section = page.split(f"<b>{name}</b>", 1)[1].split("</details>", 1)[0]
        assert re.search(rf'<figure class="link"><a href="[^"]*{name}/confusion_matrix.png">confusion matrix</a>', section)
    assert "The figures of the best 2 runs are embedded" in page
    assert collect([root])[0].confusion_png is not None
