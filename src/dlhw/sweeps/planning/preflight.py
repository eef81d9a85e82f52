"""Check everything before writing anything: every trial a sweep can produce gets its data.

The configs themselves are validated where they are made (each trial of a plan by
``build_plan``; a search's base, each category and both extremes of each range by
``build_search``). Here each distinct dataset section among them is checked as ``dlhw validate``
checks it (the CSV file, the image folder and its class folders exist), and a Keras dataset is in
the Keras cache or can be downloaded now (each source's ``fetch_problem``). The first problem stops the sweep before its folder is
made: one line naming the trial, exit 2. No TensorFlow is imported.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Optional, Tuple

from dlhw.errors import DataError, DlhwError


def data_problem(cfg: Any, label: str) -> Optional[str]:
    """Why ``cfg``'s data cannot be had (its paths as ``dlhw validate`` checks them, and what its source
    fetches at run time, such as a Keras dataset not cached and not downloadable now), or None."""
    from dlhw.data.sources import check_data_paths, source_for

    try:
        check_data_paths(cfg.dataset, label)
    except DlhwError as exc:
        return str(exc)
    why = source_for(cfg.dataset.source).fetch_problem(cfg.dataset)
    return f"{label}: {why}" if why else None


def check_trials(configs: Iterable[Tuple[str, Any]], source: str) -> None:
    """DataError (exit 2) for the first trial whose data cannot be had; each dataset section once."""
    seen: Dict[str, Optional[str]] = {}
    total = bad = 0
    first: Optional[str] = None
    for label, cfg in configs:
        total += 1
        key = json.dumps(cfg.dataset.model_dump(), sort_keys=True, default=str)
        if key not in seen:
            seen[key] = data_problem(cfg, label)
        if seen[key] is not None:
            bad += 1
            first = first or seen[key]
    if first is not None:
        what = "" if total == 1 else f"{bad} of {total} trial configs cannot get their data (nothing written): "
        raise DataError(f"{what}{first}")
