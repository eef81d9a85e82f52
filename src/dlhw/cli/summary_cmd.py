"""dlhw summary CONFIG: the model's layers, output shapes and parameter counts, untrained."""

from __future__ import annotations

from pathlib import Path

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, SetOpt, cli_errors, overrides

ConfigArg = Annotated[Path, typer.Argument(help="The experiment config (a YAML file) to read.", show_default=False)]
ExpandOpt = Annotated[bool, typer.Option("--expand", help="Also list the layers inside nested models "
                                          "(a backbone's hundreds).")]


def summary(ctx: typer.Context, config: ConfigArg, sets: SetOpt = None, expand: ExpandOpt = False,
            debug: DebugOpt = False) -> None:
    """Print CONFIG's model: each layer's output shape and parameters, then total / trainable /
    non-trainable. Nothing is trained; no data is read when the config gives the input shape
    (dataset.input_shape, an image size, a known dataset) and the output size, else only what
    tells them (a file header, the labels)."""
    with cli_errors(debug):
        from dlhw.api import summary as summary_api

        typer.echo(str(summary_api(config, overrides(sets, ctx.args), expand=expand)))
