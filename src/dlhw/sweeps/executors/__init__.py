"""Executors: where a sweep's trials run. One module per executor, each defining ``EXECUTOR``
(an instance of :class:`dlhw.sweeps.executors.base.Executor`; the interface is documented there):
``local`` (this process, or a pool of worker processes), ``ray``. ``--executor NAME`` loads the
module of that name; adding an executor is adding its module, nothing else.

The other modules here are the executors' parts: ``trial`` (run one trial: every executor calls
it), ``resources`` (GPUs, worker counts), ``serial``, ``pool`` and ``worker`` (the local pool's
parent and child sides).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, List

from dlhw.errors import ConfigError

if TYPE_CHECKING:
    from dlhw.sweeps.executors.base import Executor

PARTS = frozenset({"base", "trial", "resources", "serial", "pool", "worker"})  # modules that are no executor


def names() -> List[str]:
    """The executors this install offers (module names), without importing them."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in PARTS and not m.name.startswith("_"))


def get(name: str) -> "Executor":
    """The executor ``--executor NAME`` names; ConfigError listing the choices for an unknown name."""
    from dlhw.sweeps.executors.base import Executor

    key = str(name).strip().lower()
    known = names()
    if key not in known:
        choices = ", ".join(known[:-1]) + " or " + known[-1] if len(known) > 1 else "".join(known)
        raise ConfigError(f"--executor: expected {choices}; received '{str(name)[:40]}'")
    executor = getattr(importlib.import_module(f"{__name__}.{key}"), "EXECUTOR", None)
    if not isinstance(executor, Executor):
        raise ConfigError(f"--executor {key}: dlhw.sweeps.executors.{key} defines no EXECUTOR")
    return executor
