"""One palette: a run has the same colour in the overlay PNGs and on report.html."""

from __future__ import annotations

import re

from matplotlib.colors import to_hex

from dlhw.reports import palette
from dlhw.reports.collect import collect
from dlhw.reports.interactive import page_data
from dlhw.reports.table import build_rows
from tests.conftest import REPO
from tests.reports.test_report import write_sweep


def test_overlay_and_page_colour_runs_by_their_rank(tmp_path, monkeypatch):
    from dlhw.evaluation import figure as F
    from dlhw.reports import charts

    root = write_sweep(tmp_path / "runs" / "units", "units", [  # plan order is not rank order
        (f"units-{u}", f"units-{u}", {"model.units": u}, "completed", acc, {}) for u, acc in
        ((8, 0.6), (16, 0.9), (32, 0.7), (64, 0.8))])
    records = collect([root])
    rows = build_rows(records, "val_accuracy")
    assert [r.name for r in rows] == ["units-16", "units-64", "units-32", "units-8"]
    figures = []
    monkeypatch.setattr(F, "save", lambda fig, path, *a, **k: figures.append(fig))
    charts.make_charts(records, tmp_path / "out", rank={id(rec): i for i, r in enumerate(rows) for rec in r.runs})
    assert figures
    for fig in figures:
        drawn = {line.get_label(): to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()
                 if not line.get_label().startswith("_")}
        for rank, row in enumerate(rows):
            label = next(lbl for lbl in drawn if "units=" + row.name.split("-")[1] in lbl)
            assert drawn[label] == palette.RUNS[rank], (label, drawn)
    data = page_data(rows, records, "val_accuracy")
    assert data["palette"] == palette.as_data()
    assert data["groups"][0]["rows"] == [0, 1, 2, 3]  # page.js: PALETTE[position in the group's rows]


def test_the_page_script_has_no_colours_of_its_own():
    js = (REPO / "src" / "dlhw" / "reports" / "page.js").read_text()
    assert "DATA.palette.runs" in js and "DATA.palette.splits" in js
    for colour in palette.RUNS + [palette.OTHERS]:
        assert colour.lower() not in js.lower()
    assert not re.search(r"tab10|tab20", (REPO / "src" / "dlhw" / "reports" / "charts.py").read_text())
