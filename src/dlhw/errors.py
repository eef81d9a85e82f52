"""One error family for everything a user can get wrong.

Every error carries a one-line message (file, key path, what is wrong, what
was received) and the process exit code the CLI should use. The CLI prints the
message without a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import difflib
import re
from typing import Iterable


class DlhwError(Exception):
    """Base class: a problem the user can fix. ``exit_code`` is used by the CLI."""

    exit_code = 1


class ConfigError(DlhwError, ValueError):
    """A bad config file, key, value or command-line usage (exit code 2)."""

    exit_code = 2


class DataError(DlhwError):
    """Missing or unusable data: a path, an empty class folder, a bad CSV (exit 2)."""

    exit_code = 2


class TrainingError(DlhwError):
    """Training could not finish (exit 1)."""

    exit_code = 1


class DivergedError(TrainingError):
    """The loss became NaN or infinite."""


class WriteError(DlhwError):
    """A file of the run could not be written (disk full, read-only, permissions): exit 1."""

    exit_code = 1
    reason = ""  # why, in a few words ('is a symbolic link', 'No space left on device'): for a caller's message


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def shorten(value: object, limit: int = 60) -> str:
    """A bounded repr for messages: long strings, deep or huge containers and huge ints cut short.

    Never builds the whole repr (a value from a hostile file may expand to gigabytes)."""
    import reprlib

    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 3, 6, 6, 4, 6
    r.maxstring, r.maxother, r.maxlong = limit, limit, 40
    try:
        text = r.repr(value)
    except Exception:  # a value whose repr fails: its type is still worth naming
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_name(key: str, received: str, choices: Iterable[str]) -> ConfigError:
    """A ConfigError for a name that is not one of ``choices``."""
    choices = sorted(str(c) for c in choices)
    return ConfigError(
        f"{key}: unknown name '{received}'{did_you_mean(received, choices)}; "
        f"choose one of: {', '.join(choices)}"
    )


def plain_words(msg: str) -> str:
    """pydantic's message without its class names ("instance of TrainingConfig", "object to extract
    fields from"): a section is a mapping of keys in YAML."""
    msg = re.sub(r",? or (?:an )?instance of [A-Z]\w*", "", msg)
    msg = msg.replace(" or object to extract fields from", "")
    return msg.replace("Input should be a valid dictionary", "expected a section (key: value lines)")
