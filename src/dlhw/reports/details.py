"""report.html's per-run detail sections: config diff, curves, confusion matrix, ROC, diagnostics.

One ``<details>`` element per run folder (readable, and opened, with scripts off): its
config.yaml against its sweep's base, its final metrics per split, a place for its curves (the
page's script draws them from the embedded history; with scripts off, a link to curves.png),
its figures and its diagnostics.

The sweep's base is, per dotted key, the value most of the sweep's runs share (loose runs:
most of the loose runs); the keys the sweep varies are always listed. The figures of the best
``DETAIL_IMAGES`` runs (the table's order) are embedded, downscaled to ``IMAGE_WIDTH`` pixels
and reduced to a palette (a 50-run report stays well under 5 MB); every other run's figures
are linked to its run folder.
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from dlhw.reports.collect import RunRecord, metric_value
from dlhw.reports.table import Row, format_varied
from dlhw.rundir import layout

DETAIL_IMAGES = 50  # runs whose figures are embedded (the best first); the rest are linked
IMAGE_WIDTH = 480   # pixels: the embedded figures' width
COLOURS = 96        # the embedded figures' palette
FIGURES = ((layout.CONFUSION_PNG, "confusion matrix"), (layout.ROC, "ROC"),
           (layout.PREDICTED_VS_TRUE, "predicted vs true"), (layout.OPEN_SET_CONFUSION_PNG, "open-set confusion"))
MISSING = object()


def small_png(path: Path, width: int = IMAGE_WIDTH) -> bytes:
    """``path`` scaled down to ``width`` pixels (never up) with a palette of ``COLOURS``: a
    matplotlib figure goes from ~50 KB to ~8 KB, in ~30 ms. An image Pillow cannot read is kept as it is."""
    data = Path(path).read_bytes()
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            if im.width > width:
                im = im.resize((width, max(1, round(im.height * width / im.width))), Image.LANCZOS, reducing_gap=2.0)
            buf = io.BytesIO()
            im.convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.FASTOCTREE).save(buf, "PNG", optimize=True)
    except (OSError, ValueError):
        return data
    return buf.getvalue() if len(buf.getvalue()) < len(data) else data


class Images:
    """Downscaled data URIs, each file encoded once however many sections show it."""

    def __init__(self) -> None:
        self._seen: Dict[Path, str] = {}

    def uri(self, path: Path) -> str:
        if path not in self._seen:
            self._seen[path] = "data:image/png;base64," + base64.b64encode(small_png(path)).decode("ascii")
        return self._seen[path]


# -------------------------------------------------------------------- config diff
def flatten(data: Any, prefix: str = "") -> Dict[str, Any]:
    """{'model.layers.0.units': 256, ...}: mappings and lists of mappings are opened, other lists kept whole."""
    if isinstance(data, dict) and data:
        items = data.items()
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: data}
    out: Dict[str, Any] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def read_config(rec: RunRecord) -> Optional[Dict[str, Any]]:
    import yaml

    from dlhw.config.loader import safe_loader
    from dlhw.errors import ConfigError

    try:  # the config loader's guarded SafeLoader: a hostile run folder's YAML is data, within limits
        text = (rec.path / layout.CONFIG).read_text(encoding="utf-8")
        data = yaml.load(text, Loader=safe_loader())
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ConfigError):
        return None
    return flatten(data) if isinstance(data, dict) else None


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def bases(records: Sequence[RunRecord], configs: Dict[int, Optional[Dict[str, Any]]]) -> Dict[Any, Dict[str, Any]]:
    """{sweep key (None: the loose runs): {dotted key: the value most of its runs share}}."""
    by_sweep: Dict[Any, List[Dict[str, Any]]] = {}
    for rec in records:
        flat = configs.get(id(rec))
        if flat is not None:
            by_sweep.setdefault(rec.sweep_key, []).append(flat)
    out: Dict[Any, Dict[str, Any]] = {}
    for sweep, flats in by_sweep.items():
        keys: Dict[str, None] = {}
        for f in flats:
            keys.update(dict.fromkeys(f))
        base: Dict[str, Any] = {}
        for k in keys:
            top = Counter(_key(f[k]) if k in f else None for f in flats).most_common(1)[0][0]
            if top is not None:
                base[k] = next(f[k] for f in flats if k in f and _key(f[k]) == top)
        out[sweep] = base
    return out


def _show(value: Any) -> str:
    return "(absent)" if value is MISSING else value if isinstance(value, str) else _key(value)


def _same(a: Any, b: Any) -> bool:
    return a is b if a is MISSING or b is MISSING else _key(a) == _key(b)


def config_diff(flat: Optional[Dict[str, Any]], base: Dict[str, Any], varied: Dict[str, Tuple[str, str]]
                ) -> List[Tuple[str, str, str, bool]]:
    """[(dotted key, this run's value, the base's value, varied by the sweep)]: the varied keys first
    (``varied``: {key: (this run's value, the sweep's values)}), then every other key whose value
    differs from the base's (the run's name aside)."""
    out = [(k, mine, f"varied: {values}", True) for k, (mine, values) in varied.items()]
    if flat is None:
        return out
    for k in list(flat) + [k for k in base if k not in flat]:
        if k in varied or k == "name" or any(k.startswith(v + ".") for v in varied):
            continue
        mine, theirs = flat.get(k, MISSING), base.get(k, MISSING)
        if not _same(mine, theirs):
            out.append((k, _show(mine), _show(theirs), False))
    return out


# ------------------------------------------------------------------------ sections
def _number(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _metrics_table(rec: RunRecord, esc: Callable[[Any], str]) -> str:
    splits = [(s, rec.metrics[s]) for s in ("train", "val", "test")
              if isinstance(rec.metrics.get(s), dict) and rec.metrics[s].get("samples")]
    if not splits:
        return ""
    keys: List[str] = []
    for _, values in splits:
        keys += [k for k, v in values.items() if k != "samples" and k not in keys and isinstance(v, (int, float))
                 and not isinstance(v, bool)]
    head = "".join(f"<th>{esc(k)}</th>" for k in keys)
    body = "".join(f'<tr><td class="l">{esc(s)}</td>' + "".join(f"<td>{_number(values.get(k))}</td>" for k in keys)
                   + "</tr>" for s, values in splits)
    return f'<div class="wrap"><table class="small"><thead><tr><th class="l">split</th>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>"


def _diff_table(diff: List[Tuple[str, str, str, bool]], esc: Callable[[Any], str], loose: bool) -> str:
    what = "the other loose runs" if loose else "its sweep's base"
    if not diff:
        return f'<p class="meta">Config: the same as {what} (the value most of them share, per key).</p>'
    body = "".join(f'<tr class="{"varied" if v else ""}"><td class="l"><code>{esc(k)}</code></td>'
                   f'<td class="l">{esc(mine)}</td><td class="l">{esc(theirs)}</td></tr>' for k, mine, theirs, v in diff)
    return (f'<p class="meta">Config: what differs from {what} (per key, the value most of them share)</p>'
            f'<div class="wrap"><table class="small diff"><thead><tr><th class="l">key</th><th class="l">this run</th>'
            f'<th class="l">base</th></tr></thead><tbody>{body}</tbody></table></div>')


def run_section(i: int, rec: RunRecord, row: Row, diff: List[Tuple[str, str, str, bool]], metric_text: str,
                images: Optional[Images], esc: Callable[[Any], str], link: Callable[[Path], str]) -> str:
    """One run's ``<details id="run-i">``; ``images`` None: its figures are linked, not embedded."""
    from dlhw.reports.interactive import detail_id

    label = f" — {rec.label}" if rec.label else ""
    summary = (f'<summary><b>{esc(rec.name)}</b>{esc(label)} <span class="s-{esc(rec.status.split("/")[0])}">'
               f'{esc(rec.status)}</span> <span class="meta">{esc(metric_text)}</span></summary>')
    folder = link(rec.path)
    where = (f'<a href="{folder}">{esc(rec.path.name)}/</a>' if rec.path.is_dir()
             else f"{esc(rec.path.name)}/ (no folder: listed by its sweep only)")  # no dead links
    parts = [f'<p class="meta">Run folder: {where}'
             f'{" (sweep " + esc(rec.sweep) + ")" if rec.sweep else ""}</p>']
    if rec.error and rec.status != "completed":
        parts.append(f'<p class="err">{esc(rec.error)}</p>')
    parts.append(_metrics_table(rec, esc))
    parts.append(_diff_table(diff, esc, rec.sweep_key is None))
    curves = (f'<a href="{folder}{layout.CURVES}">{layout.CURVES}</a>' if (rec.path / layout.CURVES).is_file()
              else "no history" if not rec.history else "drawn by the page's script")
    parts.append(f'<div class="runchart" data-run="{i}"><p class="meta">Curves: {curves}</p></div>')
    figs = []
    for name, title in FIGURES:
        path = rec.path / name
        if not path.is_file():
            continue
        if images is not None:
            figs.append(f'<figure><img src="{images.uri(path)}" alt="{esc(title)} of {esc(rec.name)}">'
                        f"<figcaption>{esc(title)}</figcaption></figure>")
        else:
            figs.append(f'<figure class="link"><a href="{folder}{esc(name)}">{esc(title)}</a></figure>')
    if figs:
        parts.append(f'<div class="gallery">{"".join(figs)}</div>')
    if rec.diagnostics:
        items = "".join(f"<li><code>{esc(d['kind'])}</code>"
                        f"{' (epoch ' + esc(d['epoch']) + ')' if d.get('epoch') not in (None, '') else ''}: "
                        f"{esc(d['message'])}</li>" for d in rec.diagnostics)
        parts.append(f'<ul class="problems diag">{items}</ul>')
    return f'<details class="run" id="{detail_id(i)}">{summary}{"".join(parts)}</details>'


def sections(rows: Sequence[Row], records: Sequence[RunRecord], metric: str, esc: Callable[[Any], str],
             link: Callable[[Path], str], images: Images) -> str:
    """Every run's detail section, in the table's order (a row's repeats together)."""
    index = {id(rec): i for i, rec in enumerate(records)}
    configs = {id(rec): read_config(rec) for rec in records}
    base = bases(records, configs)
    values: Dict[Any, Dict[str, List[str]]] = {}  # {sweep: {varied key: its values, in plan order}}
    for rec in records:
        for k, v in rec.varied.items():
            seen = values.setdefault(rec.sweep_key, {}).setdefault(k, [])
            if format_varied(v) not in seen:
                seen.append(format_varied(v))
    out = []
    shown = 0
    for row in rows:
        for rec in row.runs:
            if id(rec) not in index:
                continue
            varied = {k: (format_varied(v), ", ".join(values[rec.sweep_key].get(k, []))) for k, v in rec.varied.items()}
            diff = config_diff(configs[id(rec)], base.get(rec.sweep_key, {}), varied)
            value = metric_value(rec, metric)
            metric_text = f"{metric} {value:.4f}" if value is not None else ""
            embed = shown < DETAIL_IMAGES and any((rec.path / n).is_file() for n, _ in FIGURES)
            shown += embed
            out.append(run_section(index[id(rec)], rec, row, diff, metric_text, images if embed else None, esc, link))
    note = (f'<p class="meta">Click a run to open it. The figures of the best {DETAIL_IMAGES} runs are embedded '
            f"(downscaled); the others link to their run folders.</p>" if shown >= DETAIL_IMAGES else
            '<p class="meta">Click a run to open it.</p>')
    return f'<h2 id="details">Run details</h2>{note}{"".join(out)}'
