"""A Matplotlib figure (object API, Agg canvas) that lays itself out, and an atomic save.

For figures whose labels vary in length (layer names, class names, image
titles): constrained layout keeps every label inside the picture.
"""

from __future__ import annotations

import os
from pathlib import Path


def figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, path: Path) -> None:
    """Write via a temporary file and rename, so readers never see half a picture."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp)
    os.replace(tmp, path)
