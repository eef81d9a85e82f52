"""Text from data reaches renderers literally (issue 27, class 4): mathtext never parses a class
name or a varied value, spreadsheet formulas in summary.csv stay inert, a plot that fails is one
warning and never costs a run its results."""

from __future__ import annotations

import numpy as np
import pytest

HOSTILE = ["$\\foo$", "$x^$", "$$", "a $ b $ c", "\\", "[/bold]", "=cmd|'/C calc'!A0"]


def test_figures_draw_mathtext_as_plain_text(tmp_path, caplog):
    from dlhw.evaluation import plots as P
    from dlhw.evaluation.figure import figure, save

    cm = np.eye(len(HOSTILE), dtype=int)
    P.plot_confusion(cm, HOSTILE, tmp_path / "cm.png", "title $\\bar$")
    y = np.arange(len(HOSTILE)).repeat(3)
    P.plot_roc(y, np.eye(len(HOSTILE))[y] * 0.9 + 0.01, HOSTILE, tmp_path / "roc.png", "$x^$")
    fig = figure(4, 3)
    ax = fig.add_subplot()
    for name in HOSTILE:
        ax.plot([0, 1], [0, 1], label=name)
    ax.legend()
    ax.set_xticks(range(len(HOSTILE)))
    ax.set_xticklabels(HOSTILE)
    ax.set_title("$\\undefined{x}$")
    save(fig, tmp_path / "chart.png")
    for name in ("cm.png", "roc.png", "chart.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    from tests.conftest import warned

    assert "not drawn" not in warned(caplog)


def test_a_plot_that_fails_is_one_warning_and_nothing_half_written(tmp_path, caplog):
    from dlhw.errors import WriteError
    from dlhw.evaluation.figure import drawn
    from tests.conftest import warned

    def broken(*_):
        raise ValueError("a plot that cannot be drawn\nsecond line")

    assert drawn(tmp_path / "x.png", broken) is None
    err = warned(caplog).splitlines()
    assert len(err) == 1 and str(tmp_path / "x.png") in err[0] and "not drawn" in err[0]
    assert not (tmp_path / "x.png").exists()

    def full_disk(*_):
        raise WriteError("x.png: cannot write: No space left on device")

    with pytest.raises(WriteError):  # a full disk stays an error: the run must not look complete
        drawn(tmp_path / "x.png", full_disk)


@pytest.mark.parametrize("cell, out", [("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"),
                                       ("\tx", "'\tx"), ("-0.5", "-0.5"), ("+3", "+3"), ("-1e-3", "-1e-3"),
                                       ("plain", "plain"), ("", ""), (0.5, 0.5)])
def test_summary_csv_cells_are_neutralised(cell, out):
    from dlhw.reports.table import csv_safe

    assert csv_safe(cell) == out


def test_rich_markup_in_names_is_printed_literally(tmp_path):
    """`dlhw data preview` on classes named like rich markup: printed as they are, no MarkupError."""
    import yaml
    from PIL import Image
    from typer.testing import CliRunner

    from dlhw.cli import app

    for i, name in enumerate(["[bold]b", "[red]x", "$\\foo$"]):
        d = tmp_path / "imgs" / name
        d.mkdir(parents=True)
        for j in range(5):
            Image.fromarray(np.full((8, 8, 3), 30 * i + j, dtype=np.uint8)).save(d / f"{j}.png")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"name": "m", "dataset": {"source": "image_folder", "path": str(tmp_path / "imgs"),
                                                            "image_size": [8, 8]}, "model": {"type": "mlp"}}))
    r = CliRunner().invoke(app, ["data", "preview", str(cfg), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "[bold]b" in r.output and "[red]x" in r.output
