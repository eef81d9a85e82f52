"""One ``dlhw sweep`` invocation: decide what to run, run it, keep sweep.json current.

Completed trials whose resolved config hash matches are skipped (``rerun``
forces them); unfinished ones (failed, diverged, interrupted, stale) and
trials whose config changed are trained again into their own folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.errors import ConfigError
from dlhw.runs import read_json, read_status
from dlhw.sweep import execute
from dlhw.sweep.manifest import Manifest, trial_state
from dlhw.sweep.plan import SweepPlan

EXECUTORS = ("local", "ray")
RESUMABLE = ("interrupted", "stale")  # failed and diverged trials train again from scratch


@dataclass
class SweepOutcome:
    sweep_dir: Path
    results: List[Dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> List[Dict[str, Any]]:
        return [r for r in self.results if r["status"] not in ("completed", "skipped", "running")]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _done_result(name: str, run_dir: Path) -> Dict[str, Any]:
    m = read_json(run_dir / "metrics.json") or {}
    val, test = m.get("val") or {}, m.get("test") or {}
    return {"name": name, "status": "skipped", "error": None, "train_seconds": m.get("train_seconds"),
            "val_accuracy": val.get("accuracy"), "test_accuracy": test.get("accuracy"),
            "val_loss": val.get("loss"), "best_epoch": m.get("best_epoch"),
            "params": (m.get("params") or {}).get("total")}


def run_sweep(plan: SweepPlan, out: Path, workers: int = 1, executor: str = "local", address: Optional[str] = None,
              device: str = "auto", rerun: bool = False,
              echo: Callable[[str], None] = print, debug: bool = False) -> SweepOutcome:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected local or ray; received '{executor}'")
    if workers < 1:
        raise ConfigError(f"--workers: expected 1 or more; received {workers}")
    if address and executor != "ray":
        raise ConfigError("--address: only used with --executor ray")
    if executor == "ray":
        execute.check_address(address)  # a missing extra or a wrong --address: found before anything runs
    sweep_dir = Path(out) / plan.name
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {sweep_dir}: {exc.strerror}") from None
    manifest = Manifest(plan, sweep_dir, executor, workers)
    outcome = SweepOutcome(sweep_dir)
    jobs = []
    trials = plan.trials
    if workers > 1 or executor == "ray":  # a pool starts the longest trials first
        from dlhw.sweep.manifest import longest_first, past_timings

        trials = longest_first(trials, past_timings(Path(out)))
    for t in trials:
        state = trial_state(t, sweep_dir)
        if state == "done" and not rerun:
            res = _done_result(t.name, sweep_dir / t.name)
            outcome.results.append(res)
            manifest.update(t.name, status="completed", skipped=True,
                            **{k: res[k] for k in ("train_seconds", "val_accuracy", "test_accuracy", "params")})
            continue
        if state == "running":  # never overwrite a run that is training right now, even with --rerun
            pid = read_status(sweep_dir / t.name).get("pid")
            echo(f"{t.name}: being trained by another process (pid {pid}); left alone")
            outcome.results.append({"name": t.name, "status": "running", "error": f"running elsewhere (pid {pid})"})
            manifest.update(t.name, status="running", error=f"running elsewhere (pid {pid})")
            continue
        resume = False
        if state == "changed":
            echo(f"{t.name}: config changed, training it again")
        elif state == "unfinished":
            previous = read_status(sweep_dir / t.name).get("status", "unknown")
            resume = previous in RESUMABLE and not rerun
            echo(f"{t.name}: unfinished ({previous}), " + ("resuming it from its last checkpoint" if resume
                                                           else "training it again"))
        jobs.append({"name": t.name, "raw": t.raw, "source": f"{t.source} (trial {t.name})",
                     "out": str(sweep_dir), "device": device, "resume": resume})
    skipped = sum(1 for r in outcome.results if r["status"] == "skipped")
    gpus = execute.visible_gpus() if device != "cpu" else []
    where = f"{workers} worker{'s' if workers > 1 else ''}" + (f", {len(gpus)} GPU(s)" if gpus else "")
    echo(f"sweep {plan.name}: {len(plan.trials)} trials, {len(jobs)} to run"
         + (f", {skipped} already completed (skipped; --rerun forces)" if skipped else "")
         + (f" on {where}" if jobs else "") + (" via Ray" if executor == "ray" and jobs else ""))
    for job in jobs:
        manifest.update(job["name"], status="queued", error=None, skipped=False)
    done = [0]
    start = time.time()

    def on_result(res: Dict[str, Any]) -> None:
        done[0] += 1
        outcome.results.append(res)
        fields = {k: res.get(k) for k in ("status", "error", "train_seconds", "seconds", "val_accuracy",
                                          "test_accuracy", "params", "best_epoch", "pid", "resumed")}
        manifest.update(res["name"], **fields)
        note = f"val acc {res['val_accuracy']:.4f}" if isinstance(res.get("val_accuracy"), (int, float)) else (res.get("error") or "")
        echo(f"[{done[0]}/{len(jobs)}] {res['name']}: {res['status']} ({res.get('seconds') or 0:.1f}s) {note}".rstrip())

    try:
        if not jobs:
            pass
        elif executor == "ray":
            execute.run_ray(jobs, workers, address, on_result, echo=echo, debug=debug)
        elif workers == 1 or len(jobs) == 1:
            execute.run_serial(jobs, on_result)
        else:
            execute.run_pool(jobs, min(workers, len(jobs)), gpus, on_result)
    except KeyboardInterrupt:
        for job in jobs:
            if manifest._by_name[job["name"]]["status"] == "queued":
                manifest.update(job["name"], status="interrupted", error="the sweep was interrupted")
        raise
    outcome.seconds = time.time() - start
    order = {t.name: i for i, t in enumerate(plan.trials)}
    outcome.results.sort(key=lambda r: order.get(r["name"], 0))
    return outcome
