"""What a process keeps between its runs, held in one place.

A sweep worker trains many trials in one process, and a notebook many runs: some
things are worth keeping from one to the next (a frozen backbone that costs seconds
to build, a nested model's summary, decoded images, chart data read from disk).
Every such container is held here by name, made on first use, so the process-wide
state of dlhw lives in ``dlhw.runtime`` only and the modules that use it hold none.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Hashable, Optional, TypeVar

T = TypeVar("T")

_HELD: Dict[str, Any] = {}


def held(name: str, factory: Callable[[], T]) -> T:
    """The process-wide container called ``name``; ``factory()`` makes it on first use."""
    if name not in _HELD:
        _HELD[name] = factory()
    return _HELD[name]


class LastUsed:
    """At most ``size`` entries; the least recently used one goes first."""

    def __init__(self, size: int):
        self.size = size
        self._items: "OrderedDict[Hashable, Any]" = OrderedDict()

    def take(self, key: Hashable) -> Optional[Any]:
        """Remove and return the entry for ``key`` (None when absent)."""
        return self._items.pop(key, None)

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
