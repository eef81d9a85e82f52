"""Matplotlib figures for run folders: object API on the Agg canvas, atomic saves.

No pyplot state and no display, so figures are safe in worker processes and
threads. ``margins`` gives a fixed layout (fast: constrained layout costs more
than drawing a small plot); without it the figure lays itself out, for labels
of unknown length (layer names, class names).
"""

from __future__ import annotations

import os
from pathlib import Path


def figure(w: float, h: float, **margins: float):
    """A w x h inch figure; fixed ``margins`` (subplots_adjust keywords) or constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100, layout=None if margins else "constrained")
    FigureCanvasAgg(fig)
    if margins:
        fig.subplots_adjust(**{"left": 0.08, "right": 0.97, "bottom": 0.12, "top": 0.86, "wspace": 0.25, **margins})
    return fig


def save(fig, path: Path) -> None:
    """Write via a temporary file and rename, so readers never see half a picture."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp)
    os.replace(tmp, path)
