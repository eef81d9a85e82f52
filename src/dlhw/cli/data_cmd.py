"""dlhw data preview CONFIG: class counts per split and samples.png, without training."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import EXTRA_ARGS, DebugOpt, SetOpt, cli_errors, overrides
from dlhw.rundir import layout

app = typer.Typer(help="Look at a config's data before training.", no_args_is_help=True,
                  rich_markup_mode=None)


@app.command("preview", context_settings=EXTRA_ARGS)
def preview(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="The experiment config (a YAML file) to read.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder that receives samples.png.")] = Path("."),
    samples: Annotated[Optional[int], typer.Option("--samples", "-n", help="Images in the grid "
                                                   "(default: evaluation.samples).", show_default=False)] = None,
    sets: SetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Print samples per class and split; write samples.png (image data) into --out."""
    with cli_errors(debug):
        from rich.console import Console
        from rich.table import Table

        from dlhw.config import load_config
        from dlhw.data import load_dataset, source_for
        from dlhw.errors import ConfigError
        from dlhw.evaluation.samples import write_samples
        from dlhw.runtime.tfruntime import setup_runtime

        cfg = load_config(config, overrides(sets, ctx.args))
        n = cfg.evaluation.samples if samples is None else samples
        if n < 0:
            raise ConfigError(f"--samples: must be 0 or more; received {n}")
        setup_runtime("cpu", cfg.seed, None, debug)
        dataset = load_dataset(cfg)
        counts = dataset.counts()
        same = dataset.meta.get("validation") == "test split"  # val is the test split: count it once
        from rich.markup import escape  # class names from data are text, never rich markup

        console = Console()
        table = Table(title=escape(f"{cfg.name}: samples per split ({cfg.dataset.source})"))
        table.add_column("class")
        splits = [s for s in ("train", "val", "test") if s in counts]
        for s in splits:
            table.add_column("val (= test)" if same and s == "val" else s, justify="right")
        table.add_column("total", justify="right")
        counted = [s for s in splits if not (same and s == "val")]
        keys = list(dict.fromkeys(k for s in splits for k in counts[s]))
        for k in keys:
            vals = [counts[s].get(k, 0) for s in splits]
            table.add_row(escape(str(k)), *map(str, vals), str(sum(counts[s].get(k, 0) for s in counted)))
        totals = [sum(counts[s].values()) for s in splits]
        table.add_row("all", *map(str, totals), str(sum(sum(counts[s].values()) for s in counted)), style="bold")
        console.print(table)
        if same:
            console.print("val is the test split (dataset.validation: test): counted once in the totals")
        for line in source_for(cfg.dataset.source).preview(dataset):
            console.print(line)
        if dataset.unseen is not None:
            import numpy as np

            c = np.bincount(dataset.unseen.y.astype(int), minlength=len(dataset.unseen_names))
            console.print(escape("unseen classes (from the test split): "
                                 + ", ".join(f"{name} {int(k)}" for name, k in zip(dataset.unseen_names, c))))
        console.print(f"input shape {tuple(dataset.input_shape)}, {dataset.num_classes} classes")
        if n > 0:
            out.mkdir(parents=True, exist_ok=True)
            path = write_samples(dataset, out / layout.SAMPLES, n, cfg.seed, f"{cfg.name}: random training samples")
            console.print(escape(f"wrote {path}") if path else "samples.png: not written (the data is not images)")
