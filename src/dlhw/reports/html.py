"""report.html: one self-contained page (inline CSS, images as base64, no scripts, no network).

Each run's name links to its run folder; the confusion matrices of the best
``GALLERY`` runs are embedded (a 1,000-run report stays a few MB).

Every string that comes from a user (run, sweep and class names, varied
values, error messages, paths) goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from dlhw.reports.collect import RunRecord
from dlhw.evaluation.direction import higher_is_better
from dlhw.reports.table import Row, cell, header
from dlhw.rundir import layout

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px 32px;color:#1d1d1f;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#666;font-size:13px;margin-bottom:16px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #d8d8d8;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f3f4f6;position:sticky;top:0}td.l,th.l{text-align:left}
tr:nth-child(even) td{background:#fafafa}
tr.best td{background:#dcfce7;font-weight:600}
.s-completed{color:#15803d}.s-failed{color:#b91c1c;font-weight:600}.s-diverged{color:#b45309;font-weight:600}
.s-stale,.s-interrupted,.s-partial,.s-running,.s-unknown{color:#7c3aed;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts img{max-width:100%;width:640px;border:1px solid #eee}
.gallery{display:flex;flex-wrap:wrap;gap:12px}.gallery figure{margin:0;width:400px}
.gallery img{width:400px;border:1px solid #eee}.gallery figcaption{font-size:12px;color:#444;word-break:break-all}
ul.problems li{margin:4px 0;font-size:13px}.wrap{overflow-x:auto}code{font-size:12px}
.diag{font-size:12px;color:#92400e}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


GALLERY = 12  # confusion matrices embedded: the best rows' (every run folder is linked from the table)


def href(path: Path, out_dir: Optional[Path]) -> str:
    """A relative link from report.html to ``path`` (absolute when they share no root)."""
    from urllib.parse import quote

    try:
        rel = os.path.relpath(Path(path).resolve(), Path(out_dir).resolve()) if out_dir is not None else str(path)
    except ValueError:  # another drive (Windows)
        rel = str(Path(path).resolve())
    return esc(quote(Path(rel).as_posix()) + "/")


def _run_cell(r: Row, text: str, out_dir: Optional[Path]) -> str:
    """The row's name linked to its run folder; repeats: each run folder as [1] [2] ..."""
    folders = [rec.path for rec in r.runs if rec.path is not None and rec.path.is_dir()]
    if not folders:
        return text
    if len(folders) == 1:
        return f'<a href="{href(folders[0], out_dir)}">{text}</a>'
    links = " ".join(f'<a href="{href(f, out_dir)}" title="{esc(f.name)}">[{i}]</a>' for i, f in enumerate(folders, 1))
    return f"{text} {links}"


def _table(rows: Sequence[Row], metric: str, out_dir: Optional[Path] = None) -> str:
    keys, names = header(rows, metric)
    left = {"run", "sweep", "status", "diagnostics"}
    heads = []
    for k, n in zip(keys, names):
        cls = "l" if k in left or k.startswith("varied:") else ""
        title = f' title="{esc(k.split(":", 1)[1])}"' if k.startswith("varied:") else ""  # the full dotted key
        arrow = (" ▲" if higher_is_better(metric) else " ▼") if k == metric else ""
        heads.append(f'<th class="{cls}"{title}>{esc(n)}{arrow}</th>')
    th = "".join(heads)
    body = []
    for r in rows:
        tds = []
        for k in keys:
            text = esc(cell(r, k))
            if k == "status":
                status_cls = r.status if r.status in ("completed", "failed", "diverged", "stale", "interrupted",
                                                      "partial", "running") else "unknown"
                title = f' title="{esc(r.error)}"' if r.error else ""
                tds.append(f'<td class="l s-{status_cls}"{title}>{text}</td>')
            elif k == "run":
                tds.append(f'<td class="l">{_run_cell(r, text, out_dir)}{" ★" if r.best else ""}</td>')
            elif k in left or k.startswith("varied:"):
                tds.append(f'<td class="l">{text}{" ★" if k == "run" and r.best else ""}</td>')
            else:
                tds.append(f"<td>{text}</td>")
        body.append(f'<tr class="{"best" if r.best else ""}">{"".join(tds)}</tr>')
    return f'<div class="wrap"><table><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _problems(rows: Sequence[Row]) -> str:
    items = [f'<li><b>{esc(r.name)}</b> <span class="s-{esc(r.status.split("/")[0])}">{esc(r.status)}</span>: '
             f"{esc(r.error)}</li>" for r in rows if r.error]
    if not items:
        return ""
    return f'<h2>Runs that did not complete</h2><ul class="problems">{"".join(items)}</ul>'


def _diagnostics(records: Sequence[RunRecord]) -> str:
    items = []
    for rec in records:
        for d in rec.diagnostics:
            epoch = f" (epoch {esc(d['epoch'])})" if d.get("epoch") not in (None, "") else ""
            items.append(f"<li><b>{esc(rec.name)}</b>: <code>{esc(d['kind'])}</code>{epoch}: {esc(d['message'])}</li>")
    if not items:
        return ""
    return f'<h2>Diagnostics</h2><ul class="problems diag">{"".join(items)}</ul>'


def _charts(charts: List[Dict[str, Any]]) -> str:
    if not charts:
        return "<h2>Curves</h2><p>No run has a history yet.</p>"
    parts = ["<h2>Curves</h2>"]
    by_sweep: Dict[str, List[Dict[str, Any]]] = {}
    for c in charts:
        by_sweep.setdefault(str(c["sweep"]), []).append(c)
    for sweep, items in by_sweep.items():
        imgs = "".join(f'<img src="{data_uri(c["path"])}" alt="{esc(sweep)}: {esc(c["quantity"])}">' for c in items)
        parts.append(f'<h3>{esc(sweep)}</h3><div class="charts">{imgs}</div>')
    return "".join(parts)


def _gallery(rows: Sequence[Row], limit: int = GALLERY) -> str:
    """The confusion matrices of the best ``limit`` runs (rows are sorted best first), embedded;
    the others stay in their run folders, linked from the table."""
    having = [rec for r in rows for rec in r.runs if rec.confusion_png is not None]
    shown = having[:limit]
    if not shown:
        return ""
    splits = {rec.confusion_split for rec in shown}
    names = {"test": " (test split)", "val": " (validation split: no test split)", None: ""}
    one = len(splits) == 1
    figs = []
    for rec in shown:
        cap = rec.name + (f" — {rec.label}" if rec.label else "") + ("" if one else names[rec.confusion_split])
        figs.append(f'<figure><img src="{data_uri(rec.confusion_png)}" alt="confusion matrix of {esc(rec.name)}">'
                    f"<figcaption>{esc(cap)}</figcaption></figure>")
    heading = "Confusion matrices" + (names[splits.pop()] if one else " (the split under each)")
    note = "" if len(having) <= limit else (
        f'<p class="meta">The best {limit} of {len(having)} runs, by the table\'s order; every run\'s '
        f"{esc(layout.CONFUSION_PNG)} is in its run folder, linked from the table.</p>")
    return f'<h2>{esc(heading)}</h2>{note}<div class="gallery">{"".join(figs)}</div>'


def render(rows: Sequence[Row], records: Sequence[RunRecord], charts: List[Dict[str, Any]], metric: str,
           sources: Sequence[str], created: str, out_dir: Optional[Path] = None, search: str = "") -> str:
    """The page; ``out_dir``: where report.html goes (the run links are relative to it); ``search``:
    the Search section's HTML (dlhw.reports.search), after the problems."""
    counts: Dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    best = next((r for r in rows if r.best), None)
    best_line = (f"<p>Best by <code>{esc(metric)}</code>: <b>{esc(best.name)}</b> "
                 f"({esc(cell(best, metric))})</p>") if best else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>dlhw report: {esc(', '.join(sources))}</title><style>{CSS}</style></head><body>"
        f"<h1>dlhw report</h1><div class=\"meta\">{len(records)} runs ({esc(summary)}) from "
        f"{esc(', '.join(sources))}; sorted by {esc(metric)}; written {esc(created)}</div>"
        f"{best_line}<h2>Runs</h2>{_table(rows, metric, out_dir)}"
        "<p class=\"meta\">Repeats of one trial are shown as mean ± standard deviation over their completed runs "
        "(column n). ★ marks the best row.</p>"
        f"{_problems(rows)}{_diagnostics(records)}{search}{_charts(charts)}{_gallery(rows)}"
        "</body></html>\n"
    )
