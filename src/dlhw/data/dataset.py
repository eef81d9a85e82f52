"""The Dataset value every source returns, and the seeded stratified split.

A Dataset holds train / val / test splits either as NumPy arrays (tabular data,
small image sets from Keras or scikit-learn) or as image file lists streamed
through tf.data (image folders, never loaded whole). Labels are integer class
indices for classification, multi-hot rows for multilabel and float rows for
regression; the loss decides the encoding later (dlhw.models.outputs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from dlhw.runtime.log import get_logger

log = get_logger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """One split: arrays ``x`` or image ``files``, and labels ``y``."""

    y: np.ndarray
    x: Optional[np.ndarray] = None
    files: Optional[List[str]] = None

    def __len__(self) -> int:
        return int(len(self.y))

    def take(self, idx: np.ndarray) -> "Split":
        return Split(
            y=self.y[idx],
            x=None if self.x is None else self.x[idx],
            files=None if self.files is None else [self.files[i] for i in idx],
        )

    @staticmethod
    def concat(parts: Sequence["Split"]) -> "Split":
        """One Split of several of the same kind, in order."""
        return Split(y=np.concatenate([p.y for p in parts]),
                     x=None if parts[0].x is None else np.concatenate([p.x for p in parts]),
                     files=None if parts[0].files is None else [f for p in parts for f in p.files])


@dataclass
class Dataset:
    """Everything downstream needs to know about the data."""

    splits: Dict[str, Split]
    class_names: List[str]
    input_shape: tuple
    task: str = "classification"
    fingerprint: str = ""
    unseen: Optional[Split] = None
    unseen_names: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)

    def _split(self, split: Union[str, Split]) -> Split:
        return self.splits[split] if isinstance(split, str) else split

    def in_memory(self, split: Union[str, Split] = "train") -> bool:
        """How ``split`` is batched, decided here and nowhere else: True for arrays held in memory
        (``x``: tabular data, Keras and scikit-learn image arrays), False for image files decoded
        batch by batch through tf.data (image folders: never loaded whole)."""
        return self._split(split).files is None

    def image_batches(self, split: Union[str, Split], batch_size: int, y: Optional[np.ndarray] = None, **kw: Any):
        """A tf.data pipeline of ``split``'s images, decoded in batches (with labels ``y`` when given);
        ``kw``: shuffle, seed, cache (dlhw.data.image_cache.tf_images). For splits that are not in memory."""
        from dlhw.data.image_cache import tf_images

        return tf_images(self._split(split).files, y, self.meta["image_size"], self.meta["channels"], batch_size, **kw)

    def batches(self, split: Union[str, Split], batch_size: int, limit: Optional[int] = None) -> Iterable:
        """``split``'s inputs (no labels) in batches of ``batch_size``, the first ``limit`` only when
        given: slices of the arrays, or decoded image batches."""
        s = self._split(split)
        n = len(s) if limit is None else min(int(limit), len(s))
        if self.in_memory(s):
            return (s.x[i:min(i + batch_size, n)] for i in range(0, n, batch_size))
        return self.image_batches(s if n == len(s) else s.take(np.arange(n)), batch_size)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_targets(self) -> int:
        y = self.splits["train"].y
        return 1 if y.ndim == 1 else int(y.shape[1])

    def counts(self) -> Dict[str, Dict[str, int]]:
        """Samples per class per split (classification), or per split."""
        out: Dict[str, Dict[str, int]] = {}
        for name, s in self.splits.items():
            if self.task == "classification":
                c = np.bincount(s.y.astype(int), minlength=self.num_classes)
                out[name] = {cn: int(n) for cn, n in zip(self.class_names, c)}
            else:
                out[name] = {"samples": len(s)}
        return out


def fingerprint(*parts: Any) -> str:
    """A short stable hash of arrays, strings and numbers."""
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(str(p.dtype).encode() + str(p.shape).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()[:16]


def stratified_indices(
    y: np.ndarray, fractions: Sequence[float], seed: int, stratify: bool = True
) -> List[np.ndarray]:
    """Split range(len(y)) into len(fractions) seeded parts, per class when ``stratify``.

    Each class contributes round(n * fraction) samples to every split after the
    first; the first split (train) takes the rest, and always keeps at least one
    sample of each class.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    groups = [np.arange(n)]
    if stratify:
        labels = y.astype(int)
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: List[List[int]] = [[] for _ in fractions]
    for g in groups:
        g = rng.permutation(g)
        start = 0
        sizes = [int(round(len(g) * f)) for f in fractions[1:]]
        while sum(sizes) > len(g) - 1 and any(sizes):
            sizes[int(np.argmax(sizes))] -= 1
        ends = [len(g) - sum(sizes)] + sizes
        for k, size in enumerate(ends):
            parts[k].extend(g[start:start + size].tolist())
            start += size
    return [rng.permutation(np.array(p, dtype=int)) for p in parts]


def split_arrays(
    whole: Split, fractions: Dict[str, float], seed: int, stratify: bool
) -> Dict[str, Split]:
    """train / val / test Splits of one Split, seeded and (optionally) stratified."""
    idx = stratified_indices(whole.y, [fractions[s] for s in SPLITS], seed, stratify)
    return {name: whole.take(i) for name, i in zip(SPLITS, idx)}


def subsample(whole: Split, n: int, seed: int, stratify: bool) -> Split:
    """At most n samples, keeping class proportions."""
    if len(whole) <= n:
        return whole
    keep, _ = stratified_indices(whole.y, [n / len(whole), 1 - n / len(whole)], seed, stratify)
    return whole.take(np.sort(keep))


OTHER_CLASS = "other"  # the extra class of dataset.other_classes (outlier exposure)


def select_classes(
    splits: Dict[str, Split], class_names: List[str], wanted: Sequence[Any], key: str = "dataset.classes",
    other: Optional[Sequence[Any]] = None,
) -> tuple[Dict[str, Split], List[str], Split, List[str]]:
    """Keep the ``wanted`` classes (remapped to 0..k-1); the rest become the unseen set.

    ``other`` (dataset.other_classes): these classes stay in every split as one extra class
    k named "other" (outlier exposure); only the classes in neither list are unseen.

    Returns (known splits, known names (+ "other"), unseen split with labels indexing
    ``unseen_names``, unseen_names).
    """
    from dlhw.errors import ConfigError, did_you_mean

    def check(names: List[str], k: str) -> None:
        missing = [w for w in names if w not in class_names]
        if missing:
            raise ConfigError(
                f"{k}: class {missing[0]!r} is not in the data{did_you_mean(missing[0], class_names)}; "
                f"classes are: {', '.join(class_names[:30])}"
            )

    wanted_names = [str(w) for w in wanted]
    check(wanted_names, key)
    if len(set(wanted_names)) < 2:
        raise ConfigError(f"{key}: keep at least 2 classes; received {list(wanted)}")
    other_names = [str(w) for w in other or []]
    check(other_names, "dataset.other_classes")
    known_idx = [class_names.index(w) for w in class_names if w in wanted_names]
    other_idx = [class_names.index(w) for w in class_names if w in other_names and w not in wanted_names]
    unseen_idx = [i for i in range(len(class_names)) if i not in known_idx and i not in other_idx]
    remap = {old: new for new, old in enumerate(known_idx)}
    remap.update({old: len(known_idx) for old in other_idx})
    uremap = {old: new for new, old in enumerate(unseen_idx)}
    known: Dict[str, Split] = {}
    unseen_parts: List[Split] = []
    for name, s in splits.items():
        labels = s.y.astype(int)
        mask = np.isin(labels, known_idx + other_idx)
        k = s.take(np.flatnonzero(mask))
        k.y = np.array([remap[v] for v in k.y.astype(int)], dtype=np.int64)
        known[name] = k
        if name == "test":  # unseen samples come from the held-out split only
            u = s.take(np.flatnonzero(~mask))
            u.y = np.array([uremap[v] for v in u.y.astype(int)], dtype=np.int64)
            unseen_parts.append(u)
    unseen = unseen_parts[0]
    names = [class_names[i] for i in known_idx] + ([OTHER_CLASS] if other_idx else [])
    return known, names, unseen, [class_names[i] for i in unseen_idx]


VALIDATION_ON_TEST = ("validation data is the test split (dataset.validation: test), as the study did; "
                      "val and test figures are the same data, not an independent test")


def use_test_for_validation(dataset: Dataset, cfg) -> Dataset:
    """``dataset.validation: test``: make the test split the validation data, for any source.

    Applied once, after the source has made its splits (schema: split.val is 0). Records
    the choice in ``dataset.meta['validation']`` (metrics.json and the report show it),
    says so on the console and warns when early stopping watches it (the test figure is
    then optimistic: the test data chose the epoch)."""
    from dlhw.errors import DataError

    dcfg = cfg.dataset
    if getattr(dcfg, "validation", "split") != "test":
        dataset.meta.setdefault("validation", "val split")
        return dataset
    test, val = dataset.splits["test"], dataset.splits["val"]
    where = dcfg.path or dcfg.name
    if len(val):
        raise DataError(f"dataset.validation: test, but {where} already has a validation split "
                        f"({len(val)} samples, e.g. a val/ folder); remove it or use validation: split")
    if not len(test):
        raise DataError(f"dataset.validation: test, but the test split of {where} is empty; "
                        f"give dataset.split.test a fraction > 0 or add a test/ folder")
    dataset.splits["val"] = test
    dataset.meta["validation"] = "test split"
    log.info(f"validation: the test split ({len(test)} samples) is the validation data, as the study did; "
             f"val and test figures are the same data")
    monitors = [s.early_stopping.monitor for s in cfg.stages() if s.early_stopping is not None]
    if any(m.startswith("val_") for m in monitors):
        log.warning(f"early stopping watches {monitors[0]} on the test split (dataset.validation: test): "
                    f"the test data chooses the epoch, so the test figures are optimistic")
    return dataset


def validation_findings(dataset: Dataset) -> List[Dict[str, Any]]:
    """A report note (metrics.json ``diagnostics``) when the validation data is the test split."""
    if dataset.meta.get("validation") != "test split":
        return []
    return [{"kind": "val_is_test", "message": VALIDATION_ON_TEST}]


def check_input_shape(dcfg, dataset: Dataset, source: Optional[str] = None) -> None:
    """A DataError when ``dataset.input_shape`` was given and the data's samples differ."""
    if not dcfg.input_shape or tuple(dcfg.input_shape) == tuple(dataset.input_shape):
        return
    from dlhw.errors import DataError

    prefix = f"{source}: " if source else ""
    raise DataError(f"{prefix}dataset.input_shape: {list(dcfg.input_shape)}, but the samples of "
                    f"{dcfg.path or dcfg.name} have shape {list(dataset.input_shape)}; fix input_shape or omit it")
