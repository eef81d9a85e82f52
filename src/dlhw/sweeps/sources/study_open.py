"""Opening a search's study: checked against its definition (study.json), its journal checked
after a crash, rebuilt from the trial folders when lost or on ``--repair``, seeded by
``search.warm_start``; ``--new-study`` keeps the old one in ``.studies/N/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from dlhw.errors import ConfigError
from dlhw.rundir.records.search import STUDY_FILE, StudyDefinition, trial_folders
from dlhw.sweeps.planning.space import SearchPlan
from dlhw.sweeps.sources.journal import check_journal, check_params, rebuild_study, undo_interrupted_ask
from dlhw.sweeps.sources.study import JOURNAL, new_study


def definition_of(plan: SearchPlan):
    """The study's definition (study.json): what a rerun must match."""
    return StudyDefinition(name=plan.name, sampler=plan.spec.sampler, seed=plan.spec.seed, metric=plan.metrics,
                           directions=plan.directions, pruner=plan.pruner.model_dump(), space=plan.space,
                           scheduler=plan.scheduler.model_dump() if plan.scheduler.type != "none" else {},
                           trials=plan.budget, epochs=plan.epochs)


def open_study(plan: SearchPlan, sweep_dir: Path, echo=print, repair: bool = False, fresh: bool = False):
    """The search's study in ``sweep_dir/study.journal``: checked against study.json (a changed
    definition: ConfigError unless ``fresh``, which moves the old study aside), its journal checked
    (dlhw.sweeps.sources.journal), rebuilt from the trial folders on ``repair`` or when it is missing or
    empty beside them."""
    sweep_dir = Path(sweep_dir)
    definition = definition_of(plan)
    stored = StudyDefinition.read(sweep_dir / STUDY_FILE)
    if fresh:
        moved = archive_study(sweep_dir)
        if moved is not None:
            echo(f"--new-study: the earlier study and its trials are kept in {moved}")
    elif stored is not None:
        changed = stored.changes(definition)
        if changed:
            more = f" (and {len(changed) - 1} more change(s))" if len(changed) > 1 else ""
            raise ConfigError(f"{plan.source}: this search's definition changed since its study in {sweep_dir} "
                              f"began: {changed[0]}{more}; restore it, or start a new study with --new-study "
                              f"(the old one is kept in {sweep_dir / ARCHIVE})")
    journal = sweep_dir / JOURNAL
    if repair:
        study = rebuild_study(plan, sweep_dir, echo)
    elif not check_journal(journal, plan.source, echo) and trial_folders(sweep_dir):
        echo(f"{journal}: missing or empty beside {len(trial_folders(sweep_dir))} trial folder(s); "
             f"rebuilding the study from them (nothing finished is trained again)")
        study = rebuild_study(plan, sweep_dir, echo)
    else:
        try:
            study = new_study(plan, sweep_dir)
        except (ValueError, KeyError, TypeError) as exc:  # records Optuna cannot replay
            raise ConfigError(f"{journal}: cannot be replayed ({type(exc).__name__}: {str(exc)[:80]}); rebuild "
                              f"the study from the trial folders with: dlhw sweep {plan.source} --repair") from None
        if plan.spec.warm_start and not study.get_trials(deepcopy=False):
            from dlhw.sweeps.sources.warm_start import seed_study

            seed_study(study, plan, echo)
    have = [d.name.lower() for d in study.directions]
    if have != plan.directions:
        raise ConfigError(f"{plan.source}: search.metric: the study in {journal} optimises "
                          f"{len(have)} value(s) ({', '.join(have)}), this file {', '.join(plan.directions)}; "
                          f"start a new study with --new-study")
    if not repair and undo_interrupted_ask(study, plan, journal, sweep_dir):
        study = new_study(plan, sweep_dir)
    check_params(study, plan.keys, journal, plan.source)
    definition.write(sweep_dir / STUDY_FILE)
    return study


ARCHIVE = ".studies"  # earlier studies (--new-study), each in its own numbered folder; a dot: no report reads it


def archive_study(sweep_dir: Path) -> Optional[Path]:
    """Move everything a study left in ``sweep_dir`` (journal, study.json, sweep.json, trial folders)
    into ``sweep_dir/.studies/<n>/``; None when there is nothing."""
    from dlhw.runtime.locks import LOCK_FILE

    items = [p for p in Path(sweep_dir).iterdir() if p.name not in (LOCK_FILE, ARCHIVE)] \
        if Path(sweep_dir).is_dir() else []
    if not items:
        return None
    root = Path(sweep_dir) / ARCHIVE
    root.mkdir(exist_ok=True)
    n = 1
    while (root / str(n)).exists():
        n += 1
    target = root / str(n)
    target.mkdir()
    for p in items:
        p.rename(target / p.name)
    return target
