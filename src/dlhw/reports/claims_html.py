"""report.html's Claims section: each claim's verdict, difference and interval, and an SVG strip of
its two groups (every run's value as a point, each group's mean with its 95% interval). Every string
from a user (claim names, config values, run names) goes through html.escape. No heavy imports."""

from __future__ import annotations

import html
from collections.abc import Sequence

from dlhw.reports.claims import ClaimResult
from dlhw.reports.stats import interval
from dlhw.sweeps.planning.claims import side_text

W, ROW_H, PAD_L, PAD_R = 560, 34, 150, 20
COLOURS = {"held": "#2e7d32", "refuted": "#c62828", "inconclusive": "#9e6a00"}
SIDE_COLOURS = ("#1f77b4", "#ff7f0e")  # the report's palette (charts.PALETTE's first two)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _scale(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1) * 0.01, hi + 0.5 * (abs(hi) or 1) * 0.01
    pad = (hi - lo) * 0.08
    return lo - pad, hi + pad


def strip_svg(res: ClaimResult) -> str:
    """Two rows (side a, side b): a point per run, the mean as a tick, the 95% interval as a bar."""
    sides = [(side_text(res.claim.a), [v for _, v in res.a], [n for n, _ in res.a]),
             (side_text(res.claim.b), [v for _, v in res.b], [n for n, _ in res.b])]
    every = [v for _, vs, _ in sides for v in vs]
    if not every:
        return ""
    ivs = [interval(vs) for _, vs, _ in sides]
    bounds = every + [x for iv in ivs for x in (iv.low, iv.high) if x is not None]
    lo, hi = _scale(bounds)
    height = ROW_H * 2 + 28

    def x(v: float) -> float:
        return PAD_L + (v - lo) / (hi - lo) * (W - PAD_L - PAD_R)

    parts = [(f'<svg class="claim-strip" role="img" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
              f'aria-label="{esc(res.claim.metric)} of each run, by side">')]
    for i, ((label, vs, names), iv) in enumerate(zip(sides, ivs)):
        y = 16 + i * ROW_H
        colour = SIDE_COLOURS[i]
        parts.append(f'<text x="4" y="{y + 4}" font-size="12">{esc(label[:22])}</text>')
        if iv.low is not None and iv.high is not None:
            parts.append(f'<line class="ci" x1="{x(iv.low):.1f}" x2="{x(iv.high):.1f}" y1="{y}" y2="{y}" '
                         f'stroke="{colour}" stroke-width="6" stroke-opacity="0.35"><title>95% CI '
                         f'[{iv.low:.4f}, {iv.high:.4f}] ({esc(iv.method)})</title></line>')
        if iv.mean is not None:
            parts.append(f'<line class="mean" x1="{x(iv.mean):.1f}" x2="{x(iv.mean):.1f}" y1="{y - 9}" '
                         f'y2="{y + 9}" stroke="{colour}" stroke-width="2"><title>mean {iv.mean:.4f}</title></line>')
        for name, v in zip(names, vs):
            parts.append(f'<circle class="run" cx="{x(v):.1f}" cy="{y}" r="3.5" fill="{colour}" '
                         f'fill-opacity="0.8"><title>{esc(name)}: {v:.4f}</title></circle>')
    axis_y = height - 10
    parts.append(f'<text x="{PAD_L}" y="{axis_y}" font-size="11">{lo:.4f}</text>')
    parts.append(f'<text x="{W - PAD_R}" y="{axis_y}" font-size="11" text-anchor="end">{hi:.4f}</text>')
    parts.append(f'<text x="{(PAD_L + W - PAD_R) / 2:.0f}" y="{axis_y}" font-size="11" text-anchor="middle">'
                 f'{esc(res.claim.metric)}</text></svg>')
    return "".join(parts)


def _numbers(res: ClaimResult) -> str:
    if res.diff is None:
        return f"<p class=\"meta\">{esc(res.reason)}</p>"
    pairing = "paired by seed/split/fold" if res.paired else "unpaired"
    text = (f"difference {res.diff:+.4f}, {res.level:.0%} CI [{res.low:+.4f}, {res.high:+.4f}] ({esc(res.method)}, "
            f"{pairing}); p = {res.p:.3g}, Holm-corrected {res.p_holm:.3g}; n = {len(res.a)} + {len(res.b)} runs")
    if res.reason:
        text += f"; {esc(res.reason)}"
    return f'<p class="meta">{text}</p>'


def section(results: list[ClaimResult] | None) -> str:
    """The Claims section ('' when no sweep states claims)."""
    if not results:
        return ""
    counts = {v: sum(r.verdict == v for r in results) for v in ("held", "refuted", "inconclusive")}
    out = [f'<section id="claims"><h2>Claims</h2><p>{len(results)} claims: '
           + ", ".join(f"{n} {v}" for v, n in counts.items()) + ". A claim is held when its interval lies on "
           "the claimed side (for same: within ±within) and its Holm-corrected p-value is below 0.05, refuted "
           "when the interval lies wholly on the other side, inconclusive otherwise.</p>"]
    for i, r in enumerate(results):
        colour = COLOURS.get(r.verdict, "#555")
        out.append(f'<div class="claim" id="claim-{i}" data-verdict="{esc(r.verdict)}"><h3>'
                   f'<span class="verdict" style="color:{colour}">{esc(r.verdict)}</span> '
                   f'{esc(r.sweep)}: {esc(r.claim.text)}</h3>{_numbers(r)}{strip_svg(r)}</div>')
    out.append("</section>")
    return "".join(out)
