"""A search's Optuna study (dlhw.sweeps.sources.search): sampler, pruner, the journal file in the sweep
folder, and ``StudyReporter``, through which a trial reports its metric every epoch and hears
whether to stop (from any process on this machine: the journal file is shared with file locks).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.errors import ConfigError
from dlhw.rundir.records import read_metrics
from dlhw.sweeps.planning.space import SearchPlan

JOURNAL = "study.journal"
OPTUNA_HINT = 'pip install "dlhw[search]"'


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError(f"search: needs Optuna; install it with: {OPTUNA_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number``: a function of the search's seed and the number alone,
    so what a trial is proposed depends only on the seed and the trials before it, never on how
    many times the search was started (a rerun after a crash asks exactly what an unbroken run asks)."""
    import hashlib

    digest = hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def make_sampler(plan: SearchPlan, number: Optional[int] = None):
    """The search's sampler; ``number``: seeded for that trial (``trial_seed``). QMC and grid keep
    the search's seed: their order is already a function of the seed and the trial numbers (the
    grid is shuffled once by the seed and trial N takes its N-th point)."""
    import warnings

    optuna = import_optuna()
    s, seed = plan.spec.sampler, plan.spec.seed
    if number is not None and s not in ("qmc", "grid"):
        seed = trial_seed(seed, number)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if s == "tpe":  # constant_liar: trials still running count as bad, so N workers do not all ask the same
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if s == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s == "grid":
        return optuna.samplers.GridSampler({p.key: p.grid() for p in plan.params}, seed=seed)
    if s == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    if s == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    import importlib.util

    if importlib.util.find_spec("cmaes") is None:
        raise ConfigError("search.sampler: cmaes needs the cmaes package: pip install cmaes")
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


def new_study(plan: SearchPlan, sweep_dir: Path):
    """A study in ``sweep_dir/study.journal`` (created the first time, else loaded)."""
    optuna = import_optuna()
    return optuna.create_study(study_name=plan.name, storage=storage(Path(sweep_dir) / JOURNAL),
                               sampler=make_sampler(plan), pruner=make_pruner(plan.pruner.model_dump(), plan.epochs),
                               directions=plan.directions, load_if_exists=True)


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
        trial: Any = self._trial
        trial.report(float(value), int(epoch))
        return bool(trial.should_prune())

    def __call__(self, epoch: int, logs: Dict[str, Any]) -> bool:
        return self.report_value(epoch, logs.get(self.metric))


def trial_values(plan: SearchPlan, run_dir: Path) -> Optional[List[float]]:
    """The metric(s) of a completed trial, from its metrics.json (None when one is missing)."""
    m = read_metrics(run_dir, tolerant=True) or {}
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
