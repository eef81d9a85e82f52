"""The trial-source interface: what the sweep engine (:mod:`dlhw.sweeps.engine`) asks of a source.

A source is what a sweep file or folder says to train: a fixed list of trials (a grid, a folder
of configs, a random subset of a grid, repeats, folds: :mod:`dlhw.sweeps.sources.planned`, built
by :mod:`dlhw.sweeps.planning.plan`), or trials made one at a time as workers free up (an Optuna
search: :mod:`dlhw.sweeps.sources.search`). The engine does the rest the same way for all: the
checks before any folder is made, the lock, sweep.json, tracking, dispatch to an executor, the
record of each outcome, the closing order.

The engine calls, in order:
  ``check(options, sweep_dir)``  before anything is written: refuse options the source cannot
                        honour, and what an earlier run in ``sweep_dir`` rules out; check the
                        packages it needs. Then every trial's config and data (:func:`configs`
                        feeds :mod:`dlhw.sweeps.planning.preflight`)
  ``manifest(...)``     its sweep.json (:class:`dlhw.sweeps.manifest.Manifest`)
  ``open(ctx)``         under the lock: look at what an earlier run left (skip, resume, adopt)
                        and return the Feed of jobs still to run (``ctx.job(...)`` makes a Job)
  ``announce(ctx, n)``  the line that opens the sweep (the engine adds where it runs)
  ``run(feed, dispatch)`` hands the feed to the executor (``dispatch(feed)``): at once, or in
                        rounds with a barrier between them (a search's rungs: each round a
                        Feed of its own, planned when the previous one has ended)
  ``told(res)``         per result, before the engine records it: what else sweep.json keeps
                        of it and the figures to show (a search tells its study here)
  ``close(outcome)``    the closing order of the results
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from dlhw.sweeps.records import Result

if TYPE_CHECKING:
    from dlhw.sweeps.context import Context, SweepOptions, SweepOutcome
    from dlhw.sweeps.feed import Feed
    from dlhw.sweeps.manifest import Manifest


class TrialSource(ABC):
    """One kind of sweep: where its trials come from, what it records of them."""

    kind: str = "sweep"   # the first word of the opening line: sweep | search
    name: str             # the sweep folder's name
    source: str           # the file or folder it was read from

    def check(self, options: "SweepOptions", sweep_dir: Path) -> None:  # noqa: B027 - an optional hook
        """Refuse what cannot run, before anything is written (ConfigError / DataError: exit 2).
        ``sweep_dir``: where the sweep will write (it may hold an earlier run's folders)."""

    @abstractmethod
    def configs(self) -> Iterator[Tuple[str, Any]]:
        """(label, validated ExperimentConfig) of every kind of trial this source can produce:
        each trial of a list; for a search, the base config, each category and both extremes
        of each range. The preflight checks their data before anything is written."""

    @abstractmethod
    def size(self) -> int:
        """How many trials at most (sizes ``--workers auto``)."""

    @abstractmethod
    def manifest(self, sweep_dir: Any, executor: str, workers: Any) -> "Manifest":
        """The sweep's sweep.json, made or read back."""

    def tracking(self) -> Tuple[Optional[Any], Dict[str, Any]]:
        """(the config whose tracking.mlflow / tracking.wandb settings hold, the parent run's parameters)."""
        return None, {}

    def hparams(self, sweep_dir: Any) -> Any:
        """TensorBoard's HParams log of the trials (dlhw.tracking.hparams.HParamsLog)."""
        raise NotImplementedError

    @abstractmethod
    def open(self, ctx: "Context") -> "Feed":
        """Under the lock: what earlier runs left is skipped, resumed or adopted; the jobs to run."""

    @abstractmethod
    def announce(self, ctx: "Context", to_run: int) -> str:
        """The opening line, without where it runs."""

    def run(self, feed: "Feed", dispatch: Callable[["Feed"], None]) -> None:
        """Hand the jobs to the executor: by default the feed at once."""
        dispatch(feed)

    def told(self, res: Result) -> Tuple[Dict[str, Any], str]:
        """(extra sweep.json fields of this result, the figures to show after it)."""
        acc = res.val_accuracy
        return {}, (f"val acc {acc:.4f}" if isinstance(acc, (int, float)) else (res.error or ""))

    def close(self, outcome: "SweepOutcome") -> None:  # noqa: B027 - an optional hook
        """Put ``outcome.results`` in the closing order (and add what earlier runs finished)."""

    def order(self, results: List[Result], names: List[str]) -> None:
        """Sort ``results`` in place by ``names`` (unknown names last, as they came)."""
        rank = {n: i for i, n in enumerate(names)}
        results.sort(key=lambda r: rank.get(r.name, len(rank)))
