"""dlhw's messages: the standard ``logging`` module, under the ``dlhw`` logger.

Every module logs through ``log = get_logger(__name__)``, a child of ``dlhw``
(``dlhw.data.images``, ``dlhw.training.feature_cache``, ...): INFO for what is happening
(the run folder, a cache being filled), WARNING for what the user should know (a skipped
file, optimistic test figures), DEBUG for details. Records propagate to the root logger,
so a program's own logging set-up and pytest's ``caplog`` see them as any library's.

Who prints them:

- ``dlhw`` (the CLI) installs the terminal handler (``setup_cli_logging``): INFO lines on
  stdout as they are, ``warning: ...`` and ``error: ...`` on stderr (coloured on a terminal
  through rich, plain text otherwise); ``-q`` keeps warnings and errors only, ``--debug``
  adds DEBUG.
- the Python API (``dlhw.run``, ``dlhw.sweep``, ...) installs the same handler only when the
  program has not configured logging (no handler on the root logger nor on ``dlhw``);
  ``quiet=True`` keeps warnings and errors only, for that call.
- anything else (a script calling ``logging.basicConfig``, a notebook, a test) gets the
  records through its own handlers, the usual way.

To turn them down or off::

    import logging
    logging.getLogger("dlhw").setLevel(logging.WARNING)   # warnings only
    logging.getLogger("dlhw").setLevel(logging.CRITICAL)  # nothing
    dlhw.runtime.log.disable_default_handler()            # dlhw never installs its handler

Only ``logging`` is imported here (rich when a line is printed on a terminal).
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator, List, Optional

ROOT = "dlhw"
_state = {"default_handler": True}


def get_logger(name: str = ROOT) -> logging.Logger:
    """The logger of a dlhw module: ``get_logger(__name__)``; a name outside ``dlhw`` is put under it."""
    if name != ROOT and not name.startswith(ROOT + "."):
        name = f"{ROOT}.{name}"
    _collector()
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactFilter) for f in logger.filters):
        logger.addFilter(RedactFilter())  # a logger's filters see only its own records: one per logger
    return logger


class RedactFilter(logging.Filter):
    """Credentials in a message (a tracking URI's password or token) are masked before any
    handler sees it (dlhw.tracking.redact): the terminal, caplog, a program's own handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        from dlhw.tracking.redact import redact

        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format is logging's own error to report
            return True
        masked = redact(text)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


class TerminalHandler(logging.Handler):
    """dlhw's lines on the terminal: INFO on stdout as written; warnings and errors on stderr,
    prefixed ``warning:`` / ``error:``. Colour (rich) only on a terminal; the streams are looked
    up at each line, so a redirected ``sys.stdout`` (click's CliRunner, a notebook) gets them."""

    PREFIX = {logging.DEBUG: ("debug: ", "dim"), logging.WARNING: ("warning: ", "yellow"),
              logging.ERROR: ("error: ", "red"), logging.CRITICAL: ("error: ", "red")}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            prefix, style = self.PREFIX.get(record.levelno, ("", ""))
            stream = sys.stdout if record.levelno == logging.INFO else sys.stderr
            if stream is None:
                return
            if style and _is_terminal(stream):
                from rich.console import Console
                from rich.text import Text

                Console(file=stream, force_jupyter=False).print(
                    Text.assemble((prefix, style), text), soft_wrap=True, highlight=False)
            else:
                stream.write(f"{prefix}{text}\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's rule: a handler never raises
            self.handleError(record)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _terminal_handlers(logger: logging.Logger) -> List[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, TerminalHandler)]


def setup_cli_logging(level: int = logging.INFO, quiet: bool = False, debug: bool = False) -> logging.Logger:
    """The CLI's set-up: one TerminalHandler on ``dlhw`` (installed once), its level INFO
    (``quiet``: WARNING, ``debug``: DEBUG)."""
    logger = get_logger()
    if not _terminal_handlers(logger):
        logger.addHandler(TerminalHandler())
    logger.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else level)
    return logger


def logging_configured() -> bool:
    """Whether the program has set up logging itself (a handler on the root logger or on ``dlhw``)."""
    own = [h for h in get_logger().handlers if not isinstance(h, (TerminalHandler, _Collector))]
    return bool(logging.getLogger().handlers or own)


def ensure_default_handler() -> bool:
    """The API's set-up: dlhw's terminal handler (INFO) when the program has not configured
    logging and it was not disabled (disable_default_handler); True when dlhw's handler prints."""
    logger = get_logger()
    if _terminal_handlers(logger):
        return True
    if not _state["default_handler"] or logging_configured():
        return False
    logger.addHandler(TerminalHandler())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return True


def disable_default_handler() -> None:
    """dlhw's API never installs its terminal handler, and removes one it installed."""
    _state["default_handler"] = False
    logger = get_logger()
    for h in _terminal_handlers(logger):
        logger.removeHandler(h)


def enable_default_handler() -> None:
    _state["default_handler"] = True


@contextmanager
def quieted(quiet: bool = True) -> Iterator[None]:
    """Inside the block, ``dlhw`` passes warnings and errors only (when ``quiet``); its level comes back after."""
    logger = get_logger()
    before = logger.level
    if quiet and logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def set_quiet(quiet: bool = True) -> int:
    """``dlhw`` passes warnings and errors only (``quiet``), else INFO too; returns the level before
    (for restore_level)."""
    logger = get_logger()
    before = logger.level
    logger.setLevel(logging.WARNING if quiet else min(logging.INFO, logger.getEffectiveLevel()))
    return before


def restore_level(level: int) -> None:
    """The ``dlhw`` logger's level as set_quiet found it."""
    get_logger().setLevel(level)


def is_quiet() -> bool:
    """Whether dlhw's INFO messages are off."""
    return not get_logger().isEnabledFor(logging.INFO)


# ------------------------------------------------------------- warnings a run records
class _Collector(logging.Handler):
    """Keeps the text of each WARNING of ``dlhw`` until take_warnings(): a run records those of
    its preamble (data checks before its folder existed) in status.json. Where no other handler
    would see the record, it prints it on stderr as logging's last resort would (a warning is
    never lost because this handler exists)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
            del self.messages[:-200]
            if logging.lastResort is not None and not self._others(record):
                TerminalHandler().handle(record)
        except Exception:  # noqa: BLE001
            self.handleError(record)

    def _others(self, record: logging.LogRecord) -> bool:
        """Whether a handler other than this one receives ``record`` (logging's own walk up the tree)."""
        logger: Optional[logging.Logger] = logging.getLogger(record.name)
        while logger is not None:
            if any(h is not self and record.levelno >= h.level for h in logger.handlers):
                return True
            logger = logger.parent if logger.propagate else None
        return False


_COLLECTOR: List[_Collector] = []


def _collector() -> _Collector:
    if not _COLLECTOR:
        _COLLECTOR.append(_Collector())
        logging.getLogger(ROOT).addHandler(_COLLECTOR[0])
    return _COLLECTOR[0]


def take_warnings() -> List[str]:
    """The warnings logged under ``dlhw`` since the last call."""
    c = _collector()
    out, c.messages = list(c.messages), []
    return out


def level_name(level: Optional[int]) -> str:
    return logging.getLevelName(level if level is not None else get_logger().getEffectiveLevel())
