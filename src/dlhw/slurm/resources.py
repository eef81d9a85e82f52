"""A trial's ``slurm:`` block as submitit parameters, and the sbatch script ``--dry-run`` shows.

Trials whose blocks are equal share one job array (``--array=0-K%N``, N = ``--workers``); trials
asking other resources go into an array of their own. The preemption warning is submitit's:
``--signal=USR2@<slurm.signal_delay_s>``; ``--requeue`` is always set, so a preempted or timed-out
task goes back into the queue (dlhw.slurm.task). No heavy imports (submitit only where needed).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from dlhw.config.slurm import SlurmConfig, time_minutes
from dlhw.errors import ConfigError
from dlhw.slurm import SUBMITIT_HINT


def import_submitit():
    try:
        import submitit
    except ImportError:
        raise ConfigError(f"--executor slurm: submitit is not installed; install it with: {SUBMITIT_HINT}") from None
    return submitit


def settings_of(raw: Dict[str, Any]) -> SlurmConfig:
    """The trial's validated ``slurm:`` block (defaults where it has none)."""
    block = raw.get("slurm") if isinstance(raw, dict) else None
    try:
        return SlurmConfig(**(block or {}))
    except Exception as exc:  # noqa: BLE001 - already validated with the config; belt and braces
        raise ConfigError(f"slurm: {' '.join(str(exc).split())[:300]}") from None


def group_key(s: SlurmConfig) -> str:
    """Equal for trials that may share one job array."""
    return json.dumps(s.model_dump(mode="json"), sort_keys=True)


def _extra(items: List[str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        out[name[2:].replace("-", "_")] = value if sep else True
    return out


def parameters(s: SlurmConfig, job_name: str, workers: int) -> Dict[str, Any]:
    """submitit's SlurmExecutor parameters for trials of these settings."""
    params: Dict[str, Any] = {
        "job_name": job_name,
        "time": time_minutes(s.time),
        "cpus_per_task": s.cpus_per_task,
        "mem": s.mem,
        "signal_delay_s": s.signal_delay_s,
        "array_parallelism": max(1, int(workers)),
        "additional_parameters": {"requeue": True, **_extra(s.extra)},
    }
    for key in ("partition", "account", "qos", "constraint"):
        value = getattr(s, key)
        if value:
            params[key] = value
    gres = s.gres or (f"gpu:{s.gpus}" if s.gpus else None)
    if gres:
        params["gres"] = gres
    return params


def sbatch_script(s: SlurmConfig, job_name: str, workers: int, count: int, folder: str) -> str:
    """The sbatch script submitit would submit for ``count`` trials of these settings (``--dry-run``)."""
    import_submitit()
    import sys

    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([sys.executable, "-u -m submitit.core._submit", folder])
    params = dict(parameters(s, job_name, workers))
    if count > 1:
        params["map_count"] = count
    return _make_sbatch_string(command=command, folder=folder, **params)


def describe(s: SlurmConfig) -> str:
    """One line: the resources a trial asks for."""
    parts = [f"partition {s.partition or '(default)'}", f"time {s.time}", f"{s.cpus_per_task} CPU(s)",
             f"mem {s.mem}"]
    gres = s.gres or (f"gpu:{s.gpus}" if s.gpus else None)
    parts += [f"gres {gres}"] if gres else []
    parts += [f"{k} {getattr(s, k)}" for k in ("account", "qos", "constraint") if getattr(s, k)]
    parts += [" ".join(s.extra)] if s.extra else []
    return ", ".join(parts)


def groups(raws: List[Tuple[str, Dict[str, Any]]]) -> List[Tuple[SlurmConfig, List[str]]]:
    """(settings, trial names) per distinct ``slurm:`` block, in the trials' order."""
    out: Dict[str, Tuple[SlurmConfig, List[str]]] = {}
    for name, raw in raws:
        s = settings_of(raw)
        out.setdefault(group_key(s), (s, []))[1].append(name)
    return list(out.values())


def dry_run_text(raws: List[Tuple[str, Dict[str, Any]]], workers: int, sweep: str, folder: str,
                 search: Optional[int] = None) -> str:
    """What ``dlhw sweep --executor slurm --dry-run`` prints: per array, its trials, the resources and
    the sbatch script. ``search``: a search's budget (its trials are submitted one by one as the
    sampler proposes them, at most ``workers`` in the queue)."""
    lines: List[str] = []
    for i, (s, names) in enumerate(groups(raws)):
        if search is not None:
            lines.append(f"slurm: up to {search} trials of {sweep}, each a job of its own submitted as the sampler "
                         f"proposes it, at most {workers} in the queue; each asks: {describe(s)}")
            lines.append(sbatch_script(s, f"dlhw-{sweep}", workers, 1, folder))
            break
        n = len(names)
        shape = f"{n} task(s) --array=0-{n - 1}%{min(n, max(1, workers))}" if n > 1 else "1 job (no array)"
        lines.append(f"slurm: array {i + 1}: {shape}; each asks: {describe(s)}")
        for k, name in enumerate(names):
            lines.append(f"  task {k}: {name}")
        lines.append(sbatch_script(s, f"dlhw-{sweep}", workers, n, folder))
    return "\n".join(lines)
