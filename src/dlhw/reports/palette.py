"""The report's colours, defined once: the overlay PNGs (charts.py) and report.html's charts
(page.js reads them from the page's data, ``page_data()["palette"]``) use these.

A sweep's runs are coloured by their row's position in the comparison table, best first (the
same run has the same colour in a PNG and on the page); runs past the coloured ones are grey.
A run's own curves colour its splits (curves.png draws train and val in the first two colours,
matplotlib's default cycle, which is RUNS).
"""

from __future__ import annotations

from typing import Dict, List

RUNS: List[str] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf"]  # matplotlib's tab10
OTHERS = "#b8b8b8"  # runs drawn without a colour of their own
SPLITS: Dict[str, str] = {"train": RUNS[0], "val": RUNS[1], "test": RUNS[2]}


def run_colour(rank: int) -> str:
    """The colour of the run whose row is ``rank``-th (0: the best) in its sweep's table."""
    return RUNS[rank % len(RUNS)]


def as_data() -> Dict[str, object]:
    """What page.js reads: {'runs': [...], 'others': '#...', 'splits': {...}}."""
    return {"runs": list(RUNS), "others": OTHERS, "splits": dict(SPLITS)}
