"""``dlhw.sweep(path_or_dict, ...)`` and the Sweep it returns: a sweep folder, read as Python objects.

Every trial is validated before anything trains (a config error raises ``ConfigError`` with
``dlhw sweep``'s line); a trial that fails or diverges is recorded and the sweep goes on, as
on the command line: its Run says so (``Sweep.failed`` lists them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from dlhw.api.common import check_device, console_quiet, merge_base, override_list
from dlhw.errors import ConfigError

DEFAULT_METRIC = "val_accuracy"  # what `dlhw report` sorts by unless told otherwise


class Sweep:
    """A sweep folder: ``path``, ``runs``, ``table()``, ``best()``; ``results``: one dict per trial
    (name, status, val/test accuracy, train seconds, error), as the closing table shows them."""

    def __init__(self, path: str | Path, results: Optional[List[Dict[str, Any]]] = None, seconds: float = 0.0):
        self.path = Path(path)
        self.seconds = seconds
        self._results = results

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def manifest(self) -> Dict[str, Any]:
        """sweep.json as a dict (mid-sweep too: with sweep.jsonl's events applied; dlhw.rundir.records).
        A damaged sweep.json raises RecordError (a DataError) naming the file and what is wrong."""
        from dlhw.rundir.records import read_manifest_optional

        manifest = read_manifest_optional(self.path)
        return manifest.plain() if manifest is not None else {}

    @property
    def disk_bytes(self) -> int:
        """The sweep folder's size on disk: sweep.json's ``disk_bytes`` (measured when the sweep ended), else measured now."""
        value = self.manifest.get("disk_bytes")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        from dlhw.rundir.folder import folder_bytes

        return folder_bytes(self.path)

    @property
    def metric(self) -> str:
        """The metric the sweep is judged by: sweep.json's ``metric`` when it names one, else val_accuracy."""
        metric = self.manifest.get("metric")
        return metric if isinstance(metric, str) and metric else DEFAULT_METRIC

    @property
    def results(self) -> List[Dict[str, Any]]:
        if self._results is None:
            keys = ("name", "status", "error", "val_accuracy", "test_accuracy", "train_seconds")
            self._results = [{k: t.get(k) for k in keys} for t in self.manifest.get("trials", [])
                             if isinstance(t, dict)]
        return self._results

    @property
    def failed(self) -> List[Dict[str, Any]]:
        """The trials that failed (failed, diverged, interrupted, ...; a search's pruned and paused trials are not)."""
        from dlhw.rundir.states import Status

        return [r for r in self.results if not Status.parse(r.get("status")).ok]

    def _records(self):
        from dlhw.reports.collect import collect

        return collect([self.path])

    @property
    def runs(self) -> List[Any]:
        """A Run per trial folder, in the sweep's order."""
        from dlhw.api.run_folder import Run

        return [Run(r.path) for r in self._records() if r.path.is_dir()]

    def table(self, metric: Optional[str] = None):
        """The comparison table as a DataFrame: the columns of summary.csv, sorted by ``metric``."""
        import io

        import pandas as pd

        from dlhw.reports import table as T

        records = self._records()
        if not records:
            return pd.DataFrame()
        metric = T.check_metric(metric or self.metric, records)
        return pd.read_csv(io.StringIO(T.to_csv(T.build_rows(records, metric), metric)))

    def claims(self) -> List[Dict[str, Any]]:
        """The sweep file's claims with their verdicts, as ``dlhw report --check`` judges them: one dict
        each (claim, verdict, diff, low, high, level, p, p_holm, method, paired, n_a, n_b, reason)."""
        from dlhw.reports.claims import check_claims

        records = self._records()
        return [{"claim": r.claim.text, "verdict": r.verdict, "diff": r.diff, "low": r.low, "high": r.high,
                 "level": r.level, "p": r.p, "p_holm": r.p_holm, "method": r.method, "paired": r.paired,
                 "n_a": len(r.a), "n_b": len(r.b), "reason": r.reason} for r in check_claims(records)] if records else []

    def best(self, metric: Optional[str] = None):
        """The completed Run with the best ``metric`` (default: the sweep's metric, val_accuracy),
        e.g. best("test_accuracy"); losses, errors and times count lower as better. None when no
        completed run has that metric."""
        from dlhw.api.run_folder import Run
        from dlhw.reports import table as T
        from dlhw.reports.collect import metric_value

        records = self._records()
        if not records:
            return None
        from dlhw.evaluation.direction import higher_is_better

        metric = T.check_metric(metric or self.metric, records)
        scored = [(metric_value(r, metric), r) for r in records if r.status == "completed"]
        scored = [(v, r) for v, r in scored if v is not None]
        if not scored:
            return None
        sign = -1 if higher_is_better(metric) else 1  # ties: by name, as the table sorts them
        return Run(min(scored, key=lambda vr: (sign * vr[0], vr[1].name))[1].path)

    def __repr__(self) -> str:
        counts: Dict[str, int] = {}
        for r in self.results:
            counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
        return f"Sweep('{self.path}', {', '.join(f'{n} {s}' for s, n in counts.items()) or 'no trials'})"

    def _repr_html_(self) -> str:
        from dlhw.api.display import sweep_html

        return sweep_html(self)


def sweep(path: Any, overrides: Any = None, out: str | Path = "runs", workers: "int | str" = "auto", *,
          name: Optional[str] = None, executor: Optional[str] = None, address: Optional[str] = None,
          device: str = "auto", rerun: bool = False, quiet: bool = False, debug: bool = False,
          detach: bool = False, retry_failed: bool = False, repair: bool = False,
          new_study: bool = False) -> Sweep:
    """Run every trial of ``path`` (a folder of configs, a sweep file, or a sweep file's content as a
    dict: ``base:`` relative to the working folder, ``grid:``, ``repeats:``) into ``out/<sweep>/``;
    ``dlhw sweep`` does exactly this. Completed trials are skipped (``rerun`` trains them again).
    ``name``: the sweep folder's name for a dict (default: its ``name:``, else 'sweep').
    ``executor``: local, ray or slurm (default: the sweep file's ``executor:``, else local); with slurm,
    ``detach`` returns once the trials are submitted and ``retry_failed`` submits failed ones again.
    A search: ``repair`` rebuilds its study from the trial folders; ``new_study`` starts a new one when its
    definition changed (the old one is kept in ``.studies/``)."""
    from dlhw.runtime.log import get_logger
    from dlhw.sweeps import build_plan
    from dlhw.sweeps.engine import run_sweep

    check_device(device)
    executor = sweep_executor(path, executor)
    sets = override_list(overrides)
    with console_quiet(quiet):
        from dlhw.sweeps.planning.space import is_search, search_raw

        search = merge_base(path) if isinstance(path, Mapping) else \
            search_raw(path) if isinstance(path, (str, Path)) else None
        if search is not None and is_search(search):  # search: + space: -> an Optuna study (sweeps.sources.search)
            from dlhw.sweeps.planning.space import build_search

            label = (name or str(search.get("name") or "search")) if isinstance(path, Mapping) else path
            splan = build_search(label, sets, raw=search if isinstance(path, Mapping) else None)
            echo = get_logger(__name__).info  # the sweep's lines, through logging (quiet: off)
            outcome = run_sweep(splan, Path(out), workers=workers, executor=executor, address=address,
                                device=device, rerun=rerun, echo=echo, debug=debug, detach=detach,
                                retry_failed=retry_failed, progress=sweep_progress(quiet, echo),
                                repair=repair, new_study=new_study)
            return Sweep(outcome.sweep_dir, results=[r.to_dict() for r in outcome.results], seconds=outcome.seconds)
        if isinstance(path, Mapping):
            raw = merge_base(path)
            plan = build_plan(name or str(raw.get("name") or "sweep"), sets, raw=raw)
        elif isinstance(path, (str, Path)):
            plan = build_plan(path, sets)  # every trial validated before anything trains
        else:
            raise ConfigError(f"sweep: expected a folder of configs, a sweep file or a dict; "
                              f"received {type(path).__name__}")
        if repair or new_study:
            raise ConfigError(f"--{'repair' if repair else 'new-study'}: only for a search (search: + space:); "
                              f"{path} is a grid or a folder of configs")
        echo = get_logger(__name__).info  # the sweep's lines, through logging (quiet: off)
        outcome = run_sweep(plan, Path(out), workers=workers, executor=executor, address=address, device=device,
                            rerun=rerun, echo=echo, debug=debug, detach=detach, retry_failed=retry_failed,
                            progress=sweep_progress(quiet, echo))
    return Sweep(outcome.sweep_dir, results=[r.to_dict() for r in outcome.results], seconds=outcome.seconds)


def sweep_progress(quiet: bool, echo: Any) -> Any:
    """What a sweep shows while it runs (dlhw.sweeps.progress): on a terminal, each trial's start and
    end above its live epochs and the sweep's ETA; elsewhere one line per trial through ``echo``."""
    from dlhw.sweeps.progress import SweepProgress

    return SweepProgress(quiet=quiet, echo=echo)


def sweep_executor(path: Any, given: Optional[str]) -> str:
    """The executor: ``given`` (--executor), else a sweep file's (or dict's) ``executor:``, else local."""
    if given:
        return str(given)
    raw: Any = None
    if isinstance(path, Mapping):
        raw = path
    elif isinstance(path, (str, Path)) and Path(path).is_file():
        from dlhw.config.loader import load_raw

        raw = load_raw(path)
    value = raw.get("executor") if isinstance(raw, Mapping) else None
    if value is None:
        return "local"
    if value not in ("local", "ray", "slurm"):
        raise ConfigError(f"{path if not isinstance(path, Mapping) else 'sweep'}: executor: expected local, ray "
                          f"or slurm; received {value!r}")
    return str(value)
