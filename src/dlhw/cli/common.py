"""What every command shares: options, overrides and the error boundary.

No heavy imports here: ``dlhw --help`` must stay instant.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from typing_extensions import Annotated

from dlhw.api.common import check_device  # noqa: F401  (the commands' --device check)
from dlhw.errors import ConfigError, DlhwError

SetOpt = Annotated[
    Optional[List[str]],
    typer.Option("--set", "-s", help="Override a config value: key.path=value (YAML value). Repeatable; "
                 "extra key=value words after it count too.", show_default=False),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full Python traceback of an error instead of its one-line message.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="The folder that receives run folders (made when missing).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print no progress lines (errors and the closing summary still print).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Where to train: auto (a GPU when present), cpu, gpu, or gpu:N for one GPU by index.")]

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": False}


def overrides(sets: Optional[List[str]], extra: List[str]) -> List[str]:
    """--set values plus stray key=value words (so `--set a=1 b=2` works as users type it)."""
    out = list(sets or [])
    for word in extra:
        if "=" not in word or word.startswith("-"):
            raise ConfigError(f"unexpected argument '{word}'; overrides look like key.path=value")
        out.append(word)
    return out


def one_line(text: str) -> str:
    """One line, credentials in URIs masked (dlhw.tracking.redact)."""
    from dlhw.tracking.redact import redact

    return redact(" ".join(str(text).split()))


@contextmanager
def cli_errors(debug: bool = False) -> Iterator[None]:
    """Turn errors into one line on stderr and an exit code (2: config/usage, 1: failure, 130: Ctrl-C);
    ``debug`` also shows dlhw's DEBUG messages (dlhw.runtime.log)."""
    if debug:
        from dlhw.runtime.log import setup_cli_logging

        setup_cli_logging(debug=True)
    try:
        yield
    except typer.Exit:
        raise
    except DlhwError as exc:
        if debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:  # Ctrl-C 130; a run stopped by SIGTERM says 143 (runtime.signals)
        print(f"error: {one_line(exc) or 'interrupted'}", file=sys.stderr)
        raise typer.Exit(getattr(exc, "exit_code", 130)) from None
    except Exception as exc:  # an unexpected failure: still one line unless --debug
        if debug:
            raise
        print(f"error: {type(exc).__name__}: {one_line(exc)[:400]} (rerun with --debug for the traceback)",
              file=sys.stderr)
        raise typer.Exit(1) from None
