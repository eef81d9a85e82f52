"""dlhw compare A B: two run folders, groups (SWEEP/GROUP) or sweeps side by side: the config diff,
each metric's mean and 95% interval, the difference A - B and its test, and the curves overlaid."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dlhw.cli.common import DebugOpt, cli_errors


def compare(
    a: Annotated[str, typer.Argument(metavar="A", help="A run folder, a sweep (all its runs) or SWEEP/GROUP (one trial's "
                                          "repeats: its name without _seed-N).", show_default=False)],
    b: Annotated[str, typer.Argument(metavar="B", help="The other side, in the same forms.", show_default=False)],
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", metavar="NAME", help="Compare this metric (repeatable); "
                                                        "default: val and test accuracy and loss, test F1, "
                                                        "train seconds.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="PNG", help="Where to write the overlaid curves (a PNG).")]
        = Path("compare.png"),
    curve: Annotated[str, typer.Option("--curve", metavar="COLUMN", help="The history.csv column drawn (e.g. val_loss).")]
        = "val_accuracy",
    debug: DebugOpt = False,
) -> None:
    """Compare A and B: config diff, metrics with 95% intervals, the (paired by seed when possible)
    difference A - B with its interval and two-sided p-value, and a PNG of the curves overlaid."""
    with cli_errors(debug):
        from dlhw.reports.compare import compare as run_compare
        from dlhw.reports.compare import curves_png

        cmp = run_compare(a, b, metric)
        _print(cmp)
        png = curves_png(cmp, out, curve)
        print(f"curves: {png}" if png else f"curves: none (no run has {curve} in history.csv)")


def _print(cmp) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dlhw.sweeps.planning.plan import format_value

    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(Text(f"A = {cmp.a.label} ({len(cmp.a.runs)} runs)   B = {cmp.b.label} ({len(cmp.b.runs)} runs)"))
    if cmp.config_diff:
        t = Table(title=Text("config diff (seed, split and fold left out)"))
        for col in ("key", "A", "B"):
            t.add_column(col, overflow="fold")
        for key, va, vb in cmp.config_diff:
            t.add_row(Text(key), Text(format_value(va)), Text(format_value(vb)))
        console.print(t)
    else:
        console.print(Text("config diff: none (the sides differ only in seed, split or fold)"))
    t = Table(title=Text("metrics: mean [95% CI], difference A - B"))
    for col in ("metric", "A", "n", "B", "n", "A - B [95% CI]", "test", "p"):
        t.add_column(col, justify="left" if col in ("metric", "test") else "right", no_wrap=True)
    for r in cmp.rows:
        d = r.diff
        diff = f"{d.diff:+.4f} [{d.low:+.4f}, {d.high:+.4f}]" if d else "-"
        t.add_row(r.metric, r.a.text(), str(r.a.n), r.b.text(), str(r.b.n), diff, d.method if d else r.note[:40],
                  f"{d.p:.3g}" if d else "")
    console.print(t)
    console.print(Text("p: two-sided, not corrected for the number of metrics; paired by seed/split/fold "
                       "when both sides have the same ones."))
