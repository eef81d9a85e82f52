"""``dlhw.load(path)`` (a Run or a Sweep from a folder) and ``dlhw.report(path)`` (report.html)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from dlhw.api.common import run_folder_kind
from dlhw.errors import ConfigError
from dlhw.rundir import layout


def load(path: str | Path):
    """The Run of a run folder (status.json or metrics.json) or the Sweep of a sweep folder (sweep.json)."""
    from dlhw.api.run_folder import Run
    from dlhw.api.sweep_folder import Sweep

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such run folder or sweep")
    if not p.is_dir():
        raise ConfigError(f"{p}: expected a run folder or a sweep folder; received a file")
    kind = run_folder_kind(p)
    if kind is None:
        raise ConfigError(f"{p}: neither a run folder (no status.json or metrics.json) nor a sweep folder "
                          f"(no sweep.json)")
    return Sweep(p) if kind == "sweep" else Run(p)


def write_report(paths: Sequence[str | Path], out: Optional[str | Path] = None, metric: str = "val_accuracy",
                 curves: Optional[Sequence[str]] = None):
    """``dlhw report``: report.html, summary.csv, summary.md and charts/ of every run under ``paths``;
    returns the dlhw.reports.Report (its rows, records and charts)."""
    from dlhw.reports import make_report

    return make_report(list(paths), out, metric, None if curves is None else list(curves))


def report(path: Any, out: Optional[str | Path] = None, metric: str = "val_accuracy",
           curves: Optional[Sequence[str]] = None) -> Path:
    """Write the comparison of every run under ``path`` (a run, a sweep, a folder of them, or a
    list of those) and return the path of its report.html (beside summary.csv and summary.md)."""
    paths = list(path) if isinstance(path, (list, tuple)) else [path]
    if any(not isinstance(p, (str, Path)) for p in paths):
        raise ConfigError(f"report: expected a folder path or a list of them; received {type(path).__name__}")
    return write_report(paths, out, metric, curves).out / layout.REPORT
