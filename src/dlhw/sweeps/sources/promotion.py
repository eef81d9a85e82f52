"""Successive halving and Hyperband by promotion (``search.scheduler``), as their papers define them.

Successive halving (Jamieson & Talwalkar 2016): ``n`` trials train ``r`` epochs (rung 0); the
best ``n / eta`` of them continue *from their own checkpoint* to ``r * eta`` epochs (rung 1), and
so on until the last rung trains to the full ``epochs`` of the base config. The others stop where
they are with status ``paused``: their folder and checkpoint are kept, and a later run with more
``trials`` (a larger first rung) may promote them. Hyperband (Li et al. 2017) runs several such
brackets, from many trials on few epochs to few trials on all of them.

Everything here is a pure function of the budget and of the values the trials reached at each
rung (history.csv), so a search killed at any moment recomputes the same plan when it is run
again: the trials already trained far enough are not trained again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence


@dataclass(frozen=True)
class Bracket:
    """One successive-halving bracket: ``sizes[i]`` trials reach ``epochs[i]`` epochs."""

    index: int
    sizes: List[int]
    epochs: List[int]

    @property
    def trials(self) -> int:
        return self.sizes[0]

    def lines(self) -> str:
        return " -> ".join(f"{n}x{e}" for n, e in zip(self.sizes, self.epochs))


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> List[int]:
    """min_epochs, min_epochs * eta, ... below max_epochs, then max_epochs."""
    out, e = [], max(1, min_epochs)
    while e < max_epochs:
        out.append(e)
        e *= eta
    return out + [max_epochs]


def halving_sizes(n: int, rungs: int, eta: int) -> List[int]:
    """Trials per rung: n, n // eta, ... (at least 1)."""
    return [max(1, n // eta ** i) for i in range(rungs)]


def successive_halving(trials: int, min_epochs: int, max_epochs: int, eta: int) -> List[Bracket]:
    epochs = rung_epochs(min_epochs, max_epochs, eta)
    return [Bracket(0, halving_sizes(trials, len(epochs), eta), epochs)]


def hyperband(trials: int, min_epochs: int, max_epochs: int, eta: int) -> List[Bracket]:
    """Hyperband's brackets s = s_max .. 0 (bracket s starts at the rung s_max - s with
    ceil((s_max + 1) / (s + 1) * eta**s) trials), scaled so that their first rungs hold ``trials``."""
    epochs = rung_epochs(min_epochs, max_epochs, eta)
    s_max = len(epochs) - 1
    wanted = [math.ceil((s_max + 1) / (s + 1) * eta ** s) for s in range(s_max, -1, -1)]
    scale = trials / sum(wanted)
    sizes = [max(1, int(round(w * scale))) for w in wanted]
    while sum(sizes) > trials and max(sizes) > 1:  # rounding: never more than ``trials`` in all
        sizes[sizes.index(max(sizes))] -= 1
    out: List[Bracket] = []
    used = 0
    for b, (s, n) in enumerate(zip(range(s_max, -1, -1), sizes)):
        if used >= trials:
            break
        n = min(n, trials - used)
        rungs = epochs[s_max - s:]
        out.append(Bracket(b, halving_sizes(n, len(rungs), eta), rungs))
        used += n
    return out


def brackets(kind: str, trials: int, min_epochs: int, max_epochs: int, eta: int) -> List[Bracket]:
    if kind == "hyperband":
        return hyperband(trials, min_epochs, max_epochs, eta)
    return successive_halving(trials, min_epochs, max_epochs, eta)


def promote(values: Dict[int, Optional[float]], keep: int, maximize: bool) -> List[int]:
    """The ``keep`` best trial numbers by their value at the rung (ties: the lower number first);
    a trial without a value (failed) is never promoted."""
    known = [(n, v) for n, v in values.items() if v is not None and math.isfinite(v)]
    known.sort(key=lambda nv: ((-nv[1] if maximize else nv[1]), nv[0]))
    return [n for n, _ in known[:keep]]


def total_epochs(plan: Sequence[Bracket]) -> int:
    """Epochs the schedule trains in all (each rung continues from the previous one's epochs)."""
    out = 0
    for b in plan:
        prev = 0
        for n, e in zip(b.sizes, b.epochs):
            out += n * (e - prev)
            prev = e
    return out
