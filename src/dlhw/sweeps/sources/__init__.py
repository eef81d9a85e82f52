"""Sources of trials for the sweep engine (the interface: :mod:`dlhw.sweeps.sources.base`).

``planned``: a fixed list (grid points and random subsets from ``grid``, config files from
``directory``, repeats and folds from ``repeats``); ``search``: an Optuna study asked as workers
free up (its study: ``study``). :func:`source_for` picks the source of a plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlhw.sweeps.sources.base import TrialSource


def source_for(plan: Any, repair: bool = False, new_study: bool = False) -> "TrialSource":
    """The source of trials of a SweepPlan (build_plan) or a SearchPlan (build_search; ``repair`` and
    ``new_study``: --repair, --new-study)."""
    from dlhw.sweeps.planning.space import SearchPlan

    if isinstance(plan, SearchPlan):
        from dlhw.sweeps.sources.search import SearchSource

        return SearchSource(plan, repair=repair, new_study=new_study)
    from dlhw.sweeps.sources.planned import PlannedSource

    return PlannedSource(plan)
