"""The dlhw command line. One module per command; this file only wires them.

Importing this package must not import TensorFlow (a test checks it).
"""

from __future__ import annotations

import typer
from typing_extensions import Annotated

from dlhw import __version__
from dlhw.cli import compare as compare_cmd
from dlhw.cli import config_cmds, data_cmd, inspect_cmd, list_cmd, schema_cmd, summary_cmd
from dlhw.cli import predict as predict_cmd
from dlhw.cli import report as report_cmd
from dlhw.cli import run as run_cmd
from dlhw.cli import sweep as sweep_cmd
from dlhw.cli.common import EXTRA_ARGS

app = typer.Typer(
    name="dlhw",
    help="Run deep-learning experiments from YAML configs: train, sweep, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich costs ~90 ms of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlhw {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = False,
) -> None:
    """dlhw: YAML in, trained Keras model and a complete run folder out."""
    from dlhw.runtime.log import setup_cli_logging

    setup_cli_logging()  # dlhw's messages on the terminal (dlhw.runtime.log); -q / --debug adjust the level


app.command("run", context_settings=EXTRA_ARGS, rich_help_panel="Experiments")(run_cmd.run)
app.command("validate", context_settings=EXTRA_ARGS, rich_help_panel="Configs")(config_cmds.validate)
app.command("show", context_settings=EXTRA_ARGS, rich_help_panel="Configs")(config_cmds.show)
app.command("summary", context_settings=EXTRA_ARGS, rich_help_panel="Configs")(summary_cmd.summary)
app.command("sweep", context_settings=EXTRA_ARGS, rich_help_panel="Experiments")(sweep_cmd.sweep)
app.command("report", rich_help_panel="Results")(report_cmd.report)
app.command("compare", rich_help_panel="Results")(compare_cmd.compare)
app.command("predict", rich_help_panel="Results")(predict_cmd.predict)
app.command("inspect", rich_help_panel="Results")(inspect_cmd.inspect)
app.command("list", rich_help_panel="Configs")(list_cmd.list_cmd)
app.command("schema", rich_help_panel="Configs")(schema_cmd.schema)
app.add_typer(data_cmd.app, name="data", rich_help_panel="Configs")


def main() -> None:
    """The ``dlhw`` console script: the Typer app, then a fast exit once TensorFlow was used
    (dlhw.runtime.fastexit: Python's shutdown of TensorFlow costs ~1.2 s after all results are written)."""
    try:
        app()
    except SystemExit as exc:
        from dlhw.runtime.fastexit import exit_code, exit_now

        code = exit_code(exc)
        exit_now(code)
        raise SystemExit(code) from None
