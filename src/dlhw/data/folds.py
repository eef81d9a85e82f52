"""How a source's samples become train / val / test: the seeded split, or one fold of K.

``make_splits`` is what the sources that split the data themselves call (sklearn, csv, an
image folder without train/ val/ test/ sub-folders):

- without ``dataset.folds``: the stratified fractions of ``dataset.split`` (dlhw.data.dataset);
- with ``dataset.folds: K``: the samples are dealt, class by class and in a seeded order,
  into K folds of (nearly) equal size; fold ``dataset.fold`` is the test set and
  validation comes out of the other K-1 folds, stratified, in the proportion
  ``split.val / (split.train + split.val)``. The K runs of a cross-validation
  (``dlhw sweep`` makes them, one per fold) share the seed, so their test folds are
  disjoint and together cover every sample once.

The seed is ``dataset.split_seed`` when given, else the run's seed (``split_seed``).
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from dlhw.data.dataset import Split, split_arrays, stratified_indices
from dlhw.errors import ConfigError, DataError


def split_seed(cfg) -> int:
    """The seed of the data split: ``dataset.split_seed``, else the run's ``seed``."""
    s = getattr(cfg.dataset, "split_seed", None)
    return int(cfg.seed if s is None else s)


def fold_indices(y: np.ndarray, folds: int, seed: int, stratify: bool,
                 class_names: Optional[List[str]] = None) -> List[np.ndarray]:
    """K disjoint index arrays covering range(len(y)): per class (when ``stratify``), a seeded
    permutation dealt into K nearly equal parts. Refuses a class with fewer than K samples."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if stratify:
        labels = y.astype(int)
        groups = [(c, np.flatnonzero(labels == c)) for c in np.unique(labels)]
    else:
        groups = [(None, np.arange(n))]
    for c, g in groups:
        if len(g) < folds:
            what = "the data has" if c is None else (
                f"class {class_names[c] if class_names and c < len(class_names) else c!r} has")
            raise DataError(f"dataset.folds: {folds} folds need at least {folds} samples of every class; "
                            f"{what} {len(g)}")
    parts: List[List[int]] = [[] for _ in range(folds)]
    for _, g in groups:
        for k, chunk in enumerate(np.array_split(rng.permutation(g), folds)):
            parts[k].extend(chunk.tolist())
    return [np.sort(np.array(p, dtype=int)) for p in parts]


def make_splits(whole: Split, dcfg, seed: int, stratify: bool,
                class_names: Optional[List[str]] = None) -> Dict[str, Split]:
    """train / val / test of ``whole``: the seeded fractions, or fold ``dcfg.fold`` of ``dcfg.folds``."""
    folds = getattr(dcfg, "folds", None)
    if not folds:
        return split_arrays(whole, dcfg.split.model_dump(), seed, stratify)
    fold = int(dcfg.fold or 0)
    test_idx = fold_indices(whole.y, folds, seed, stratify, class_names)[fold]
    rest = np.setdiff1d(np.arange(len(whole)), test_idx)
    val_frac = dcfg.split.val / max(dcfg.split.train + dcfg.split.val, 1e-9)
    train_i, val_i = stratified_indices(whole.y[rest], [1 - val_frac, val_frac], seed + 1, stratify)
    return {"train": whole.take(rest[train_i]), "val": whole.take(rest[val_i]), "test": whole.take(test_idx)}


def refuse_folds(dcfg, why: str) -> None:
    """A source that does not split the data itself (keras' official test set, a folder already
    split into train/ val/ test/) cannot make folds: one line saying so."""
    if getattr(dcfg, "folds", None):
        raise ConfigError(f"dataset.folds: {why}; cross-validation needs data dlhw splits itself "
                          f"(sklearn, csv, image_csv, sequences, or an image folder of class sub-folders); received folds={dcfg.folds}")


def check_one_run(cfg) -> None:
    """``dlhw run`` trains one model: a config with ``dataset.folds: K`` and no ``dataset.fold`` is
    K runs, which ``dlhw sweep`` makes (one per fold, reported as mean ± std)."""
    d = cfg.dataset
    if d.folds and d.fold is None:
        raise ConfigError(f"dataset.folds: {d.folds} folds are {d.folds} runs; run them with `dlhw sweep CONFIG` "
                          f"(mean ± std in dlhw report), or one of them with --set dataset.fold=0..{d.folds - 1}; "
                          f"received no dataset.fold")
