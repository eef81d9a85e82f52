"""dlhw schema: the JSON Schema of config files, for editors that validate and complete YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, cli_errors

SchemaOutOpt = Annotated[Optional[Path], typer.Option(
    "--out", "-o", help="Write the schema to this file (atomically) instead of printing it.", show_default=False)]
SweepOpt = Annotated[bool, typer.Option(
    "--sweep", help="The schema of a sweep file (base:, grid:, random:, repeats:); it accepts experiment "
                    "configs too.")]


def schema(out: SchemaOutOpt = None, sweep: SweepOpt = False, debug: DebugOpt = False) -> None:
    """Print the JSON Schema of an experiment config (with --sweep: of a sweep file), with a description
    of every key. Point a yaml-language-server editor (VS Code's YAML extension) at it: first line
    `# yaml-language-server: $schema=dlhw.schema.json`."""
    with cli_errors(debug):
        from dlhw.config.jsonschema import dumps, experiment_schema, sweep_schema

        text = dumps(sweep_schema() if sweep else experiment_schema())
        if out is None:
            typer.echo(text, nl=False)
            return
        from dlhw.runtime.files import write_text

        if out.is_dir():
            from dlhw.errors import ConfigError

            raise ConfigError(f"--out: {out} is a folder; give a file name, e.g. {out / 'dlhw.schema.json'}")
        write_text(out, text)
        typer.echo(f"wrote {out} (the {'sweep file' if sweep else 'experiment config'} schema)")
