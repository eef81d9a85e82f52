"""dlhw inspect RUN... --activations: fraction of zero ReLU outputs per layer, runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, cli_errors
from dlhw.rundir import layout


def inspect(
    runs: Annotated[Optional[List[Path]], typer.Argument(help="One or more completed run folders.", show_default=False)] = None,
    activations: Annotated[bool, typer.Option("--activations", help="Fraction of zero outputs per ReLU-like layer.")] = False,
    samples: Annotated[int, typer.Option("--samples", "-n", help="Test-split inputs fed through each model.")] = 256,
    inputs: Annotated[Optional[List[Path]], typer.Option("--input", "-i", help="Feed this file instead of test-split "
                                                         "samples (an image or a CSV; repeat for more).",
                                                         show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for activations.csv / .png "
                                                "(default: the run folder for one run, ./activations for several).",
                                                show_default=False)] = None,
    debug: DebugOpt = False,
) -> None:
    """Look inside trained runs (--activations: ReLU sparsity per layer, as in S2)."""
    with cli_errors(debug):
        from dlhw.errors import ConfigError

        if not activations:
            raise ConfigError("dlhw inspect: choose what to inspect; available: --activations")
        from rich.console import Console
        from rich.table import Table

        from dlhw.results.inspection import inspect_activations
        from dlhw.runtime.log import set_quiet
        from dlhw.runtime.tfruntime import setup_runtime

        set_quiet(True)
        setup_runtime("auto", 0, None, debug)
        folder, rows = inspect_activations([str(r) for r in (runs or [])], samples, out,
                                           inputs=[str(i) for i in inputs] if inputs else None)
        names = list(dict.fromkeys(r.run for r in rows))
        seen = {r.run: r.samples for r in rows}
        from rich.text import Text  # run and layer names are text, never rich markup

        table = Table(title=Text("fraction of zero activations (samples: "
                                 + ", ".join(f"{n} {k}" for n, k in seen.items()) + ")"))
        table.add_column("layer")
        table.add_column("kind")
        for n in names:
            table.add_column(Text(n), justify="right")
        by = {(r.run, r.layer): r for r in rows}
        kinds = {r.layer: r.kind for r in rows}
        for layer in dict.fromkeys(r.layer for r in rows):
            table.add_row(Text(layer), Text(kinds[layer]), *[f"{by[(n, layer)].zero_fraction:.3f}" if (n, layer) in by else "-"
                                                 for n in names])
        console = Console()
        console.print(table)
        console.print(f"wrote {folder / layout.ACTIVATIONS_CSV} and {folder / layout.ACTIVATIONS_PNG}")
