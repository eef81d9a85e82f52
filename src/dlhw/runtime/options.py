"""The switches of one run that are not part of its experiment: one typed object.

The config holds the experiment (and its hash); how this process runs it (which device, how
many CPU threads, how much it prints) is a ``RunOptions``, built once at the edge (the CLI's
options, the Python API's arguments, a sweep's Job) and passed down as one value. Nothing
below the edge reads these from environment variables. ``training.precision`` is part of the
experiment (the config), not a switch here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class RunOptions:
    """``device``: auto, cpu, gpu or gpu:N. ``threads``: TensorFlow's CPU threads (None: as it
    chooses; a sweep's workers get their share). ``debug``: full tracebacks and TensorFlow's own
    log lines. ``quiet``: no per-epoch lines and no INFO messages (warnings stay). ``progress``:
    Keras' per-epoch lines (off where a notebook bar shows the epochs). ``cache_dir``: the
    frozen-backbone feature cache and decoded-image disk cache (default $DLHW_CACHE_DIR or
    ~/.cache/dlhw)."""

    device: str = "auto"
    threads: Optional[int] = None
    debug: bool = False
    quiet: bool = False
    progress: bool = True
    cache_dir: Optional[Path] = None

    def keras_verbose(self) -> int:
        """Keras' ``verbose`` for fit: 0 (none), 1 (a live bar on a terminal), 2 (a line an epoch)."""
        if self.quiet or not self.progress:
            return 0
        return 1 if sys.stdout.isatty() else 2

    @classmethod
    def names(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def updated(self, values: Dict[str, Any]) -> "RunOptions":
        """A copy with ``values`` (field name -> value) set; an unknown name is a TypeError."""
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise TypeError(f"RunOptions: unknown option(s) {', '.join(unknown)}; known: {', '.join(self.names())}")
        if values.get("cache_dir") is not None:
            values = {**values, "cache_dir": Path(values["cache_dir"])}
        return replace(self, **values) if values else self
