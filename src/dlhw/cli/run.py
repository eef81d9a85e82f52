"""dlhw run CONFIG: train one experiment into a new run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, DeviceOpt, OutOpt, QuietOpt, SetOpt, cli_errors, overrides


def print_results(run, config: Optional[Path] = None) -> None:
    """A short table of the run's metrics per split, and where the run folder is (the run's
    diagnostics came before it, through logging: dlhw.api.run_folder.log_diagnostics)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    m = run.metrics
    table = Table(title=Text(f"{run.path.name}: {run.status}"))
    keys = [k for k in ("loss", "accuracy", "f1_macro", "auc", "mae", "rmse", "r2") if k in m.get("train", {})]
    first = m.get("train", {}).get("outputs") or {}  # model.outputs: each output's loss and metric too
    per_output = [(o, k) for o, fig in first.items() for k in ("loss", "mae", "accuracy") if k in fig]
    table.add_column("split")
    for k in keys:
        table.add_column(k, justify="right")
    for o, k in per_output:
        table.add_column(Text(f"{o} {k}"), justify="right")
    for split in ("train", "val", "test"):
        row = m.get(split, {})
        if row.get("samples"):
            outs = row.get("outputs") or {}
            figures = [row.get(k) for k in keys] + [outs.get(o, {}).get(k) for o, k in per_output]
            table.add_row(split, *["-" if v is None else f"{v:.4f}" for v in figures])
    console = Console()
    console.print(table)
    p = m.get("params", {})
    console.print(f"params {p.get('total', 0):,} (trainable {p.get('trainable', 0):,}), "
                  f"{m.get('epochs_run')} epochs in {m.get('train_seconds', 0):.1f}s, best epoch {m.get('best_epoch')}")
    console.print(Text(f"run folder: {run.path}{sweep_note(config, run.path)}"), highlight=False, soft_wrap=True)


def sweep_note(config: Optional[Path], run_path: Path) -> str:
    """A config from a sweep folder (configs/mlp_layers/x.yaml) trains alone into OUT/<name>, not
    beside its sweep's runs in OUT/<sweep>/: when that sweep folder exists, the closing line says so."""
    from dlhw.rundir import layout

    if config is None or not Path(config).is_file():
        return ""
    folder = Path(config).parent
    names = [folder.name] + [f.stem for f in sorted(folder.glob("*.y*ml")) if f != Path(config)]
    sweep = next((run_path.parent / n for n in names if (run_path.parent / n / layout.SWEEP_MANIFEST).is_file()), None)
    if sweep is None or sweep == run_path.parent:
        return ""
    return f" (a single run, not in the sweep {sweep}/; `dlhw sweep {folder}` trains this config there)"


def run(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Argument(help="The experiment config (a YAML file) to read.", show_default=False)] = None,
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
        from dlhw.api import run as run_api

        result = run_api(config, overrides(sets, ctx.args), out=out, name=name, device=device, quiet=quiet,
                         resume=resume, overwrite=overwrite, cache_dir=cache_dir, progress=False, check=True,
                         debug=debug)
        print_results(result, config)
