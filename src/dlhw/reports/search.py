"""The report's Search section: for every search among the report's folders (a sweep folder whose
sweep.json has a ``search`` entry, dlhw.sweeps.sources.search).

Best-so-far against trial number, Optuna's parameter importances, a parallel-coordinates chart
of the parameters against the metric, the trials' table (pruned ones with the epoch they stopped
at) and, for a multi-objective search, the Pareto front. PNGs are written beside report.html
(``search_*.png``, prefixed with the sweep's name when the report holds several searches) and
embedded in the page. Everything comes from sweep.json, except the importances (the study's
journal, read with Optuna; without Optuna or with too few trials the section says so).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from dlhw.rundir import layout
from dlhw.rundir.sweep_log import read_manifest


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def find_searches(paths: Sequence[str | Path], depth: int = 3) -> List[Path]:
    """Sweep folders of searches under ``paths`` (each a sweep folder or a folder holding them)."""
    found: List[Path] = []

    def walk(folder: Path, d: int) -> None:
        if (folder / layout.SWEEP_MANIFEST).is_file():
            m = read_manifest(folder) or {}
            if isinstance(m.get("search"), dict) and folder.resolve() not in [f.resolve() for f in found]:
                found.append(folder)
            return
        if d >= depth or not folder.is_dir():
            return
        try:
            children = sorted(c for c in folder.iterdir() if c.is_dir() and not c.name.startswith("."))
        except OSError:
            return
        for c in children:
            walk(c, d + 1)

    for p in paths:
        walk(Path(p), 0)
    return found


def _values(entry: Dict[str, Any], n: int) -> Optional[List[float]]:
    v = entry.get("value")
    vals = v if isinstance(v, list) else [v]
    if len(vals) != n or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in vals):
        return None
    return [float(x) for x in vals]


def pareto(points: List[List[float]], maximize: List[bool]) -> List[int]:
    """Indices of the points no other point dominates."""
    def better_eq(a, b):
        return all((x >= y) if m else (x <= y) for x, y, m in zip(a, b, maximize))

    return [i for i, p in enumerate(points)
            if not any(j != i and better_eq(q, p) and q != p for j, q in enumerate(points))]


# ------------------------------------------------------------------- charts
def _last_reported(sweep_dir: Path, entry: Dict[str, Any], metric: str) -> Optional[float]:
    """A pruned trial's metric at the epoch it was stopped (its history.csv's last value), or None."""
    from dlhw.rundir.history import read_history

    path = sweep_dir / str(entry.get("run_dir") or entry.get("name")) / layout.HISTORY
    try:
        rows = read_history(path) if path.is_file() else []
    except (OSError, ValueError):
        return None
    values = [r.get(metric) for r in rows if isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]
    return float(values[-1]) if values else None


def _best_so_far(trials, metric: str, maximize: bool, path: Path) -> None:
    from dlhw.evaluation.figure import figure, save

    fig = figure(6.4, 3.6, left=0.13, right=0.97, bottom=0.15, top=0.9)
    ax = fig.add_subplot(1, 1, 1)
    xs = [t["number"] for t in trials if t["values"]]
    ys = [t["values"][0] for t in trials if t["values"]]
    ax.scatter(xs, ys, s=18, color="#2563eb", label="completed trial", zorder=3)
    best, line = None, []
    for _x, y in zip(xs, ys):
        best = y if best is None or (y > best if maximize else y < best) else best
        line.append(best)
    ax.step(xs, line, where="post", color="#15803d", label="best so far")
    pruned = [(t["number"], t["last"]) for t in trials if t["status"] == "pruned" and t.get("last") is not None]
    if pruned:  # where each stood when it was stopped: its last reported value, not the chart's floor
        ax.scatter([n for n, _ in pruned], [v for _, v in pruned], marker="x", color="#b45309",
                   label="pruned (last value reported)", zorder=3)
    ax.set_xlabel("trial number")
    ax.set_ylabel(metric)
    ax.set_title(f"best {metric} so far")
    ax.legend(fontsize=8)
    save(fig, path)


def _axis(values: List[Any]):
    """(position in [0, 1] of each value, tick labels) for one parallel-coordinates axis."""
    nums = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not nums:
        cats = list(dict.fromkeys(str(v) for v in values))
        pos = [cats.index(str(v)) / max(1, len(cats) - 1) for v in values]
        return pos, cats
    vals = [float(v) for v in values]
    log = min(vals) > 0 and max(vals) / min(vals) > 50
    tr = [math.log10(v) if log else v for v in vals]
    lo, hi = min(tr), max(tr)
    pos = [(v - lo) / (hi - lo) if hi > lo else 0.5 for v in tr]
    return pos, [f"{min(vals):.3g}", f"{max(vals):.3g}"]


def _parallel(trials, keys: List[str], labels: Dict[str, str], metric: str, maximize: bool, path: Path) -> None:
    import matplotlib

    from dlhw.evaluation.figure import figure, save

    done = [t for t in trials if t["values"]]
    cols = keys + [metric]
    data = {k: [t["varied"].get(k) for t in done] for k in keys}
    data[metric] = [t["values"][0] for t in done]
    fig = figure(max(6.4, 1.6 * len(cols)), 3.8, left=0.03, right=0.9, bottom=0.12, top=0.88)
    ax = fig.add_subplot(1, 1, 1)
    axes = {k: _axis(data[k]) for k in cols}
    score = axes[metric][0]
    cmap = matplotlib.colormaps["viridis"]
    for i in range(len(done)):
        ys = [axes[k][0][i] for k in cols]
        s = score[i] if maximize else 1 - score[i]
        ax.plot(range(len(cols)), ys, color=cmap(s), alpha=0.8, linewidth=1.4)
    for j, k in enumerate(cols):
        ax.axvline(j, color="#888", linewidth=0.8)
        ticks = axes[k][1]  # categorical: every value; numeric: low and high
        for n, label in enumerate(ticks):
            ax.text(j + 0.03, n / max(1, len(ticks) - 1), label, fontsize=7, va="center")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([labels.get(k, k) for k in cols], fontsize=8)
    ax.set_yticks([])
    ax.set_title(f"parameters vs {metric} (colour: better is brighter)")
    save(fig, path)


def _importances_chart(imp: Dict[str, float], labels: Dict[str, str], path: Path) -> None:
    from dlhw.evaluation.figure import figure, save

    fig = figure(6.4, max(2.2, 0.8 + 0.45 * len(imp)))
    ax = fig.add_subplot(1, 1, 1)
    names = list(imp)[::-1]
    ax.barh([labels.get(k, k) for k in names], [imp[k] for k in names], color="#2563eb")
    ax.set_xlabel("importance (Optuna's get_param_importances)")
    save(fig, path)


def _pareto_chart(trials, metrics: List[str], maximize: List[bool], path: Path) -> List[int]:
    from dlhw.evaluation.figure import figure, save

    done = [t for t in trials if t["values"]]
    pts = [t["values"][:2] for t in done]
    front = pareto([t["values"] for t in done], maximize)
    fig = figure(6.4, 4.2, left=0.14, right=0.97, bottom=0.13, top=0.92)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, color="#9ca3af", label="trial")
    fp = sorted((pts[i] for i in front), key=lambda p: p[0])
    ax.plot([p[0] for p in fp], [p[1] for p in fp], "o-", color="#dc2626", label="Pareto front")
    ax.set_xlabel(metrics[0])
    ax.set_ylabel(metrics[1] if len(metrics) > 1 else "")
    ax.set_title("Pareto front")
    ax.legend(fontsize=8)
    save(fig, path)
    return [done[i]["number"] for i in front]


def importances(sweep_dir: Path, name: str) -> Dict[str, float]:
    """Optuna's parameter importances of the study in ``sweep_dir`` ({} when there are too few trials)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal = Path(sweep_dir) / str((read_manifest(sweep_dir) or {}).get("study") or "study.journal")
    study = optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal))))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < 2 or not any(len(set(map(repr, (t.params.get(k) for t in done)))) > 1 for k in done[0].params):
        return {}
    if len(study.directions) == 1:
        return dict(optuna.importance.get_param_importances(study))
    import warnings

    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0  # the first metric, lower is better
    with warnings.catch_warnings():  # Optuna warns that a target is minimised: the sign above sees to it
        warnings.simplefilter("ignore", UserWarning)
        return dict(optuna.importance.get_param_importances(study, target=lambda t: sign * t.values[0]))


# ------------------------------------------------------------------- section
def section(paths: Sequence[str | Path], out_dir: Path, data_uri) -> str:
    """The page's Search section ('' when no search is among ``paths``); ``data_uri(png)`` embeds a chart."""
    searches = find_searches(paths)
    parts = [_one(s, Path(out_dir), data_uri, prefix=len(searches) > 1) for s in searches]
    return ('<h2 id="search">Search</h2>' + "".join(parts)) if parts else ""


def lineage_text(lineage: Dict[str, Any]) -> str:
    """A scheduled trial's rungs: 'bracket 0: 1 ep 0.6585 -> 3 ep (from checkpoint at epoch 1)'."""
    if lineage.get("generations"):
        return pbt_text(lineage)
    rungs = lineage.get("rungs") or []
    if not rungs:
        return ""
    parts = []
    for r in rungs:
        text = f"{r.get('epochs')} ep"
        if isinstance(r.get("value"), (int, float)):
            text += f" {r['value']:.4f}"
        if r.get("from_checkpoint"):
            text += f" (from checkpoint at epoch {r.get('from_epoch')})"
        parts.append(text)
    return f"bracket {lineage.get('bracket', 0)}: " + " -> ".join(parts)


def pbt_text(lineage: Dict[str, Any]) -> str:
    """A PBT trial's generations: '1 ep 0.6585 -> 2 ep 0.7012 [copied trial 1 at epoch 2;
    learning_rate x1.2] -> 3 ep 0.7311'."""
    copies = {x.get("generation"): x for x in lineage.get("exploits") or []}
    parts = []
    for gen in sorted(lineage.get("generations") or [], key=lambda e: e.get("generation", 0)):
        text = f"{gen.get('epochs')} ep"
        if isinstance(gen.get("value"), (int, float)):
            text += f" {gen['value']:.4f}"
        x = copies.get(gen.get("generation"))
        if x:
            moved = ", ".join(f"{k.rsplit('.', 1)[-1]} x{f:g}" for k, f in (x.get("perturb") or {}).items())
            text += f" [copied trial {x.get('from_trial')}'s checkpoint at epoch {x.get('epoch')}"
            text += f"; {moved}]" if moved else "]"
        parts.append(text)
    return "pbt: " + " -> ".join(parts)


def _one(sweep_dir: Path, out_dir: Path, data_uri, prefix: bool) -> str:
    from dlhw.sweeps.planning.plan import format_value, key_labels

    m = read_manifest(sweep_dir) or {}
    info = m["search"]
    metrics = info["metric"] if isinstance(info["metric"], list) else [info["metric"]]
    maximize = [d == "maximize" for d in info.get("directions") or ["maximize"] * len(metrics)]
    keys = list(info.get("space") or m.get("varied_keys") or [])
    labels = key_labels(keys)
    trials = sorted(({"number": e.get("number", i), "name": e.get("name"), "varied": e.get("varied") or {},
                      "status": e.get("status"), "pruned_at": e.get("pruned_at"),
                      "values": _values(e, len(metrics)), "lineage": e.get("lineage") or {},
                      "last": _last_reported(sweep_dir, e, metrics[0]) if e.get("status") == "pruned" else None}
                     for i, e in enumerate(m.get("trials") or [])),
                    key=lambda t: t["number"])
    stem = f"{sweep_dir.name}_" if prefix else ""
    imgs, notes = [], []
    done = [t for t in trials if t["values"]]
    if done:
        p = out_dir / f"{stem}search_best_so_far.png"
        _best_so_far(trials, metrics[0], maximize[0], p)
        imgs.append((p, "best so far"))
        if keys:
            p = out_dir / f"{stem}search_parallel.png"
            _parallel(trials, keys, labels, metrics[0], maximize[0], p)
            imgs.append((p, "parallel coordinates"))
    front: List[int] = []
    if len(metrics) > 1 and done:
        p = out_dir / f"{stem}search_pareto.png"
        front = _pareto_chart(trials, metrics, maximize, p)
        imgs.append((p, "Pareto front"))
    try:
        imp = importances(sweep_dir, str(m.get("name") or sweep_dir.name))
    except Exception as exc:  # noqa: BLE001 - no Optuna, an unreadable journal: the rest of the section stays
        imp, why = {}, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        notes.append(f"Parameter importances unavailable ({why}).")
    if imp:
        p = out_dir / f"{stem}search_importances.png"
        _importances_chart(imp, labels, p)
        imgs.append((p, "Parameter importances"))
    elif not notes:
        notes.append("Parameter importances need at least two completed trials whose parameters differ.")
    counts: Dict[str, int] = {}
    for t in trials:
        counts[str(t["status"])] = counts.get(str(t["status"]), 0) + 1
    pruner = (info.get("pruner") or {}).get("type", "none")
    scheduler = (info.get("scheduler") or {}).get("type", "none")
    if scheduler != "none":
        pruner = f"no pruner; {scheduler} scheduler ({'population-based training' if scheduler == 'pbt' else 'promotion'})"
    lineage = any(t["lineage"] for t in trials)
    head = (f"<h3>{esc(m.get('name') or sweep_dir.name)}</h3><p class=\"meta\">{esc(info.get('sampler'))} sampler, "
            f"{esc(pruner if scheduler != 'none' else pruner + ' pruner')}, {len(trials)} of {esc(info.get('trials'))} trials "
            f"({esc(', '.join(f'{n} {s}' for s, n in sorted(counts.items())))}); "
            f"{esc(', '.join(f'{x} ({d})' for x, d in zip(metrics, info.get('directions') or [])))}</p>")
    if done and len(metrics) == 1:
        best = (max if maximize[0] else min)(done, key=lambda t: t["values"][0])
        head += f"<p>Best trial: <b>{esc(best['name'])}</b> ({esc(metrics[0])} {best['values'][0]:.4f})</p>"
    figs = "".join(f'<img src="{data_uri(p)}" alt="{esc(alt)}">' for p, alt in imgs)
    imp_text = "<p class=\"meta\">" + esc(" ".join(notes)) + "</p>" if notes else ""
    heads = "".join(f"<th>{esc(labels.get(k, k))}</th>" for k in keys)
    rows = []
    for t in trials:
        vals = " / ".join(f"{v:.4f}" for v in t["values"]) if t["values"] else "-"
        state = esc(t["status"])
        if t["status"] == "pruned":
            state = f"pruned at epoch {esc(t['pruned_at'])}" if t.get("pruned_at") else "pruned"
        star = " ★" if t["number"] in front else ""
        cells = "".join(f'<td class="l">{esc(format_value(t["varied"].get(k)))}</td>' for k in keys)
        if t["status"] == "paused" and t["lineage"].get("rungs"):
            state = f"paused at epoch {esc(t['lineage']['rungs'][-1]['epochs'])}"
        lin = f'<td class="l">{esc(lineage_text(t["lineage"]))}</td>' if lineage else ""
        rows.append(f'<tr><td>{esc(t["number"])}</td><td class="l">{esc(t["name"])}{star}</td>{cells}'
                    f'<td>{esc(vals)}</td><td class="l s-{esc(t["status"])}">{state}</td>{lin}</tr>')
    lin_head = '<th class="l">lineage (epochs per rung, value there)</th>' if lineage else ""
    table = (f'<div class="wrap"><table><thead><tr><th>#</th><th class="l">trial</th>{heads}'
             f'<th>{esc(" / ".join(metrics))}</th><th class="l">status</th>{lin_head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table></div>')
    pareto_note = "<p class=\"meta\">★: on the Pareto front.</p>" if front else ""
    titles = "<p class=\"meta\">Charts: best so far against trial number; parameters against the metric " \
             "(parallel coordinates)" + ("; Parameter importances" if imp else "") + \
             ("; the Pareto front" if front else "") + ".</p>"
    return f'{head}{titles}<div class="charts">{figs}</div>{imp_text}{table}{pareto_note}'
