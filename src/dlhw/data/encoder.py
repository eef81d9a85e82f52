"""The tabular encoder: a CSV's whole transformation as one fitted object, saved as JSON.

``TabularEncoder.fit(df, ...)`` decides each feature column's kind and learns what encoding it
needs from the table; ``fit_scale(train_x)`` learns the standardisation from the training split.
The same object, written into the run folder (``preprocessing.json``, key ``encoder``) and read
back with ``from_json``, turns rows into model inputs for training, evaluation and ``dlhw
predict``: predict cannot drift from training because it runs the same code on the same numbers.

Column kinds, in the order their values appear in a row's encoding:

- ``numeric``: the number, standardised (train mean / std) unless ``dataset.standardize: false``;
- ``categorical``: a text column, one-hot over the categories of the table (sorted); a category
  not seen in training encodes as all zeros (predict warns);
- ``text``: a text column of sentences (3 or more words per cell on average), multi-hot over its
  most frequent words (at most ``VOCABULARY`` of them, lower-cased).

Missing feature cells are refused unless ``dataset.impute: true``: then a numeric cell takes the
column's median and a text cell the category ``MISSING``. The target: class values in sorted order
(classification), numbers (regression, multilabel). No pickles: ``to_json`` is plain JSON data.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.errors import DataError, shorten

FORMAT = 1
VOCABULARY = 200
MISSING = "(missing)"
WORD = re.compile(r"\w+")


@dataclass
class Column:
    name: str
    kind: str  # numeric | categorical | text
    values: List[str] = field(default_factory=list)  # categories or vocabulary, in encoding order
    fill: Any = None  # imputed value (median or MISSING); None: missing cells are refused

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.values)


def _is_text(col) -> bool:
    return col.dtype == object or str(col.dtype).startswith(("string", "str", "category"))


def _words(cell: Any) -> List[str]:
    return WORD.findall(str(cell).lower())


def _kind(col, name: str, path: Path) -> str:
    from dlhw.data.table import numeric_or_error, to_numbers

    if not _is_text(col):
        return "numeric"
    present = col.dropna()
    if len(present) and to_numbers(present).notna().mean() >= 0.9:  # numbers with a stray word
        numeric_or_error(present, name, path)
    if len(present) and np.mean([len(_words(v)) for v in present]) >= 3:
        return "text"
    return "categorical"


def _class_value(v: Any) -> Any:
    """A label as a JSON value (numpy scalars to Python)."""
    return v.item() if isinstance(v, np.generic) else v


class TabularEncoder:
    """Feature columns -> float32 rows, target column(s) -> labels; see the module doc."""

    def __init__(self, columns: List[Column], targets: List[str], task: str,
                 classes: Optional[List[Any]] = None, scale: Optional[Dict[str, List[float]]] = None):
        self.columns, self.targets, self.task = columns, targets, task
        self.classes, self.scale_stats = classes, scale

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, df, features: List[str], targets: List[str], task: str, path: Path,
            impute: bool = False) -> "TabularEncoder":
        """Kinds, categories, vocabularies, fills and classes learnt from the table ``df``."""
        cols = [cls._fit_column(df[f], f, path, impute) for f in features]
        numeric = [c for c in cols if c.kind == "numeric"]
        ordered = numeric + [c for c in cols if c.kind == "categorical"] + [c for c in cols if c.kind == "text"]
        enc = cls(ordered, list(targets), task)
        if task == "classification":
            enc.classes = enc._fit_classes(df, path)
        return enc

    @staticmethod
    def _fit_column(col, name: str, path: Path, impute: bool) -> Column:
        kind = _kind(col, name, path)
        present = col.dropna()
        fill = None
        if impute:
            fill = float(np.median(present.to_numpy(dtype=np.float64))) if kind == "numeric" and len(present) else (
                0.0 if kind == "numeric" else MISSING)
        if kind == "numeric":
            return Column(name, kind, fill=fill)
        cells = present.astype(str)
        if kind == "categorical":
            values = sorted(set(cells.tolist()) | ({MISSING} if impute and col.isna().any() else set()))
            return Column(name, kind, values, fill)
        counts = Counter(w for v in cells for w in set(_words(v)))
        vocab = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:VOCABULARY]]
        return Column(name, kind, vocab, fill)

    def _fit_classes(self, df, path: Path) -> List[Any]:
        if len(self.targets) != 1:
            from dlhw.errors import ConfigError

            raise ConfigError(f"dataset.target: classification takes one label column; received {self.targets}")
        col = df[self.targets[0]]
        check_labels(col, self.targets[0], path)
        values = sorted(col.unique().tolist(), key=lambda v: (isinstance(v, str), v))
        if len(values) < 2:
            raise DataError(f"{path}: target column '{self.targets[0]}' has a single value ({values[0]}); "
                            f"need 2 or more classes")
        return [_class_value(v) for v in values]

    def fit_scale(self, x_train: np.ndarray) -> None:
        """Mean and std of the numeric columns, from the training split's encoded rows."""
        k = self.numeric_width
        if not k:
            return
        mean, std = x_train[:, :k].mean(axis=0), x_train[:, :k].std(axis=0)
        std[std == 0] = 1.0
        self.scale_stats = {"mean": mean.tolist(), "std": std.tolist()}

    # ---------------------------------------------------------------- applying
    @property
    def numeric_width(self) -> int:
        return sum(1 for c in self.columns if c.kind == "numeric")

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def features(self) -> List[str]:
        return [c.name for c in self.columns]

    def encode(self, df, path: Path, unseen: str = "ignore") -> np.ndarray:
        """The rows of ``df`` as unscaled float32 features (``unseen='warn'``: warn about categories
        training never saw; they encode as zeros)."""
        missing = [f for f in self.features if f not in df.columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; the run was trained on columns: "
                            f"{', '.join(self.features)}")
        blocks = [self._encode_column(df[c.name], c, path, unseen) for c in self.columns]
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(df), 0), np.float32)

    def _encode_column(self, col, c: Column, path: Path, unseen: str) -> np.ndarray:
        if col.isna().any():
            if c.fill is None:
                from dlhw.data.table import missing_or_error

                missing_or_error(col.to_frame(c.name), [c.name], path)
            col = col.fillna(c.fill)
        if c.kind == "numeric":
            from dlhw.data.table import numeric_or_error

            return numeric_or_error(col, c.name, path).to_numpy(dtype=np.float32)[:, None]
        cells = col.astype(str).to_numpy()
        if c.kind == "categorical":
            if unseen == "warn":
                new = sorted(set(cells) - set(c.values))
                if new:
                    from dlhw.runtime.log import get_logger

                    get_logger(__name__).warning(f"{path}: column '{c.name}' holds value(s) not seen in training "
                         f"({', '.join(shorten(v) for v in new[:5])}); they encode as all-zero")
            return (cells[:, None] == np.array(c.values, dtype=object)[None, :]).astype(np.float32)
        index = {w: i for i, w in enumerate(c.values)}
        out = np.zeros((len(cells), len(c.values)), np.float32)
        for r, cell in enumerate(cells):
            for w in _words(cell):
                if w in index:
                    out[r, index[w]] = 1.0
        return out

    def scale(self, x: np.ndarray) -> np.ndarray:
        """``x`` with its numeric columns standardised (in place), as float32."""
        x = x.astype(np.float32, copy=False)
        if self.scale_stats:
            k = len(self.scale_stats["mean"])
            x[:, :k] = ((x[:, :k] - np.array(self.scale_stats["mean"], np.float32))
                        / np.array(self.scale_stats["std"], np.float32))
        return x

    def transform(self, df, path: Path, unseen: str = "ignore") -> np.ndarray:
        """Model inputs for the rows of ``df``: encode, then scale (training, evaluate, predict)."""
        return self.scale(self.encode(df, path, unseen))

    def encode_target(self, df, path: Path) -> np.ndarray:
        """Class indices (classification) or float rows (regression, multilabel)."""
        from dlhw.data.table import numeric_or_error

        if self.task == "classification":
            col = df[self.targets[0]]
            check_labels(col, self.targets[0], path)
            lookup = {v: i for i, v in enumerate(self.classes or [])}
            return col.map(lambda v: lookup[_class_value(v)]).to_numpy(dtype=np.int64)
        y = np.stack([numeric_or_error(df[t], t, path).to_numpy(dtype=np.float32) for t in self.targets], axis=1)
        empty = [t for j, t in enumerate(self.targets) if np.isnan(y[:, j]).all()]
        if empty:
            raise DataError(f"{path}: target column '{empty[0]}' is empty in every row; nothing to learn it from")
        if self.task == "multilabel" and not np.isin(y, (0, 1)).all():
            raise DataError(f"{path}: multilabel targets {self.targets} must hold only 0 and 1")
        return y

    @property
    def class_names(self) -> List[str]:
        if self.task == "classification":
            return [str(v) for v in self.classes or []]
        return list(self.targets) if self.task == "multilabel" else []

    # ------------------------------------------------------------------- JSON
    def to_json(self) -> Dict[str, Any]:
        return {"format": FORMAT, "task": self.task, "targets": self.targets, "classes": self.classes,
                "columns": [asdict(c) for c in self.columns], "scale": self.scale_stats}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "TabularEncoder":
        if int(data.get("format", 0)) > FORMAT:
            raise DataError(f"encoder: format {data.get('format')} is newer than this dlhw reads ({FORMAT}); "
                            f"upgrade dlhw")
        return cls([Column(**c) for c in data["columns"]], list(data.get("targets") or []), data["task"],
                   data.get("classes"), data.get("scale"))

    @classmethod
    def from_preprocessing(cls, pre: Dict[str, Any]) -> "TabularEncoder":
        """The encoder of a run folder: its ``encoder`` key, or built from the older form
        (features, numeric, categorical, standardize) that runs before the encoder wrote."""
        if pre.get("encoder"):
            return cls.from_json(pre["encoder"])
        numeric = [Column(n, "numeric") for n in pre.get("numeric") or []]
        cats = [Column(n, "categorical", list(v)) for n, v in (pre.get("categorical") or {}).items()]
        st = pre.get("standardize")
        scale = {"mean": st["mean"], "std": st["std"]} if st else None
        classes = list(pre.get("class_names") or []) if pre.get("task") == "classification" else None
        return cls(numeric + cats, list(pre.get("targets") or []), pre.get("task", "classification"), classes, scale)


def check_labels(col, name: str, path: Path) -> None:
    """Class labels that are labels: none missing, no complex numbers, not numbers and text mixed."""
    missing = col.isna().to_numpy()
    if missing.any():
        lines = (np.flatnonzero(missing)[:3] + 2).tolist()
        raise DataError(f"{path}: label column '{name}' has {int(missing.sum())} empty/NaN label(s) (lines {lines}); "
                        f"every row needs a class: fill or drop those rows")
    kinds = {type(_class_value(v)).__name__ for v in col.unique().tolist()}
    if "complex" in kinds:
        raise DataError(f"{path}: label column '{name}' holds complex numbers; a class label is a name or a number")
    if "str" in kinds and kinds - {"str"}:
        raise DataError(f"{path}: label column '{name}' mixes text and numbers ({', '.join(sorted(kinds))}); "
                        f"use one kind of label")
