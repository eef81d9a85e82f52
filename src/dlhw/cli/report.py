"""dlhw report PATH...: one comparison of many runs (report.html, summary.csv, summary.md, charts)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, QuietOpt, cli_errors
from dlhw.rundir import layout


def report(
    paths: Annotated[Optional[List[Path]], typer.Argument(help="Run folders, sweeps, or folders holding them.",
                                                          show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write report.html, summary.csv, "
                                                "summary.md and charts/ (default: the first PATH).",
                                                show_default=False)] = None,
    metric: Annotated[str, typer.Option("--metric", "-m", help="Sort by this metric, e.g. val_accuracy, "
                                        "test_f1_macro, val_loss, train_seconds.")] = "val_accuracy",
    curves: Annotated[Optional[str], typer.Option("--curves", help="Overlay these curves instead of val_accuracy "
                                                  "and val_loss, comma-separated: history.csv columns (loss, accuracy, "
                                                  "val_loss, lr, ...) or step_loss, step_accuracy per training step "
                                                  "(runs with training.log_steps).", show_default=False)] = None,
    check: Annotated[bool, typer.Option("--check", help="Print each claim of the sweeps (claims: in a sweep file) "
                                        "with its verdict; exit 1 if any is refuted.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="With --check: exit 1 if any claim is inconclusive "
                                         "too.")] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare every run under PATH...: a sorted table (terminal too), overlay curves, confusion matrices;
    with --check, the verdict of each claim the sweeps state (held, refuted, inconclusive)."""
    code = 0
    with cli_errors(debug):
        from dlhw.api import write_report
        from dlhw.reports.table import print_table

        rep = write_report(paths or [], out, metric, None if curves is None else curves.split(","))
        if not quiet:
            print_table(rep.rows, rep.metric, f"{len(rep.records)} runs, sorted by {rep.metric}")
        print(f"report: {rep.out / layout.REPORT}  (also summary.csv, summary.md, {len(rep.charts)} charts)")
        if check or strict:
            code = _check(rep.claims, strict)
    if code:
        raise typer.Exit(code)


def _check(results, strict: bool) -> int:
    """Each claim's line, a count, and the exit code (1: refuted, or with strict inconclusive)."""
    from dlhw.reports.claims import exit_code

    if not results:
        print("claims: none (no sweep among the folders states claims:)")
        return 0
    for r in results:
        print(r.line())
    counts = {v: sum(r.verdict == v for r in results) for v in ("held", "refuted", "inconclusive")}
    print("claims: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return exit_code(results, strict)
