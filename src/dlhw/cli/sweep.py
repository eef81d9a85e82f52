"""dlhw sweep PATH: run every trial of a folder of configs or a sweep file."""

from __future__ import annotations

import sys

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, DeviceOpt, OutOpt, QuietOpt, SetOpt, check_device, cli_errors, overrides


def print_closing(sweep) -> None:
    """One row per trial: status, accuracies, time, and why a trial failed."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def num(v: Any, fmt: str = "{:.4f}") -> str:
        return fmt.format(v) if isinstance(v, (int, float)) else "-"

    table = Table(title=Text(f"sweep {sweep.path.name}: {len(sweep.results) - len(sweep.failed)} ok, "
                             f"{len(sweep.failed)} failed"))
    for col in ("trial", "status", "val acc", "test acc", "train s", "why"):
        table.add_column(col, justify="right" if col in ("val acc", "test acc", "train s") else "left", overflow="fold")
    styles = {"completed": "green", "skipped": "dim", "diverged": "bold yellow", "failed": "bold red", "pruned": "yellow"}
    for r in sweep.results:
        table.add_row(Text(r["name"]), Text(r["status"], style=styles.get(r["status"], "")),
                      num(r.get("val_accuracy")), num(r.get("test_accuracy")), num(r.get("train_seconds"), "{:.1f}"),
                      Text(r.get("error") or ""))
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(table)
    console.print(Text(f"run folders and sweep.json: {sweep.path} ({format_bytes(sweep.disk_bytes)} on disk)   "
                       f"(compare them: dlhw report {sweep.path})"))


def format_bytes(n: int) -> str:
    """1536 -> '1.5 KB' (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def sweep(
    ctx: typer.Context,
    path: Annotated[Optional[Path], typer.Argument(help="A folder of YAML configs, or a sweep file (base: + grid:, or search: + space:).",
                                                   show_default=False)] = None,
    out: OutOpt = Path("runs"),
    sets: SetOpt = None,
    workers: Annotated[str, typer.Option("--workers", "-j", help="Trials trained at once: auto (one per CPU core "
                                         "as memory allows, at most 8; one per GPU when there are GPUs) or a number. "
                                         "Each worker is a process with its share of the CPU threads.")] = "auto",
    executor: Annotated[str, typer.Option("--executor", help="local (processes on this machine) or ray.")] = "local",
    address: Annotated[Optional[str], typer.Option("--address", help="Ray cluster address, HOST:PORT or auto "
                                                   "(default: RAY_ADDRESS, else a private local Ray instance).",
                                                   show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (trials, varied values, parameter "
                                          "counts, time estimates); train nothing.")] = False,
    rerun: Annotated[bool, typer.Option("--rerun", help="Train completed trials again too.")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="A search: rebuild its study (study.journal) from the "
                                         "trial folders, e.g. after a damaged journal; the old one is kept "
                                         "beside it as study.journal.damaged.")] = False,
    new_study: Annotated[bool, typer.Option("--new-study", help="A search whose definition (space, sampler, "
                                            "metric, pruner, seed) changed: start a new study; the old one and "
                                            "its trials are kept in OUT/<search>/.studies/N/.")] = False,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run every trial of PATH into OUT/<sweep>/<trial>/ with a sweep.json manifest; skips completed trials."""
    with cli_errors(debug):
        from dlhw.errors import ConfigError

        if path is None:
            raise ConfigError("dlhw sweep: give a folder of configs or a sweep file")
        if dry_run:
            check_device(device)
            from dlhw.sweeps import build_plan
            from dlhw.sweeps.planning.dryrun import data_problem, plan_rows, print_plan
            from dlhw.sweeps.planning.space import search_raw

            if search_raw(path) is not None:  # a search: its space, sampler, pruner and budget
                from dlhw.sweeps.planning.search_dryrun import print_search
                from dlhw.sweeps.planning.space import build_search

                print_search(build_search(path, overrides(sets, ctx.args)), out)
                return

            plan = build_plan(path, overrides(sets, ctx.args))  # every trial validated, nothing trains
            rows = plan_rows(plan, out, device=device)
            print_plan(plan, rows, rerun)
            problem = data_problem(rows)
            if problem:  # a dataset that cannot be loaded: the sweep would fail, say so with exit 2
                raise problem
            return
        from dlhw.api import sweep as sweep_api

        result = sweep_api(path, overrides(sets, ctx.args), out=out, workers=workers, executor=executor,
                           address=address, device=device, rerun=rerun, quiet=quiet, debug=debug,
                           repair=repair, new_study=new_study)
        print_closing(result)
        if result.failed:
            raise typer.Exit(1)
