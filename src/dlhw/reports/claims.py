"""The verdicts of a sweep's claims (dlhw.sweeps.planning.claims), from the runs a report collected.

Each claim compares the completed runs matching each side. They are paired when every run of one
side has exactly one partner on the other with the same config apart from its name and the keys
that go with its side (the seed, split and fold, and any key both sides vary alike, must match);
unpaired otherwise.

- better: held when the 95% interval of the difference (a - b, sign turned so that positive is
  better) lies above 0 and the Holm-corrected one-sided p-value is below 0.05; refuted when the
  interval lies wholly below 0; else inconclusive.
- same: held when the 90% interval (TOST at 5%) lies within ±within and the corrected TOST p-value
  is below 0.05; refuted when the interval lies wholly outside ±within; else inconclusive.

Holm's correction runs over every claim of the report. scipy is used through reports.stats.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlhw.reports.collect import RunRecord, metric_value
from dlhw.sweeps.planning.claims import Claim, matches, parse_claims
from dlhw.sweeps.planning.plan import flatten

ALPHA = 0.05
HELD, REFUTED, INCONCLUSIVE = "held", "refuted", "inconclusive"


@dataclass
class ClaimResult:
    claim: Claim
    sweep: str
    verdict: str = INCONCLUSIVE
    diff: float | None = None
    low: float | None = None
    high: float | None = None
    level: float = 0.95
    p: float | None = None
    p_holm: float | None = None
    method: str = ""
    paired: bool = False
    a: list[tuple[str, float]] = field(default_factory=list)  # (run name, value) of each run of side a
    b: list[tuple[str, float]] = field(default_factory=list)
    reason: str = ""

    @property
    def n(self) -> int:
        return len(self.a) + len(self.b)

    def line(self) -> str:
        head = f"{self.verdict.upper():<12} {self.sweep}: {self.claim.text}"
        if self.diff is None:
            return f"{head}  ({self.reason})"
        return (f"{head}  diff {self.diff:+.4f} [{self.low:+.4f}, {self.high:+.4f}] ({self.level:.0%} CI, "
                f"{self.method}), p_holm={self.p_holm:.3g}, n={len(self.a)}+{len(self.b)}"
                + (f"; {self.reason}" if self.reason else ""))


def _flat(data: Any) -> dict[str, str]:
    """A config as dotted keys, each value as canonical JSON text (comparable across runs)."""
    return {k: json.dumps(v, sort_keys=True, default=str) for k, v in flatten(data).items()}


def _pair_ids(a: Sequence[RunRecord], b: Sequence[RunRecord]) -> tuple[list[str], list[str]]:
    """Each run's config without its name and without the keys that go with its side (one value on
    side a, another on side b: the claim's keys and what comes with them, e.g. each optimizer's own
    learning rate): what is left is the seed, split and fold, and any key both sides vary alike."""
    fa, fb = [_flat(r.config) for r in a], [_flat(r.config) for r in b]
    keys = {k for f in fa + fb for k in f}
    side_keys = {"name"}
    for k in keys:
        va, vb = {f.get(k) for f in fa}, {f.get(k) for f in fb}
        if len(va) == 1 and len(vb) == 1 and va != vb:
            side_keys.add(k)

    def ident(f: dict[str, str]) -> str:
        return json.dumps({k: v for k, v in f.items() if k not in side_keys}, sort_keys=True)

    return [ident(f) for f in fa], [ident(f) for f in fb]


def _side_runs(records: Sequence[RunRecord], side: dict[str, Any], metric: str) -> list[tuple[RunRecord, float]]:
    out = []
    for r in records:
        if r.status == "completed" and r.config and matches(r.config, side):
            v = metric_value(r, metric)
            if v is not None:
                out.append((r, v))
    return out


def _paired(a: list[tuple[RunRecord, float]], b: list[tuple[RunRecord, float]]):
    """(values a, values b) in pair order when every run pairs with exactly one of the other side; else None."""
    ids_a, ids_b = _pair_ids([r for r, _ in a], [r for r, _ in b])
    ida = dict(zip(ids_a, (v for _, v in a)))
    idb = dict(zip(ids_b, (v for _, v in b)))
    if len(ida) != len(a) or len(idb) != len(b) or set(ida) != set(idb):
        return None
    order = sorted(ida)
    return [ida[k] for k in order], [idb[k] for k in order]


def evaluate(claim: Claim, sweep: str, records: Sequence[RunRecord]) -> ClaimResult:
    """The claim's difference, interval and raw p-value (verdicts wait for Holm: ``judge``)."""
    from dlhw.evaluation.direction import higher_is_better
    from dlhw.reports import stats

    res = ClaimResult(claim, sweep)
    a, b = _side_runs(records, claim.a, claim.metric), _side_runs(records, claim.b, claim.metric)
    res.a, res.b = [(r.name, v) for r, v in a], [(r.name, v) for r, v in b]
    if len(a) < 2 or len(b) < 2:
        res.reason = f"needs 2+ completed runs with {claim.metric} on each side; has {len(a)} and {len(b)}"
        return res
    pairs = _paired(a, b)
    va, vb = pairs if pairs is not None else ([v for _, v in a], [v for _, v in b])
    res.paired = pairs is not None
    if claim.kind == "better":
        higher = higher_is_better(claim.metric)
        d = stats.difference(va, vb, res.paired, higher=higher)
        sign = 1.0 if higher else -1.0  # shown so that positive means "a is better"
        res.diff, lo, hi = sign * d.diff, sign * d.low, sign * d.high
        res.low, res.high = min(lo, hi), max(lo, hi)
    else:
        d = stats.equivalence(va, vb, float(claim.within or 0), res.paired)
        res.diff, res.low, res.high = d.diff, d.low, d.high
    res.p, res.method, res.level = d.p, d.method, d.level
    return res


def judge(results: list[ClaimResult]) -> list[ClaimResult]:
    """Holm over the claims that have a p-value, then each verdict."""
    from dlhw.reports.stats import holm

    tested = [r for r in results if r.p is not None and r.low is not None and r.high is not None]
    for r, q in zip(tested, holm([float(r.p or 0.0) for r in tested])):
        r.p_holm = q
        r.verdict, reason = verdict(r.claim, float(r.low or 0.0), float(r.high or 0.0), q)
        r.reason = r.reason or reason
    return results


def verdict(claim: Claim, low: float, high: float, p_holm: float) -> tuple[str, str]:
    """(verdict, why when inconclusive) of an interval [low, high] and a corrected p-value."""
    if claim.kind == "better":
        if low > 0 and p_holm < ALPHA:
            return HELD, ""
        if high < 0:
            return REFUTED, ""
        if low > 0:
            return INCONCLUSIVE, f"the interval is above 0 but p_holm {p_holm:.3g} >= {ALPHA}"
        return INCONCLUSIVE, "the interval straddles 0"
    w = float(claim.within or 0)
    if -w < low and high < w and p_holm < ALPHA:
        return HELD, ""
    if low > w or high < -w:
        return REFUTED, ""
    return INCONCLUSIVE, "the interval straddles the ±within margin"


def sweep_claims(records: Sequence[RunRecord]) -> list[tuple[str, list[Claim], list[RunRecord]]]:
    """(sweep name, its claims, its runs) for each sweep among ``records`` whose sweep.json has claims."""
    from dlhw.rundir.records import RecordError, read_manifest_optional

    out = []
    seen: dict[str, list[RunRecord]] = {}
    for r in records:
        if r.sweep_key:
            seen.setdefault(r.sweep_key, []).append(r)
    for key, runs in seen.items():
        try:
            manifest = read_manifest_optional(Path(key))
        except RecordError:
            continue
        raw = list(getattr(manifest, "claims", None) or []) if manifest is not None else []
        if raw:
            claims = [Claim.from_plain(c) for c in raw]
            out.append((runs[0].sweep or Path(key).name, claims, runs))
    return out


def check_claims(records: Sequence[RunRecord], extra: Path | None = None) -> list[ClaimResult]:
    """Every claim of every sweep among ``records`` (and of the sweep file ``extra``, applied to all of
    them), judged."""
    results = [evaluate(c, name, runs) for name, claims, runs in sweep_claims(records) for c in claims]
    if extra is not None:
        from dlhw.config.loader import load_raw

        for c in parse_claims(load_raw(extra).get("claims"), str(extra)):
            results.append(evaluate(c, Path(extra).stem, records))
    return judge(results)


def exit_code(results: Sequence[ClaimResult], strict: bool = False) -> int:
    """1 when a claim is refuted (strict: or inconclusive), else 0."""
    bad = {REFUTED, INCONCLUSIVE} if strict else {REFUTED}
    return 1 if any(r.verdict in bad for r in results) else 0
