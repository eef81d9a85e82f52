"""``dlhw sweep SEARCH.yaml``: an Optuna study asked for trials as workers free up.

The study lives in the sweep folder (``study.journal``, Optuna's JournalFileStorage: a file, no
server). Each trial is an ordinary run folder, ``<number>_<values>``, listed in sweep.json with its
status, its parameters and its value. ``--workers N`` keeps N trials training (sweeps.pool, fed
one trial at a time: a worker that finishes gets the next trial at once, no batches); ``--executor
ray`` does the same with Ray tasks, the study on the driver and each epoch reported through a Ray
actor beside it. A trial reports its metric every epoch to the pruner (``StudyReporter``: the
journal file itself, from any process on this machine); a pruned trial ends with status
``pruned``, neither failed nor completed.

Resume: run the same command again. Completed, pruned and failed trials are kept; a trial the
study still shows running (the sweep was killed) continues from its checkpoint with the same
parameters and number; the study never holds more than ``trials`` trials in all.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.errors import ConfigError
from dlhw.rundir import layout
from dlhw.rundir.folder import read_json
from dlhw.sweeps.space import SearchPlan

JOURNAL = "study.journal"
OPTUNA_HINT = 'pip install "dlhw[search]"'


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError(f"search: needs Optuna; install it with: {OPTUNA_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_sampler(plan: SearchPlan):
    optuna = import_optuna()
    s, seed = plan.spec.sampler, plan.spec.seed
    if s == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if s == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s == "grid":
        return optuna.samplers.GridSampler({p.key: p.grid() for p in plan.params}, seed=seed)
    if s == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    if s == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise ConfigError("search.sampler: cmaes needs the cmaes package: pip install cmaes") from None
    return optuna.samplers.CmaEsSampler(seed=seed)


def make_pruner(pruner: Dict[str, Any], epochs: int):
    optuna = import_optuna()
    kind = pruner.get("type", "none")
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=pruner.get("startup_trials", 1),
                                           n_warmup_steps=max(0, pruner.get("min_epochs", 1) - 1))
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=pruner.get("min_epochs", 1),
                                                      reduction_factor=pruner.get("reduction_factor", 3))
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=pruner.get("min_epochs", 1), max_resource=max(1, epochs),
                                              reduction_factor=pruner.get("reduction_factor", 3))
    return optuna.pruners.NopPruner()


def storage(journal: Path):
    optuna = import_optuna()
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))


def open_study(plan: SearchPlan, sweep_dir: Path):
    """The search's study in ``sweep_dir/study.journal``, created the first time."""
    optuna = import_optuna()
    study = optuna.create_study(study_name=plan.name, storage=storage(Path(sweep_dir) / JOURNAL),
                                sampler=make_sampler(plan), pruner=make_pruner(plan.pruner.model_dump(), plan.epochs),
                                directions=plan.directions, load_if_exists=True)
    have = [d.name.lower() for d in study.directions]
    if have != plan.directions:
        raise ConfigError(f"{plan.source}: search.metric: the study in {Path(sweep_dir) / JOURNAL} optimises "
                          f"{len(have)} value(s) ({', '.join(have)}), this file {', '.join(plan.directions)}; "
                          f"give another --out or remove that study")
    return study


# ------------------------------------------------------------------ reporting
class StudyReporter:
    """A trial's ``report(epoch, logs) -> prune?``, through the journal file (any process on this machine)."""

    def __init__(self, journal: str, study: str, pruner: Dict[str, Any], epochs: int, number: int, metric: str):
        self.journal, self.study, self.pruner, self.epochs = journal, study, pruner, epochs
        self.number, self.metric = number, metric
        self._trial = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_trial"} | {"_trial": None}

    def report_value(self, epoch: int, value: Optional[float]) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self._trial is None:
            optuna = import_optuna()
            study = optuna.load_study(study_name=self.study, storage=storage(Path(self.journal)),
                                      pruner=make_pruner(self.pruner, self.epochs))
            trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, self.number)
            self._trial = optuna.trial.Trial(study, trial_id)
        self._trial.report(float(value), int(epoch))
        return bool(self._trial.should_prune())

    def __call__(self, epoch: int, logs: Dict[str, Any]) -> bool:
        return self.report_value(epoch, logs.get(self.metric))


def trial_values(plan: SearchPlan, run_dir: Path) -> Optional[List[float]]:
    """The metric(s) of a completed trial, from its metrics.json (None when one is missing)."""
    m = read_json(Path(run_dir) / layout.METRICS) or {}
    out = []
    for key in plan.metrics:
        if key in ("params_total", "params_trainable"):
            v = (m.get("params") or {}).get(key.split("_", 1)[1])
        elif key in m:
            v = m.get(key)
        else:
            split, name = key.split("_", 1)
            v = (m.get(split) or {}).get(name) if isinstance(m.get(split), dict) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        out.append(float(v))
    return out


# ------------------------------------------------------------------ the search
def run_search(plan: SearchPlan, out: Path, workers: "int | str" = "auto", executor: str = "local",
               address: Optional[str] = None, device: str = "auto", rerun: bool = False,
               echo: Callable[[str], None] = print, debug: bool = False):
    from dlhw.sweeps import execute, ray_exec
    from dlhw.sweeps.session import EXECUTORS, sweep_folder

    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected local or ray; received '{executor}'")
    workers = execute.parse_workers(workers)
    if address and executor != "ray":
        raise ConfigError("--address: only used with --executor ray")
    if rerun:
        raise ConfigError("--rerun: a search keeps its study and its trials; to start afresh, give another --out "
                          "or remove the sweep folder")
    make_sampler(plan)  # Optuna (and the sampler's own package) present: said before anything runs
    if executor == "ray":
        ray_exec.check_address(address)
    sweep_dir = sweep_folder(plan, out)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {sweep_dir}: {exc.strerror}") from None
    from dlhw.runtime.locks import acquire

    with acquire(sweep_dir, "sweep folder"):
        from dlhw.sweeps.search_loop import SearchLoop

        return SearchLoop(plan, sweep_dir, workers, executor, address, device, echo, debug).run()
