"""``search.warm_start: <earlier sweep folder>``: a new study starts knowing an earlier search's results.

The finished (completed) trials of the earlier search whose parameters fit this space (every
key present, every value inside its range or among its choices) are added to the new study as
completed trials, so the sampler starts from them. They are not this search's trials: they have
no folder here, do not count against ``trials`` and are not trained again; the rest are skipped,
counted in one line. A folder that is no search's sweep folder: one line, exit 2, before anything
is written (``planning.space.warm_start_folder``, called when the search file is read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from dlhw.errors import ConfigError
from dlhw.rundir.records import manifest_entries, status_word
from dlhw.rundir.states import Status

WARM = "dlhw_warm_start"  # system attribute of a study trial seeded from an earlier search (its folder)


def earlier_trials(plan, folder: Path) -> List[Tuple[str, Dict[str, Any], Optional[List[float]]]]:
    """(folder name, stored params, values) of each completed trial of the earlier search."""
    from dlhw.rundir.records.search import TRIAL_FILE, TrialRecord, trial_folders
    from dlhw.sweeps.sources.study import trial_values

    entries = manifest_entries(folder)
    by_key = {p.key: p for p in plan.params}
    out: List[Tuple[str, Dict[str, Any], Optional[List[float]]]] = []
    for _, run in sorted(trial_folders(folder).items()):
        if status_word(run) != Status.COMPLETED:
            out.append((run.name, {}, None))
            continue
        try:
            rec = TrialRecord.read(run / TRIAL_FILE)
        except ConfigError:
            rec = None
        if rec is not None:
            params = dict(rec.params)
        else:
            varied = (entries.get(run.name) or {}).get("varied") or {}
            params = {k: by_key[k].stored(v) if k in by_key else v for k, v in varied.items()}
        out.append((run.name, params, trial_values(plan, run)))
    return out


def fits(plan, params: Dict[str, Any]) -> bool:
    if set(params) != set(plan.keys):
        return False
    for p in plan.params:
        dist = p.distribution()
        try:
            if not dist._contains(dist.to_internal_repr(params[p.key])):
                return False
        except (ValueError, TypeError):
            return False
    return True


def seed_study(study, plan, echo: Callable[[str], None]) -> int:
    """Add the earlier search's fitting trials to ``study`` (empty); returns how many."""
    from dlhw.sweeps.sources.study import import_optuna

    optuna = import_optuna()
    from dlhw.sweeps.planning.space import warm_start_folder

    folder = warm_start_folder(plan.spec.warm_start, plan.source)
    dists = {p.key: p.distribution() for p in plan.params}
    added = skipped = 0
    for name, params, values in earlier_trials(plan, folder):
        if values is None or not fits(plan, params):
            skipped += 1
            continue
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists,
                                                  values=values, system_attrs={WARM: str(folder / name)}))
        added += 1
    echo(f"search.warm_start: {added} finished trial(s) of {folder} seed the study; {skipped} skipped "
         f"(not completed, or parameters outside this space)")
    return added
