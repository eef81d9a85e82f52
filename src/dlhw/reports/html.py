"""report.html: one self-contained page (inline CSS and script, images as base64, no network).

The whole table, the PNG overlays, the confusion gallery and every run's detail section
(reports.details) are in the HTML: the page reads the same with scripts off and prints. A small
inline script (page.js, with page.css read from the package at render time) makes it
explorable: the table sorts by any column and filters by status and text; the curves, each
run's curves and, for sweeps with two or more varied keys, a parallel-coordinates chart are
drawn as SVG from the data embedded as JSON (reports.interactive).

Each run's name links to its run folder; the confusion matrices of the best ``GALLERY`` runs
and the figures of the best ``details.DETAIL_IMAGES`` runs are embedded, downscaled (a
1,000-run report stays a few MB).

Every string that comes from a user (run, sweep and class names, varied values, error
messages, paths) goes through ``html.escape``, or into the JSON with ``<``, ``>`` and ``&`` escaped.
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from dlhw.evaluation.direction import higher_is_better
from dlhw.reports import details as D
from dlhw.reports.collect import RunRecord
from dlhw.reports.interactive import detail_id, page_data, to_script_json
from dlhw.reports.table import Row, cell, header
from dlhw.rundir import layout
from dlhw.rundir.states import Status


def asset(name: str) -> str:
    """page.css / page.js: package data next to this module, read at render time."""
    return (Path(__file__).with_name(name)).read_text(encoding="utf-8")


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _table(rows: Sequence[Row], metric: str, out_dir: Optional[Path] = None,
           details: Optional[Dict[int, str]] = None) -> str:
    """The runs table, sorted by ``metric``, every row in the HTML. For the script: numeric cells
    carry their value (``data-v``) and rows their status (``data-status``); ``details``:
    id(record) -> the id of its detail section, linked from the run's name."""
    keys, names = header(rows, metric)
    left = {"run", "sweep", "status", "diagnostics"}
    heads = []
    for k, n in zip(keys, names):
        cls = "l" if k in left or k.startswith("varied:") else ""
        title = f' title="{esc(k.split(":", 1)[1])}"' if k.startswith("varied:") else ""  # the full dotted key
        order = ("descending" if higher_is_better(metric) else "ascending") if k == metric else "none"
        arrow = {"descending": " ▼", "ascending": " ▲", "none": ""}[order]  # the order the rows are in
        heads.append(f'<th class="{cls}"{title} data-key="{esc(k)}" aria-sort="{order}">{esc(n)}'
                     f'<span class="arrow">{arrow}</span></th>')
    th = "".join(heads)
    body = []
    for r in rows:
        tds = []
        for k in keys:
            text = esc(cell(r, k))
            if k == "status":
                status_cls = Status.parse(r.status).value  # the CSS class s-<status> (page.css)
                title = f' title="{esc(r.error)}"' if r.error else ""
                tds.append(f'<td class="l s-{status_cls}"{title}>{text}</td>')
            elif k == "run":
                target = (details or {}).get(id(r.runs[0])) if r.runs else None
                more = f' <a class="det" href="#{target}">details</a>' if target else ""
                tds.append(f'<td class="l" data-s="{text}">{_run_cell(r, text, out_dir)}{" ★" if r.best else ""}{more}</td>')
            elif k.startswith("varied:") and _is_number(r.varied.get(k.split(":", 1)[1])):
                tds.append(f'<td class="l" data-v="{r.varied[k.split(":", 1)[1]]!r}">{text}</td>')  # sorts as a number
            elif k in left or k.startswith("varied:"):
                tds.append(f'<td class="l">{text}</td>')
            elif k == "n":
                tds.append(f'<td data-v="{r.n}">{text}</td>')
            else:
                mean = r.values.get(k, (None, None))[0]
                tds.append(f'<td data-v="{mean!r}">{text}</td>' if mean is not None else f"<td>{text}</td>")
        body.append(f'<tr class="{"best" if r.best else ""}" data-status="{esc(r.status)}">{"".join(tds)}</tr>')
    controls = ('<div class="controls" id="table-controls"><label>status <select id="status-filter">'
                '<option value="">all</option></select></label><input type="search" id="text-filter" '
                'placeholder="filter runs by text" aria-label="filter runs by text"><span class="meta" '
                'id="row-count"></span><span class="meta">click a column header to sort</span></div>')
    return (f'{controls}<div class="wrap"><table id="runs"><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


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


def _charts(charts: List[Dict[str, Any]], groups: Sequence[Dict[str, Any]]) -> str:
    """Per sweep: the in-page chart (drawn by the script from the embedded history) and the PNG
    overlays (shown with scripts off and when printing; a button shows them on screen)."""
    if not charts:
        return '<h2 id="curves">Curves</h2><p>No run has a history yet.</p>'
    parts = ['<h2 id="curves">Curves</h2><div class="controls"><span class="meta">Click a legend entry to show or '
             'hide its run; the value under the mouse is shown.</span><button type="button" id="show-png">'
             'PNG overlays</button></div>']
    by_sweep: Dict[str, List[Dict[str, Any]]] = {}
    for c in charts:
        by_sweep.setdefault(str(c["sweep"]), []).append(c)
    index = {g["title"]: i for i, g in enumerate(groups)}
    for sweep, items in by_sweep.items():
        imgs = "".join(f'<img src="{data_uri(c["path"])}" alt="{esc(sweep)}: {esc(c["quantity"])}">' for c in items)
        live = f'<div class="curves" data-group="{index[sweep]}"></div>' if sweep in index else ""
        parts.append(f'<h3>{esc(sweep)}</h3>{live}<div class="charts static">{imgs}</div>')
    return "".join(parts)


def _parallel(groups: Sequence[Dict[str, Any]], metric: str) -> str:
    """A parallel-coordinates chart for each sweep with two or more varied keys (drawn by the script)."""
    parts = [f'<h3>{esc(g["title"])}</h3><div class="pcoords" data-group="{i}"><p class="meta static">'
             f'{len(g["keys"])} varied keys and {esc(metric)}: the chart is drawn by the page\'s script.</p></div>'
             for i, g in enumerate(groups) if len(g["keys"]) >= 2]
    if not parts:
        return ""
    return ('<h2 id="parallel">Parallel coordinates</h2><p class="meta">One line per trial across its varied values '
            f'and {esc(metric)}, coloured by {esc(metric)}; point at a line to name it, click it to open its run.</p>'
            + "".join(parts))


def _gallery(rows: Sequence[Row], images: D.Images, limit: int = GALLERY) -> str:
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
        figs.append(f'<figure><img src="{images.uri(rec.confusion_png)}" alt="confusion matrix of {esc(rec.name)}">'
                    f"<figcaption>{esc(cap)}</figcaption></figure>")
    heading = "Confusion matrices" + (names[splits.pop()] if one else " (the split under each)")
    note = "" if len(having) <= limit else (
        f'<p class="meta">The best {limit} of {len(having)} runs, by the table\'s order; every run\'s '
        f"{esc(layout.CONFUSION_PNG)} is in its run folder, linked from the table.</p>")
    return f'<h2>{esc(heading)}</h2>{note}<div class="gallery">{"".join(figs)}</div>'


def render(rows: Sequence[Row], records: Sequence[RunRecord], charts: List[Dict[str, Any]], metric: str,
           sources: Sequence[str], created: str, out_dir: Optional[Path] = None, search: str = "",
           claims: Optional[List[Any]] = None) -> str:
    """The page; ``out_dir``: where report.html goes (the run links are relative to it); ``search``:
    the Search section's HTML (dlhw.reports.search), '' when no search is among the folders."""
    counts: Dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    best = next((r for r in rows if r.best), None)
    best_line = (f"<p>Best by <code>{esc(metric)}</code>: <b>{esc(best.name)}</b> "
                 f"({esc(cell(best, metric))})</p>") if best else ""
    data = page_data(rows, records, metric)
    images = D.Images()
    detail_of = {id(rec): detail_id(i) for i, rec in enumerate(records)}
    from dlhw.reports.claims_html import section as claims_section

    sections = [
        claims_section(claims), best_line,
        f'<h2 id="runs-table">Runs</h2>{_table(rows, metric, out_dir, detail_of)}',
        '<p class="meta">Repeats of one trial (runs whose configs differ only in seed, split or fold) are shown '
        "as mean ± standard deviation over their completed runs (column n), with the 95% confidence interval of "
        "the mean: t = Student's t (n &lt; 10), bootstrap = BCa bootstrap (n ≥ 10). ★ marks the best row.</p>",
        _problems(rows), _diagnostics(records), _charts(charts, data["groups"]), _parallel(data["groups"], metric),
        _gallery(rows, images),
    ]
    # More sections (e.g. reports/search.py's) are appended here, before the run details.
    sections.append(search)
    sections.append(D.sections(rows, records, metric, esc, lambda p: href(p, out_dir), images))
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (("claims", "Claims"), ("runs-table", "Runs"), ("curves", "Curves"),
                                                          ("parallel", "Parallel coordinates"), ("search", "Search"),
                                                          ("details", "Run details"))
                  if f'id="{a}"' in "".join(sections))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>dlhw report: {esc(', '.join(sources))}</title><style>{asset('page.css')}</style></head><body>"
        f"<h1>dlhw report</h1><div class=\"meta\">{len(records)} runs ({esc(summary)}) from "
        f"{esc(', '.join(sources))}; sorted by {esc(metric)}; written {esc(created)}</div><nav>{nav}</nav>"
        + "".join(sections)
        + f'<script type="application/json" id="dlhw-data">{to_script_json(data)}</script>'
        f"<script>{asset('page.js')}</script></body></html>\n"
    )
