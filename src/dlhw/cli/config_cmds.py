"""dlhw validate / dlhw show: check a config, print it with every default filled."""

from __future__ import annotations

from pathlib import Path

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, SetOpt, cli_errors, overrides

ConfigArg = Annotated[Path, typer.Argument(help="The experiment config (a YAML file) to read.", show_default=False)]


NoDataOpt = Annotated[bool, typer.Option("--no-data", help="Skip checking that the data paths (CSV file, image "
                                          "folder and its class folders) exist.")]


def validate(ctx: typer.Context, config: ConfigArg, sets: SetOpt = None, no_data: NoDataOpt = False,
             debug: DebugOpt = False) -> None:
    """Check CONFIG (and --set overrides) and its data paths without training; exit 2 on the first problem."""
    with cli_errors(debug):
        from dlhw.config import load_config
        from dlhw.data.sources import check_data_paths

        cfg = load_config(config, overrides(sets, ctx.args))
        found = [] if no_data else check_data_paths(cfg.dataset, str(config))
        if not no_data:
            from dlhw.data.sources import check_csv_targets

            check_csv_targets(cfg.dataset, cfg.task)  # a regression on a column of words
        stages = cfg.stages()
        plan = ", ".join(f"{s.name} {s.epochs} epochs" for s in stages)
        if getattr(cfg.model, "classifier", None) is not None:  # fitted once, no epochs
            plan = f"{cfg.model.classifier.type} fitted on {cfg.model.backbone.name} features"
        data = "".join(f"; {p} found" for p in found)
        typer.echo(f"{config}: ok ({cfg.task}, {cfg.dataset.source} data, {cfg.model.type} model; {plan}{data})")


def show(ctx: typer.Context, config: ConfigArg, sets: SetOpt = None,
         all_keys: Annotated[bool, typer.Option("--all", help="Print every key with its default, including "
                                                 "unset options and keys of other sources and types.")] = False,
         debug: DebugOpt = False) -> None:
    """Print the resolved config as YAML: what this config sets and uses (--all: every default too)."""
    with cli_errors(debug):
        import yaml

        from dlhw.config import load_config

        cfg = load_config(config, overrides(sets, ctx.args))
        from dlhw.tracking.redact import redact_data

        data, left_out = redact_data(cfg.dump()), 0
        if not all_keys:
            from dlhw.config.brief import brief

            data, left_out = brief(cfg, data)
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
        if left_out:
            typer.echo(f"# {left_out} unset or unused keys left out; `dlhw show {config} --all` prints them")
