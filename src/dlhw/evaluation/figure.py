"""Matplotlib figures for run folders: object API on the Agg canvas, atomic saves.

No pyplot state and no display, so figures are safe in worker processes and
threads. ``margins`` gives a fixed layout (fast: constrained layout costs more
than drawing a small plot); without it the figure lays itself out, for labels
of unknown length (layer names, class names).

Text from data (class names, trial names, varied values) is drawn literally: ``save``
turns matplotlib's mathtext off for every text of the figure, so a ``$`` in a label is a
dollar sign, never a formula that fails to parse. A figure that fails to draw is one
warning naming its file; the run's results stand (``drawn`` guards a whole plot call).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def figure(w: float, h: float, **margins: float):
    """A w x h inch figure; fixed ``margins`` (subplots_adjust keywords) or constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100, layout=None if margins else "constrained")
    FigureCanvasAgg(fig)
    if margins:
        fig.subplots_adjust(**{"left": 0.08, "right": 0.97, "bottom": 0.12, "top": 0.86, "wspace": 0.25, **margins})
    return fig


def save(fig, path: Path) -> Optional[bytes]:
    """Render in memory, then write via a temporary file and rename, so readers never see half a
    picture; a full disk is one line naming the file and leaves no temporary file. Returns the
    bytes written (None: the figure failed to draw, one warning said so)."""
    import io

    import matplotlib
    from matplotlib.text import Text

    from dlhw.runtime.files import write_bytes

    buf = io.BytesIO()
    try:
        for text in fig.findobj(Text):
            text.set_parse_math(False)  # '$\\foo$' from a class name: literal text, not mathtext
        with matplotlib.rc_context({"text.parse_math": False}):  # texts made while drawing (ticks)
            fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png")
    except Exception as exc:  # noqa: BLE001 - a plot never costs a run its results
        _not_drawn(path, exc)
        return None
    data = buf.getvalue()
    write_bytes(Path(path), data)
    return data


def _not_drawn(path: Path, exc: BaseException) -> None:
    from dlhw.runtime.log import get_logger

    why = " ".join(str(exc).split())[:160]
    get_logger(__name__).warning(f"{path}: not drawn ({type(exc).__name__}: {why}); the run's other results stand")


def drawn(path: Path, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, a call that draws ``path``: an error other than a WriteError (a
    full disk stays an error) is one warning naming the file, and None is returned."""
    from dlhw.errors import WriteError

    try:
        return fn(*args, **kwargs)
    except (WriteError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - a plot never costs a run its results
        _not_drawn(path, exc)
        return None
