"""Fixed-length sequences (steps, channels) for 1-D convolutions (S3, question 3).

``dataset.source: sequences`` reads, by the file's suffix:

- ``.npz``: arrays ``x`` (N, steps) or (N, steps, channels) and ``y`` (N labels), as
  ``np.savez(path, x=..., y=...)`` writes them;
- ``.npy``: the inputs as above, the labels in the .npy file ``dataset.labels``;
- ``.csv``: one sequence per line, comma-separated: the label first, then the values step by
  step with the channels interleaved (step 1 channel 1, step 1 channel 2, ..., step 2 channel 1,
  ...), no header or a header line of names; ``dataset.input_shape: [steps, channels]`` says
  how each line's values are shaped (default: one channel, as many steps as values).

Values are used as they are (no scaling). Labels: class names or numbers (classification),
numbers (regression), 0/1 rows (multilabel). ``array_header`` reads an array's shape without
its data, for ``dlhw summary``. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from dlhw.data.dataset import Dataset, Split
from dlhw.errors import ConfigError, DataError, shorten

NPZ_KEYS = ("x", "y")
SUFFIXES = (".npz", ".npy", ".csv")


def kind_of(path: str | Path) -> str:
    """'npz', 'npy' or 'csv' from the file's suffix; a ConfigError naming the choices otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"dataset.path: source sequences reads .npz, .npy or .csv files; received {shorten(str(path))}")
    return suffix[1:]


def _load_npy(path: Path, key: str, mmap: bool = False, limits: Any = None) -> np.ndarray:
    """The array of a .npy file, its header checked against ``dataset.limits`` first (dlhw.data.limits)."""
    from dlhw.data.limits import array_budget, limits_of, read_array_header

    try:
        with open(path, "rb") as f:
            shape, dtype = read_array_header(f)
            stored = path.stat().st_size - f.tell()
        array_budget(f"{key}: {path}", shape, dtype, limits_of() if limits is None else limits, stored)
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{key}: cannot read {path} as a .npy array ({' '.join(str(exc).split())[:160]}); "
                        f"save it with np.save and a number or text dtype") from None


def _npz_member(path: Path, name: str, header_only: bool = False, limits: Any = None):
    """Array ``name`` of the .npz file ``path`` (its shape only when ``header_only``); its header is
    checked against ``dataset.limits`` before the data is read (dlhw.data.limits)."""
    from dlhw.data.limits import array_budget, limits_of, read_array_header

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"dataset.path: cannot read {path} as a .npz file ({exc})") from None
    with zf:
        held = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        if name not in held:
            raise DataError(f"dataset.path: {path} has no array '{name}' (it holds: {', '.join(held) or 'none'}); "
                            f"save the inputs as x and the labels as y: np.savez(path, x=inputs, y=labels)")
        member = zf.getinfo(f"{name}.npy")
        try:
            with zf.open(member) as f:
                shape, dtype = read_array_header(f)
                if header_only:
                    return shape
                stored = member.file_size - f.tell()
                array_budget(f"dataset.path: {path}, array '{name}'", shape, dtype,
                             limits_of() if limits is None else limits, stored)
            with zf.open(member) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"dataset.path: cannot read array '{name}' of {path} "
                            f"({' '.join(str(exc).split())[:160]})") from None


def array_header(cfg) -> Tuple[int, ...]:
    """The inputs' array shape (N, steps[, channels]) of a .npz / .npy sequences file, without
    reading the data (``dlhw summary``)."""
    path = Path(cfg.path)
    if kind_of(path) == "npz":
        return _npz_member(path, "x", header_only=True)
    return tuple(_load_npy(path, "dataset.path", mmap=True).shape)


def read_labels(cfg) -> np.ndarray:
    """The labels alone of a sequences file (the CSV's first column is read line by line)."""
    path = Path(cfg.path)
    kind = kind_of(path)
    if kind == "npz":
        return np.asarray(_npz_member(path, "y"))
    if kind == "npy":
        return np.asarray(_load_npy(Path(cfg.labels), "dataset.labels"))
    return np.array([row[0] for _, row in _csv_rows(path)])


def csv_width(path: str | Path) -> Optional[int]:
    """How many values follow the label on a sequences CSV's first line (None: no lines)."""
    return next((len(row) - 1 for _, row in _csv_rows(Path(path))), None)


def _csv_rows(path: Path):
    """(line number, cells) of each non-empty line; a first line of names only (a header) skipped."""
    with open(path, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if number == 1 and len(row) > 1 and not any(_is_number(c) for c in row[1:]):
                continue  # a header: names, not values
            yield number, row


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _read_csv(path: Path, input_shape: Optional[List[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """(x as N x steps x channels, labels) of a sequences CSV; wrong lengths and cells name the line."""
    expected = int(np.prod(input_shape)) if input_shape else None
    shape_note = (f" (dataset.input_shape {list(input_shape)}: "
                  + " x ".join(str(v) for v in input_shape) + ")") if input_shape else ""
    first = None
    labels: List[str] = []
    rows: List[List[str]] = []
    try:
        for number, row in _csv_rows(path):
            values = row[1:]
            if expected is None:
                expected, first = len(values), number
                shape_note = f" (like line {first}: every sequence has the same length)"
            if len(values) != expected:
                raise DataError(f"{path}: line {number} holds a sequence of {len(values)} values; expected "
                                f"{expected}{shape_note}")
            labels.append(row[0].strip())
            rows.append(values)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file ({exc.reason}); source sequences reads .csv as text") from None
    except csv.Error as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None
    if not rows:
        raise DataError(f"{path}: no sequences (one per line: the label, then the values)")
    try:
        x = np.array(rows, dtype=np.float32)
    except ValueError:
        for (number, _), values in zip(_csv_rows(path), rows):
            bad = next((v for v in values if not _is_number(v)), None)
            if bad is not None:
                raise DataError(f"{path}: line {number} holds {shorten(bad)} where a number belongs; "
                                f"every value after the label must be a number") from None
        raise
    steps_channels = list(input_shape) if input_shape else [expected, 1]
    if len(steps_channels) == 1:
        steps_channels.append(1)
    return x.reshape([len(rows)] + steps_channels), np.array(labels)


def _inputs(cfg) -> Tuple[np.ndarray, np.ndarray]:
    path = Path(cfg.path)
    kind = kind_of(path)
    if kind == "csv":
        return _read_csv(path, cfg.input_shape)
    limits = getattr(cfg, "limits", None)
    if kind == "npz":
        return np.asarray(_npz_member(path, "x", limits=limits)), np.asarray(_npz_member(path, "y", limits=limits))
    labels = Path(cfg.labels)
    if not labels.is_file():
        raise DataError(f"dataset.labels: .npy file not found: {labels}")
    return _load_npy(path, "dataset.path", limits=limits), _load_npy(labels, "dataset.labels", limits=limits)


def _check_x(x: np.ndarray, path: str) -> np.ndarray:
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{path}: the inputs hold no sequences (shape {list(x.shape)}); give at least a few "
                        f"per class")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: the inputs must be numbers; received an array of dtype {x.dtype}")
    if x.ndim == 2:
        x = x[..., None]  # (N, steps): one channel
    if x.ndim != 3:
        raise DataError(f"{path}: the inputs must be (samples, steps) or (samples, steps, channels); "
                        f"received shape {list(x.shape)}")
    x = x.astype(np.float32)
    bad = ~np.isfinite(x).reshape(len(x), -1).all(axis=1)
    if bad.any():
        raise DataError(f"{path}: sequence {int(np.flatnonzero(bad)[0])} (0-based) holds NaN or inf values "
                        f"({int(bad.sum())} such sequences); fix or drop them")
    return x


def check_label_values(y: np.ndarray, where: str, task: str) -> None:
    """Labels that are labels: some, no complex numbers, none missing (NaN or empty text) for
    classification and multilabel, not a regression target missing in every row."""
    if y.ndim == 0 or len(y) == 0:
        raise DataError(f"{where}: no labels (shape {list(y.shape)})")
    if y.dtype.kind == "c":
        raise DataError(f"{where}: labels are complex numbers (dtype {y.dtype}); a label is a class name or "
                        f"a real number")
    if y.dtype.kind in "US":
        empty = np.char.strip(y.astype(str)) == ""
        if empty.any():
            i = int(np.flatnonzero(empty.ravel())[0])
            raise DataError(f"{where}: {int(empty.sum())} empty label(s) (the first at index {i}); every "
                            f"sequence needs one")
    if y.dtype.kind == "f":
        missing = np.isnan(y).reshape(len(y), -1)
        if task != "regression" and missing.any():
            i = int(np.flatnonzero(missing.any(axis=1))[0])
            raise DataError(f"{where}: {int(missing.any(axis=1).sum())} label(s) are NaN (the first at index "
                            f"{i}); give every sequence a label or drop it")
        if task == "regression" and missing.all(axis=0).any():
            raise DataError(f"{where}: a target is NaN in every row; nothing to learn it from")


def _labels(y: np.ndarray, task: str, path: str, n: int) -> Tuple[np.ndarray, List[str]]:
    """(labels in dlhw's encoding, class names) for ``task``."""
    check_label_values(y, path, task)
    if len(y) != n:
        raise DataError(f"{path}: {n} sequences but {len(y)} labels; give one label per sequence")
    if task == "classification":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataError(f"{path}: classification takes one label per sequence; received labels of shape "
                            f"{list(y.shape)}")
        values: List[Any] = y.tolist()
        if y.dtype.kind in "US" and all(_is_number(v) for v in values):
            values = [float(v) for v in values]  # a CSV's labels arrive as text
            if any(v != v for v in values):
                raise DataError(f"{path}: {sum(v != v for v in values)} label(s) read as NaN; give every "
                                f"sequence a class")
        if values and all(isinstance(v, float) and v.is_integer() for v in values):
            values = [int(v) for v in values]
        classes = sorted(set(values), key=lambda v: (isinstance(v, str), v))
        if len(classes) < 2:
            raise DataError(f"{path}: every label is {shorten(classes[0]) if classes else 'missing'}; "
                            f"need 2 or more classes")
        lookup = {v: i for i, v in enumerate(classes)}
        return np.array([lookup[v] for v in values], dtype=np.int64), [str(c) for c in classes]
    try:
        y = np.asarray(y, dtype=np.float32)
    except ValueError:
        raise DataError(f"{path}: task {task} needs numeric labels; received {shorten(y[:3].tolist())}") from None
    y = y.reshape(len(y), -1)
    if task == "multilabel":
        if not np.isin(y, (0, 1)).all():
            raise DataError(f"{path}: multilabel labels must hold only 0 and 1")
        return y, [str(i) for i in range(y.shape[1])]
    return y, []


def _split(whole: Split, names: List[str], cfg, task: str, seed: int) -> Tuple[dict, List[str], Any, List[str]]:
    """(splits, class names, unseen split, unseen names): max_samples, the seeded split and
    dataset.classes, as every in-memory source does (dlhw.data.sources)."""
    from dlhw.data.dataset import SPLITS, select_classes, subsample
    from dlhw.data.folds import make_splits

    stratify = task == "classification"
    if cfg.max_samples:
        whole = subsample(whole, cfg.max_samples, seed, stratify)
    fractions = cfg.split.model_dump()
    splits = make_splits(whole, cfg, seed, stratify, names)  # the seeded split, or one fold of dataset.folds
    unseen, unseen_names = None, []
    if cfg.classes:
        if not stratify:
            raise ConfigError(f"dataset.classes: only for classification; task is {task}")
        splits, names, unseen, unseen_names = select_classes(splits, names, cfg.classes,
                                                             other=getattr(cfg, "other_classes", None))
    for name in SPLITS:
        if len(splits[name]) == 0 and (name == "train" or fractions[name] > 0 or getattr(cfg, "folds", None)):
            raise DataError(f"dataset.split: the {name} split is empty; use more data or larger fractions")
    return splits, names, unseen, unseen_names


def load_sequences(cfg, task: str, seed: int) -> Dataset:
    """The registered ``sequences`` source: a Dataset of (steps, channels) arrays, split as usual."""
    from dlhw.data.dataset import fingerprint

    path = Path(cfg.path)
    if not path.is_file():
        raise DataError(f"dataset.path: sequences file not found: {path}")
    x, y = _inputs(cfg)
    x = _check_x(x, str(path))
    where = {"npz": f"{path}, array 'y'", "npy": f"dataset.labels: {cfg.labels}",
             "csv": f"{path}, column 1 (the labels)"}[kind_of(path)]
    y, names = _labels(np.asarray(y), task, where, len(x))
    meta: Dict[str, Any] = {"source": "sequences", "path": str(path), "format": kind_of(path),
                            "steps": int(x.shape[1]), "channels": int(x.shape[2])}
    if cfg.labels:
        meta["labels"] = str(cfg.labels)
    splits, names, unseen, unseen_names = _split(Split(y=y, x=x), names, cfg, task, seed)
    return Dataset(splits=splits, class_names=names, input_shape=tuple(x.shape[1:]), task=task,
                   fingerprint=fingerprint(x, y, cfg.classes, cfg.max_samples), unseen=unseen,
                   unseen_names=unseen_names, meta=meta)


def predict_inputs(paths, input_shape) -> Tuple[np.ndarray, List[str]]:
    """(inputs, one name per sequence) for ``dlhw predict`` on a sequences run: .npz files (their
    x; y, if any, is ignored), .npy files, or CSV files with a sequence per line, with or without
    the label first."""
    shape = [int(v) for v in input_shape]
    n = int(np.prod(shape))
    xs, names = [], []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise DataError(f"{path}: input not found")
        kind = kind_of(path)
        if kind == "csv":
            rows = []
            for number, row in _csv_rows(path):
                values = row[1:] if len(row) == n + 1 else row
                if len(values) != n:
                    raise DataError(f"{path}: line {number} holds a sequence of {len(row)} values; expected {n} "
                                    f"(the run's input shape {shape}), or {n + 1} with the label first")
                try:
                    rows.append(np.array(values, dtype=np.float32))
                except ValueError:
                    raise DataError(f"{path}: line {number} holds a value that is not a number") from None
                names.append(f"{path.name}:{number}")
            x = np.array(rows, dtype=np.float32).reshape([len(rows)] + shape)
        else:
            x = _check_x(np.asarray(_npz_member(path, "x") if kind == "npz" else _load_npy(path, str(path))),
                         str(path))
            if list(x.shape[1:]) != shape:
                raise DataError(f"{path}: sequences of shape {list(x.shape[1:])}; the run was trained on {shape}")
            names.extend(f"{path.name}:{i}" for i in range(len(x)))
        xs.append(x)
    return np.concatenate(xs), names
