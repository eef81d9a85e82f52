"""dlhw run CONFIG: train one experiment into a new run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, DeviceOpt, OutOpt, QuietOpt, SetOpt, check_device, cli_errors, overrides


def print_results(outcome) -> None:
    """A short table of the run's metrics per split, and where the run folder is."""
    from rich.console import Console
    from rich.table import Table

    m = outcome.metrics
    table = Table(title=f"{outcome.run_dir.name}: {outcome.status}")
    keys = [k for k in ("loss", "accuracy", "f1_macro", "auc", "mae", "rmse", "r2") if k in m.get("train", {})]
    table.add_column("split")
    for k in keys:
        table.add_column(k, justify="right")
    for split in ("train", "val", "test"):
        row = m.get(split, {})
        if row.get("samples"):
            table.add_row(split, *["-" if row.get(k) is None else f"{row[k]:.4f}" for k in keys])
    console = Console()
    console.print(table)
    p = m.get("params", {})
    console.print(f"params {p.get('total', 0):,} (trainable {p.get('trainable', 0):,}), "
                  f"{m.get('epochs_run')} epochs in {m.get('train_seconds', 0):.1f}s, best epoch {m.get('best_epoch')}")
    from dlhw.evaluation.diagnostics import format_findings

    for line in format_findings(m.get("diagnostics") or []):
        console.print(f"[yellow]diagnostic[/yellow] {line}", highlight=False, markup=True)
    console.print(f"run folder: {outcome.run_dir}")


def run(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Argument(help="Experiment YAML file.", show_default=False)] = None,
    out: OutOpt = Path("runs"),
    name: Annotated[Optional[str], typer.Option("--name", help="Run folder name (default: the config's name).")] = None,
    sets: SetOpt = None,
    device: DeviceOpt = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder of that name.")] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue an unfinished run folder from its "
                                                   "last checkpoint (CONFIG optional: it must match).",
                                                   show_default=False)] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Frozen-backbone feature cache folder "
                                                      "(default $DLHW_CACHE_DIR or ~/.cache/dlhw).",
                                                      show_default=False)] = None,
) -> None:
    """Train CONFIG and write a run folder (metrics, curves, confusion matrix, model)."""
    with cli_errors(debug):
        from dlhw.errors import ConfigError

        if resume is not None and (overwrite or name):
            raise ConfigError("--resume continues RUN_DIR in place; --name and --overwrite do not apply to it")
        if resume is not None and config is None:
            from dlhw.runs.resume import run_config_path

            config = run_config_path(resume)
        if config is None:
            raise ConfigError("dlhw run: give a CONFIG file (or --resume RUN_DIR)")
        check_device(device)
        from dlhw.config import load_config
        from dlhw.runtime.console import set_quiet
        from dlhw.orchestration.experiment import run_experiment

        set_quiet(quiet)
        cfg = load_config(config, overrides(sets, ctx.args))
        outcome = run_experiment(cfg, out=out, name=name, overwrite=overwrite, device=device, quiet=quiet, debug=debug,
                                 resume=resume, cache_dir=cache_dir)
        print_results(outcome)
