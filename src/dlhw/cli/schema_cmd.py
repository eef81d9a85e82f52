"""dlhw schema: the JSON Schema of config files, for editors that validate and complete YAML; with
--records, of the files a run folder and a sweep folder hold (dlhw.rundir.records)."""

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
RecordsOpt = Annotated[bool, typer.Option(
    "--records", help="The schemas of the run-folder and sweep-folder files (status.json, metrics.json, env.json, "
                      "mlflow.json, wandb.json, preprocessing.json, sweep.json); --out: a folder, one <name>.schema.json each.")]


def schema(out: SchemaOutOpt = None, sweep: SweepOpt = False, records: RecordsOpt = False,
           debug: DebugOpt = False) -> None:
    """Print the JSON Schema of an experiment config (with --sweep: of a sweep file), with a description
    of every key. Point a yaml-language-server editor (VS Code's YAML extension) at it: first line
    `# yaml-language-server: $schema=dlhw.schema.json`. With --records: the schemas of the files a run
    folder and a sweep folder hold (docs/schemas/)."""
    with cli_errors(debug):
        if records:
            _records(out)
            return
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


def _records(out: Optional[Path]) -> None:
    from dlhw.rundir.records.docs import dumps, record_schemas, write_schemas

    if out is None:
        typer.echo(dumps(record_schemas()), nl=False)
        return
    if out.exists() and not out.is_dir():
        from dlhw.errors import ConfigError

        raise ConfigError(f"--out: {out} is a file; with --records give a folder, e.g. docs/schemas")
    written = write_schemas(out)
    typer.echo(f"wrote {len(written)} record schemas to {out}")
