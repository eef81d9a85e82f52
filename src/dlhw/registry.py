"""A tiny name -> object registry, in the spirit of timm's ``register_model``.

Registries hold builder functions for models, data sources, optimizers and
backbones. They never import TensorFlow themselves: the registered functions do
so when called, which keeps ``dlhw --help`` instant.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Generic, Iterator, TypeVar

from dlhw.errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries with a helpful error for unknown names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when obj is None."""

        def deco(o: T) -> T:
            key = name.lower()
            if key in self._entries:
                raise KeyError(f"{self.kind} '{name}' is registered twice")
            self._entries[key] = o
            return o

        return deco if obj is None else deco(obj)

    def get(self, name: str, key: str | None = None) -> T:
        """The entry for ``name``; a ConfigError naming ``key`` and the choices if unknown."""
        try:
            return self._entries[str(name).lower()]
        except KeyError:
            raise unknown_name(key or self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def lazy(module: str, attr: str) -> Callable[..., Any]:
    """A callable that imports ``module.attr`` on first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = f"{module}.{attr}"
    return call
