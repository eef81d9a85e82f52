"""Matplotlib figures for run folders: object API on the Agg canvas, atomic saves.

No pyplot state and no display, so figures are safe in worker processes and
threads. ``margins`` gives a fixed layout (fast: constrained layout costs more
than drawing a small plot); without it the figure lays itself out, for labels
of unknown length (layer names, class names).
"""

from __future__ import annotations

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
    """Render in memory, then write via a temporary file and rename, so readers never see half a
    picture; a full disk is one line naming the file and leaves no temporary file."""
    import io

    from dlhw.runs.folder import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png")
    atomic_write_bytes(Path(path), buf.getvalue())
