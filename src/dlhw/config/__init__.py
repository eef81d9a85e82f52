"""Config schema and loading. ``load_config(path, overrides)`` is the one way in."""

from dlhw.config.loader import apply_overrides, load_config, load_raw, read_yaml, validate

__all__ = ["apply_overrides", "load_config", "load_raw", "read_yaml", "validate"]
