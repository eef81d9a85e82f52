"""dlhw predict RUN INPUT...: a trained run's top-k classes for new images or CSV rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, cli_errors


def print_table(run: Path, preds, logits: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{run.name}: predictions")
    table.add_column("input", overflow="fold")
    if preds and preds[0].outputs is not None:  # model.outputs: one row per input and output
        table.add_column("output")
        table.add_column("values", overflow="fold")
        for p in preds:
            for i, (name, vals) in enumerate(p.outputs.items()):
                table.add_row(p.input if i == 0 else "", name, "  ".join(f"{k}={v:.4g}" for k, v in vals.items()))
    elif preds and preds[0].values is not None:
        for name in preds[0].values:
            table.add_column(name, justify="right")
        for p in preds:
            table.add_row(p.input, *[f"{v:.4g}" for v in p.values.values()])
    else:
        k = max((len(p.top) for p in preds), default=1)
        for i in range(k):
            table.add_column(f"#{i + 1}", justify="left")
        for p in preds:
            table.add_row(p.input, *[f"{t['class']}  {t['probability']:.3f}"
                                     + (f"  (logit {t['logit']:.3f})" if logits else "") for t in p.top])
    Console().print(table)


def predict(
    run: Annotated[Path, typer.Argument(help="A completed run folder (holds model.keras).", show_default=False)],
    inputs: Annotated[Optional[List[str]], typer.Argument(help="Image files, folders of images, or CSV files "
                                                             "(the training columns; a target column is ignored).",
                                                         show_default=False)] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many classes to show per input.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a list, one object per input) instead of a table.")] = False,
    logits: Annotated[bool, typer.Option("--logits", help="Also show each class's raw output-layer value "
                                         "(before softmax / sigmoid), as S2 printed.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Predict the classes (top-k, with probabilities; --logits adds raw logits) of new inputs with a trained run."""
    with cli_errors(debug):
        from dlhw.api import predictions

        preds = predictions(run, inputs or [], top_k, logits=logits, debug=debug)
        if as_json:
            typer.echo(json.dumps([p.as_dict() for p in preds], indent=2))
        else:
            print_table(run, preds, logits)
