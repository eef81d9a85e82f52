"""Messages to the terminal: warnings on stderr, quiet mode, nothing heavy."""

from __future__ import annotations

import sys

_state = {"quiet": False, "warnings": []}


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = quiet


def is_quiet() -> bool:
    """Whether info() prints (the Python API restores the setting a call changed)."""
    return bool(_state["quiet"])


def warn(message: str) -> None:
    """Print a one-line warning on stderr (also when quiet) and remember it."""
    _state["warnings"].append(message)
    print(f"warning: {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    if not _state["quiet"]:
        print(message, flush=True)


def take_warnings() -> list[str]:
    """The warnings printed since the last call."""
    out = list(_state["warnings"])
    _state["warnings"].clear()
    return out
