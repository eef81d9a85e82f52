"""Sweeps: many trials from one folder, sweep file or search file, run by one engine.

planning/   plans and names (plan), a search space (space: ``build_search``), the dry runs, the
            preflight data checks
sources/    sources of trials: grid (and random subsets), directory, repeats (and folds), planned
            (``build_plan``: those as one list), search (an Optuna study, and its study module)
executors/  where trials run: local (serial or a process pool), Ray; one module each
engine.py   one sweep: checks, lock, sweep.json, resume, dispatch, the record of each outcome
manifest.py sweep.json; resume.py what is done with a trial an earlier run left; records.py Job and
            Result; feed.py the jobs an executor takes one at a time

``run_sweep(plan, out, ...)`` (dlhw.sweeps.engine) trains what is not already done. No heavy
imports at package level.
"""

from dlhw.sweeps.planning.plan import SweepPlan, Trial
from dlhw.sweeps.sources.planned import build_plan

__all__ = ["SweepPlan", "Trial", "build_plan"]
