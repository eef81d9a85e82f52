"""Runs and sweeps in Jupyter: ``_repr_html_`` pages and a progress bar per training run.

A Run shows its status, headline metrics, curves.png and confusion_matrix.png (the run
folder's own PNGs, embedded as base64 ``<img>``); a Sweep its comparison table (the rows
of summary.csv, as ``dlhw report`` formats them) and the overlay charts of its curves.

The progress bar is only used inside a Jupyter kernel and when not quiet: tqdm.auto when
tqdm is installed, else rich's Jupyter support (it needs ipywidgets), else nothing, and
Keras prints its own one line per epoch as in a terminal.
"""

from __future__ import annotations

import base64
import html
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.rundir import layout

HEADLINE = ("accuracy", "loss", "f1_macro", "auc", "mae", "rmse", "r2")
IMG_STYLE = "width:100%;max-width:{}px;margin:4px"  # readable: curves.png's two panels need the width
WIDTHS = {layout.CURVES: 960, layout.CONFUSION_PNG: 560}  # pixels at most; overlay charts: CHART_WIDTH
CHART_WIDTH = 760


# ------------------------------------------------------------------- progress
def in_notebook() -> bool:
    """True inside a Jupyter kernel (notebook, lab, VS Code): an IPython shell with a kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython: no progress bar
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


class EpochBar:
    """Epochs done of a run, one update per epoch, with its latest loss and accuracy."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc = total, desc
        self._bar = None
        self._rich = None
        import importlib.util

        widgets = importlib.util.find_spec("ipywidgets") is not None
        try:  # tqdm.auto without ipywidgets warns (TqdmWarning) and falls back to text: take the text bar at once
            if widgets:
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, unit="epoch", leave=True)
        except ImportError:
            self._start_rich()

    def _start_rich(self) -> None:
        import importlib.util

        if importlib.util.find_spec("ipywidgets") is None:  # rich's live display in Jupyter needs it
            return
        from rich.progress import Progress

        self._rich = Progress()
        self._task = self._rich.add_task(self.desc, total=self.total)
        self._rich.start()

    @property
    def active(self) -> bool:
        return self._bar is not None or self._rich is not None

    def update(self, row: Dict[str, Any]) -> None:
        done = min(int(row.get("epoch", 0)), self.total)
        shown = {k: f"{row[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy")
                 if isinstance(row.get(k), float)}
        if self._bar is not None:
            self._bar.set_postfix(shown, refresh=False)
            self._bar.update(done - self._bar.n)
        elif self._rich is not None:
            self._rich.update(self._task, completed=done,
                              description=f"{self.desc} " + " ".join(f"{k} {v}" for k, v in shown.items()))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._rich is not None:
            self._rich.stop()


def epoch_bar(cfg, quiet: bool, progress: Optional[bool]) -> Optional[EpochBar]:
    """The notebook progress bar for a run of ``cfg``, or None (quiet, not a notebook, nothing to draw with).
    ``progress``: None decides by itself, False never, True also outside a notebook."""
    if quiet or progress is False or (progress is None and not in_notebook()):
        return None
    bar = EpochBar(sum(s.epochs for s in cfg.stages()), cfg.name)
    return bar if bar.active else None


# ----------------------------------------------------------------------- html
def png_tag(path: Path, alt: str, width: int = CHART_WIDTH) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="{IMG_STYLE.format(width)}">'


def _num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def run_html(run) -> str:
    """Status, the metrics per split, parameters and timings, curves and confusion matrix."""
    status = run.status
    parts = [f"<div class='dlhw-run'><h4 style='margin:4px 0'>{html.escape(run.path.name)}: "
             f"{html.escape(status)}</h4><div style='color:#666'>{html.escape(str(run.path))}</div>"]
    error = run.error
    if error and status != "completed":
        parts.append(f"<p style='color:#b00'>{html.escape(str(error))}</p>")
    m = run.metrics
    keys = [k for k in HEADLINE if k in (m.get("train") or {})]
    rows = [(split, m[split]) for split in ("train", "val", "test")
            if isinstance(m.get(split), dict) and m[split].get("samples")]
    if keys and rows:
        head = "".join(f"<th>{k}</th>" for k in keys)
        body = "".join(f"<tr><td>{s}</td>" + "".join(f"<td>{_num(row.get(k))}</td>" for k in keys) + "</tr>"
                       for s, row in rows)
        parts.append(f"<table><tr><th>split</th>{head}</tr>{body}</table>")
    if m:
        p = m.get("params") or {}
        parts.append(f"<p>params {p.get('total', 0):,} (trainable {p.get('trainable', 0):,}), "
                     f"{m.get('epochs_run')} epochs in {_num(m.get('train_seconds'), 1)}s, "
                     f"best epoch {m.get('best_epoch')}</p>")
    images = [png_tag(run.path / f, f, WIDTHS[f]) for f in (layout.CURVES, layout.CONFUSION_PNG)
              if (run.path / f).is_file()]
    if images:
        parts.append("<div>" + "".join(images) + "</div>")
    return "".join(parts) + "</div>"


def table_html(rows, metric: str) -> str:
    """The comparison table as ``dlhw report`` formats it (mean ± std), the best row in bold."""
    from dlhw.reports.table import cell, header

    keys, names = header(rows, metric)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = []
    for r in rows:
        style = " style='font-weight:bold'" if r.best else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(cell(r, k))}</td>" for k in keys) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def sweep_html(sweep) -> str:
    """The sweep's table (sorted by its metric) and its overlay charts, drawn afresh."""
    from dlhw.reports import charts as C
    from dlhw.reports import table as T
    from dlhw.reports.collect import collect

    records = collect([sweep.path])
    parts = [f"<div class='dlhw-sweep'><h4 style='margin:4px 0'>sweep {html.escape(sweep.path.name)}: "
             f"{len(records)} runs</h4><div style='color:#666'>{html.escape(str(sweep.path))}</div>"]
    if not records:
        return "".join(parts) + "</div>"
    metric = T.check_metric(sweep.metric, records)
    rows = T.build_rows(records, metric)
    parts.append(table_html(rows, metric))
    with tempfile.TemporaryDirectory() as tmp:  # coloured by rank, as dlhw report does (reports.palette)
        images: List[str] = [png_tag(Path(c["path"]), str(c["quantity"]))
                             for c in C.make_charts(records, Path(tmp), rank=T.rank_of(rows))]
    if images:
        parts.append("<div>" + "".join(images) + "</div>")
    return "".join(parts) + "</div>"
