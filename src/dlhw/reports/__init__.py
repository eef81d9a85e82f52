"""dlhw report: many run folders -> one comparison (table, overlay charts, confusion gallery).

``make_report(paths, out, metric)`` reads every run under ``paths`` (collect),
builds the sorted table (table), draws the overlays (charts) and writes
report.html (html), summary.csv and summary.md to ``out``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence

from dlhw.errors import ConfigError
from dlhw.rundir import layout


@dataclass
class Report:
    out: Path
    rows: List[Any] = field(default_factory=list)
    records: List[Any] = field(default_factory=list)
    charts: List[Dict[str, Any]] = field(default_factory=list)
    metric: str = "val_accuracy"
    claims: List[Any] = field(default_factory=list)  # reports.claims.ClaimResult of each sweep's claims

    @property
    def files(self) -> List[Path]:
        return [self.out / layout.REPORT, self.out / layout.SUMMARY_CSV, self.out / layout.SUMMARY_MD] + \
            [Path(c["path"]) for c in self.charts]


def make_report(paths: Sequence[str | Path], out: str | Path | None = None, metric: str = "val_accuracy",
                curves: Sequence[str] | None = None) -> Report:
    """``curves``: overlay these history.csv columns (or step_ + history_steps.csv columns)
    instead of validation accuracy and loss, e.g. ['val_loss', 'loss', 'step_loss']."""
    from dlhw.reports import charts as C
    from dlhw.reports import html as H
    from dlhw.reports import table as T
    from dlhw.reports.collect import collect
    from dlhw.rundir.folder import now
    from dlhw.runtime.files import write_text

    if not paths:
        raise ConfigError("dlhw report: give one or more run folders or sweeps")
    records = collect(paths)
    if not records:
        raise ConfigError(f"{paths[0]}: no run folders found (a run folder holds status.json or metrics.json)")
    metric = T.check_metric(metric, records)
    if curves is not None:
        curves = C.check_curves(curves, records)
    out_dir = Path(out) if out is not None else Path(paths[0])
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {out_dir}: {exc.strerror}") from None
    from dlhw.reports.claims import check_claims

    claims = check_claims(records)
    rows = T.build_rows(records, metric)
    charts = C.make_charts(records, out_dir, curves, rank=T.rank_of(rows))
    write_text(out_dir / layout.SUMMARY_CSV, T.to_csv(rows, metric))
    write_text(out_dir / layout.SUMMARY_MD, T.to_markdown(rows, metric))
    from dlhw.reports.search import section

    search = section(paths, out_dir, H.data_uri)  # searches among the folders: their own charts and table
    write_text(out_dir / layout.REPORT, H.render(rows, records, charts, metric, [str(p) for p in paths], now(),
                                                 out_dir, search=search, claims=claims))
    return Report(out=out_dir, rows=rows, records=records, charts=charts, metric=metric, claims=claims)


__all__ = ["Report", "make_report"]
