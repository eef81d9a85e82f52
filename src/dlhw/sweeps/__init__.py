"""Sweeps: many trials from one folder or sweep file (plan), run locally or on Ray (execute, session).

``build_plan(path, sets)`` expands and validates; ``run_sweep(plan, out, ...)``
trains what is not already done. No heavy imports at package level.
"""

from dlhw.sweeps.planning.plan import SweepPlan, Trial, build_plan

__all__ = ["SweepPlan", "Trial", "build_plan"]
