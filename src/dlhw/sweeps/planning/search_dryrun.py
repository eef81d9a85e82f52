"""``dlhw sweep SEARCH.yaml --dry-run``: the space, sampler, pruner and budget; nothing trained.

No TensorFlow and no Optuna: what a search file asks for, and where an earlier run of it stands
when its sweep folder already holds sweep.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dlhw.sweeps.planning.space import SearchPlan


def search_lines(plan: SearchPlan, out: Path) -> list:
    spec, pruner = plan.spec, plan.pruner
    metric = ", ".join(f"{m} ({d})" for m, d in zip(plan.metrics, plan.directions))
    lines = [f"search {plan.name} (dry run, nothing trained)",
             f"  sampler: {spec.sampler} (seed {spec.seed})",
             f"  metric:  {metric}" + ("  [multi-objective]" if plan.multi else "")]
    if pruner.type == "none":
        lines.append("  pruner:  none (every trial trains all its epochs)")
    else:
        extra = f", reduction factor {pruner.reduction_factor}" if pruner.type in ("asha", "hyperband") \
            else f", after {pruner.startup_trials} finished trial(s)"
        lines.append(f"  pruner:  {pruner.type} (min {pruner.min_epochs} epoch(s){extra}; on {plan.metrics[0]})")
    sched = plan.scheduler
    if sched.type == "pbt":
        gens = -(-plan.epochs // sched.interval)
        lines.append(f"  scheduler: pbt (population of {plan.budget}, {gens} generation(s) of {sched.interval} epoch(s); "
                     f"the bottom {sched.quantile:g} copies a top trial's checkpoint, perturbed by "
                     f"x{' / x'.join(f'{f:g}' for f in sched.perturb)})")
    elif sched.type != "none":
        from dlhw.sweeps.sources.promotion import brackets, total_epochs

        plan_b = brackets(sched.type, plan.budget, sched.min_epochs, plan.epochs, sched.reduction_factor)
        lines.append(f"  scheduler: {sched.type} (promotion from checkpoints; {total_epochs(plan_b)} epochs in all): "
                     + "; ".join(f"bracket {b.index}: {b.lines()}" for b in plan_b))
    if spec.warm_start:
        lines.append(f"  warm start: from {spec.warm_start}")
    capped = f" (the grid has {plan.budget} points)" if plan.budget < spec.trials else ""
    lines.append(f"  budget:  {plan.budget} trials{capped} x {plan.epochs} epochs = at most "
                 f"{plan.budget * plan.epochs} epochs")
    if spec.enqueue:
        lines.append(f"  first:   {len(spec.enqueue)} enqueued trial(s)")
    lines.append("  space:")
    width = max(len(p.key) for p in plan.params)
    lines += [f"    {p.key.ljust(width)}  {p.describe()}" for p in plan.params]
    from dlhw.rundir.sweep_log import read_manifest
    from dlhw.sweeps.engine import sweep_folder

    manifest = read_manifest(sweep_folder(plan, Path(out))) or {}
    counts = manifest.get("counts") or {}
    if manifest.get("search") and counts:
        held = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        lines.append(f"  so far:  {sum(counts.values())} trials in the study ({held}); "
                     f"running it again trains at most {max(0, plan.budget - sum(counts.values()))} more "
                     f"and resumes unfinished ones")
    return lines


def print_search(plan: SearchPlan, out: Path) -> None:
    for line in search_lines(plan, out):
        print(line, file=sys.stdout)
