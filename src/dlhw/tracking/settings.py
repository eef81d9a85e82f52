"""What every tracker needs first: its section of ``tracking:`` and its package, or the pip line.

Shared by dlhw.tracking.mlflow and dlhw.tracking.wandb (a tracker is one name here, one module
there). No heavy imports: the package is imported only when a config asks for it.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

from dlhw.errors import ConfigError


def tracker_settings(cfg: Any, name: str) -> Optional[Any]:
    """``cfg.tracking.<name>`` (None: not tracked); ``cfg``: a config, or plain config data (a
    search's base config, whose ``tracking`` section is read and checked alone)."""
    if isinstance(cfg, dict):
        from dlhw.config.schema import TrackingConfig

        return getattr(TrackingConfig.model_validate(cfg.get("tracking") or {}), name)
    tracking = getattr(cfg, "tracking", None)
    return getattr(tracking, name, None) if tracking is not None else None


def require_package(name: str, pip_line: str) -> Any:
    """The tracker's package, or ConfigError (exit 2) naming ``tracking.<name>`` and the pip line."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ConfigError(f"tracking.{name}: the {name} package is not installed; install it with: {pip_line}") \
            from None
