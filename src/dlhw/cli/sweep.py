"""dlhw sweep PATH: run every trial of a folder of configs or a sweep file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, DeviceOpt, OutOpt, QuietOpt, SetOpt, check_device, cli_errors, overrides


def closing_counts(results) -> str:
    """'6 completed, 6 pruned, 0 failed': every status counted apart (a pruned or paused trial is
    neither completed nor failed)."""
    from dlhw.rundir.states import Status

    counts: dict = {}
    for r in results:
        status = Status.parse(r.get("status"))
        key = status if status.ok else Status.FAILED
        counts[key] = counts.get(key, 0) + 1
    shown = (Status.COMPLETED, Status.PRUNED, Status.PAUSED, Status.SKIPPED, Status.RUNNING, Status.QUEUED)
    parts = [f"{counts[s]} {s}" for s in shown if counts.get(s)]
    return ", ".join(parts + [f"{counts.get(Status.FAILED, 0)} failed"])


def why(r) -> str:
    """The why column: a failed trial's error, a pruned trial's epoch, a paused or skipped trial's reason."""
    if r.get("error"):
        return str(r["error"])
    if r.get("status") == "pruned":
        return f"pruned at epoch {r['pruned_at']}" if r.get("pruned_at") else "stopped by the search's pruner"
    if r.get("status") == "paused":
        return "parked by the search's scheduler"
    if r.get("status") == "skipped":
        return "completed earlier (--rerun trains it again)"
    return ""


def print_closing(sweep, console=None) -> None:
    """One row per trial: status, accuracies, time, and why a trial did not complete (the column only
    when some trial has a reason)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def num(v: Any, fmt: str = "{:.4f}") -> str:
        return fmt.format(v) if isinstance(v, (int, float)) else "-"

    reasons = [why(r) for r in sweep.results]
    table = Table(title=Text(f"sweep {sweep.path.name}: {closing_counts(sweep.results)}"))
    columns = ("trial", "status", "val acc", "test acc", "train s") + (("why",) if any(reasons) else ())
    for col in columns:
        table.add_column(col, justify="right" if col in ("val acc", "test acc", "train s") else "left", overflow="fold")
    styles = {"completed": "green", "skipped": "dim", "diverged": "bold yellow", "failed": "bold red", "pruned": "yellow",
              "paused": "yellow"}
    for r, reason in zip(sweep.results, reasons):
        cells = [Text(r["name"]), Text(r["status"], style=styles.get(r["status"], "")),
                 num(r.get("val_accuracy")), num(r.get("test_accuracy")), num(r.get("train_seconds"), "{:.1f}")]
        table.add_row(*cells, *([Text(reason)] if any(reasons) else []))
    console = console or Console(width=None if sys.stdout.isatty() else 140)
    console.print(table)
    console.print(Text(f"run folders and sweep.json: {sweep.path} ({format_bytes(sweep.disk_bytes)} on disk)   "
                       f"(compare them: dlhw report {sweep.path})"))


def missing_search_packages(plan) -> str:
    """What a search needs that is not installed here (Optuna, and cmaes for that sampler), as the
    one line the real run would stop with; '' when everything is there."""
    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        return 'search: needs Optuna, which is not installed here; install it with: pip install "dlhw[search]"'
    if plan.spec.sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        return "search.sampler: cmaes needs the cmaes package, which is not installed here: pip install cmaes"
    return ""


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
    executor: Annotated[Optional[str], typer.Option("--executor", help="Where trials run: local (processes on this "
                                                    "machine), ray (a Ray cluster, see --address) or "
                                                    "slurm (a job array; see README 'On a Slurm cluster'). Default: "
                                                    "the sweep file's executor:, else local.",
                                                    show_default=False)] = None,
    address: Annotated[Optional[str], typer.Option("--address", help="Ray cluster address, HOST:PORT or auto "
                                                   "(default: RAY_ADDRESS, else a private local Ray instance).",
                                                   show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (trials, varied values, parameter "
                                          "counts, time estimates); train nothing.")] = False,
    rerun: Annotated[bool, typer.Option("--rerun", help="Train completed trials again too (by default they are skipped).")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="With --executor slurm: return once the trials are "
                                         "submitted (run the same command again to reattach).")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="With --executor slurm: submit again the "
                                               "trials whose task failed, was cancelled or hit a node "
                                               "failure.")] = False,
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
        from dlhw.api.sweep_folder import sweep_executor

        if dry_run:
            check_device(device)
            from dlhw.sweeps import build_plan
            from dlhw.sweeps.planning.dryrun import data_problem, plan_rows, print_plan
            from dlhw.sweeps.planning.space import search_raw

            if search_raw(path) is not None:  # a search: its space, sampler, pruner and budget
                from dlhw.sweeps.planning.search_dryrun import print_search
                from dlhw.sweeps.planning.space import build_search

                splan = build_search(path, overrides(sets, ctx.args))
                print_search(splan, out)
                if sweep_executor(path, executor) == "slurm":
                    from dlhw.slurm.resources import dry_run_text

                    typer.echo(dry_run_text([(splan.name, splan.base)], slurm_workers(workers, splan.budget),
                                            splan.name, str(out / splan.name / ".slurm"), search=splan.budget))
                missing = missing_search_packages(splan)
                if missing:  # the plan is shown, but the search itself would stop at once: say so, exit 2
                    raise ConfigError(missing)
                return

            plan = build_plan(path, overrides(sets, ctx.args))  # every trial validated, nothing trains
            rows = plan_rows(plan, out, device=device)
            print_plan(plan, rows, rerun)
            if sweep_executor(path, executor) == "slurm":
                from dlhw.slurm.resources import dry_run_text

                typer.echo(dry_run_text([(t.name, t.raw) for t in plan.trials], slurm_workers(workers, len(plan.trials)),
                                        plan.name, str(out / plan.name / ".slurm")))
            problem = data_problem(rows)
            if problem:  # a dataset that cannot be loaded: the sweep would fail, say so with exit 2
                raise problem
            return
        from dlhw.api import sweep as sweep_api

        result = sweep_api(path, overrides(sets, ctx.args), out=out, workers=workers, executor=executor,
                           address=address, device=device, rerun=rerun, quiet=quiet, debug=debug, detach=detach,
                           retry_failed=retry_failed, repair=repair, new_study=new_study)
        print_closing(result)
        if result.failed:
            raise typer.Exit(1)


def slurm_workers(workers: str, n: int) -> int:
    """--workers for a Slurm array: a number, or auto: every trial at once (the scheduler decides)."""
    from dlhw.sweeps.executors.resources import parse_workers

    value = parse_workers(workers)
    return max(1, n) if value == "auto" else int(value)
