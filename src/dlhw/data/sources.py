"""Data sources: scikit-learn toy sets, CSV files and Keras's downloadable sets.

Each source is a registered function ``(cfg: DatasetConfig, task, seed) -> Dataset``.
Image folders live in dlhw.data.images, sequences in dlhw.data.sequences. Heavy imports stay
inside the functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.data.dataset import SPLITS, Dataset, Split, fingerprint, split_arrays, subsample
from dlhw.errors import ConfigError, DataError, did_you_mean, shorten
from dlhw.registry import Registry, lazy

SOURCES: Registry = Registry("dataset.source")
SOURCES.register("image_folder", lazy("dlhw.data.images", "load_image_folder"))
SOURCES.register("sequences", lazy("dlhw.data.sequences", "load_sequences"))

SKLEARN_SETS = ("breast_cancer", "digits", "iris", "wine")
KERAS_SETS = ("cifar10", "cifar100", "fashion_mnist", "imdb", "mnist", "reuters")


def _standardize(splits: Dict[str, Split], meta: Dict[str, Any]) -> None:
    """Scale features to zero mean, unit variance using train statistics only."""
    x = splits["train"].x
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    for s in splits.values():
        s.x = ((s.x - mean) / std).astype(np.float32)
    meta["standardize"] = {"mean": mean.tolist(), "std": std.tolist()}


def _finish(whole: Split, names: List[str], cfg, task: str, seed: int, meta: Dict[str, Any],
            scale: bool = True) -> Dataset:
    stratify = task == "classification"
    if cfg.max_samples:
        whole = subsample(whole, cfg.max_samples, seed, stratify)
    from dlhw.data.folds import make_splits

    splits = make_splits(whole, cfg, seed, stratify, names)
    return _build(splits, names, cfg, task, meta, scale, whole)


def _build(splits, names, cfg, task, meta, scale, whole) -> Dataset:
    from dlhw.data.dataset import select_classes

    unseen, unseen_names = None, []
    if cfg.classes:
        if task != "classification":
            raise ConfigError(f"dataset.classes: only for classification; task is {task}")
        splits, names, unseen, unseen_names = select_classes(splits, names, cfg.classes,
                                                             other=getattr(cfg, "other_classes", None))
    if scale and getattr(cfg, "standardize", True):  # dataset.standardize: false feeds the values as they are
        _standardize(splits, meta)
        if unseen is not None:
            st = meta["standardize"]
            unseen.x = ((unseen.x - np.array(st["mean"])) / np.array(st["std"])).astype(np.float32)
    for name in SPLITS:
        if len(splits[name]) == 0 and (name == "train" or cfg.split.model_dump()[name] > 0):
            raise DataError(f"dataset.split: the {name} split is empty; use more data or larger fractions")
    return Dataset(
        splits=splits,
        class_names=names,
        input_shape=tuple(splits["train"].x.shape[1:]),
        task=task,
        fingerprint=fingerprint(whole.x, whole.y, cfg.classes, cfg.max_samples,
                                *([cfg.other_classes] if getattr(cfg, "other_classes", None) else [])),
        unseen=unseen,
        unseen_names=unseen_names,
        meta=meta,
    )


# --------------------------------------------------------------------- sklearn
@SOURCES.register("sklearn")
def load_sklearn(cfg, task: str, seed: int) -> Dataset:
    import sklearn.datasets as skd

    if cfg.name not in SKLEARN_SETS:
        raise ConfigError(
            f"dataset.name: unknown sklearn dataset '{cfg.name}'{did_you_mean(cfg.name, SKLEARN_SETS)}; "
            f"choose one of: {', '.join(SKLEARN_SETS)}"
        )
    bunch = getattr(skd, f"load_{cfg.name}")()
    x = np.asarray(bunch.data, dtype=np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    names = [str(n) for n in getattr(bunch, "target_names", np.unique(y))]
    if task != "classification":
        raise ConfigError(f"task: sklearn dataset '{cfg.name}' is a classification set; received task={task}")
    meta = {"source": "sklearn", "name": cfg.name, "feature_names": [str(f) for f in getattr(bunch, "feature_names", [])]}
    return _finish(Split(y=y, x=x), names, cfg, task, seed, meta)


# ------------------------------------------------------------------------- csv
def _to_numbers(col):
    """The column as numbers, NaN where a cell is not one; a 400-digit integer becomes inf
    (pandas' to_numeric raises OverflowError on it)."""
    import pandas as pd

    try:
        return pd.to_numeric(col, errors="coerce")
    except OverflowError:
        def number(v):
            try:
                return float(v)
            except OverflowError:  # a Python int beyond float64
                return np.inf if v > 0 else -np.inf
            except (TypeError, ValueError):
                return np.nan

        return pd.Series([number(v) for v in col], index=col.index, dtype=np.float64)


def _numeric_or_error(col, name: str, path: Path):
    converted = _to_numbers(col)
    bad = converted.isna() & col.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: column '{name}' is numeric but row {row + 2} holds {shorten(col.iloc[row])}; "
            f"fix the cell or remove the column"
        )
    return converted


def text_target_error(col, name: str, task: str) -> Optional[ConfigError]:
    """A regression or multilabel target column that holds words (class labels): the one-line
    error that says so, or None when the column is (mostly) numbers."""
    present = col.dropna()
    if present.empty or _to_numbers(present).notna().mean() >= 0.9:
        return None  # numbers (a stray word among them is _numeric_or_error's line)
    row = int(np.flatnonzero(_to_numbers(col).isna().to_numpy() & col.notna().to_numpy())[0])
    return ConfigError(f"dataset.target: column '{name}' holds text ({shorten(col.iloc[row])} on line {row + 2}) "
                       f"but task: {task} needs numbers; for class labels use task: classification")


def check_csv_targets(dataset, task: str) -> None:
    """``dlhw validate`` and ``dlhw run`` before TensorFlow: a regression / multilabel target that is text."""
    if task == "classification" or dataset.source != "csv" or not getattr(dataset, "target", None):
        return
    import pandas as pd

    targets = [dataset.target] if isinstance(dataset.target, str) else list(dataset.target)
    try:
        df = pd.read_csv(dataset.path, usecols=lambda c: str(c) in targets)
    except Exception:  # noqa: BLE001 - an unreadable file is load_csv's one line, with its reason
        return
    for t in targets:
        if t in df.columns:
            problem = text_target_error(df[t], t, task)
            if problem is not None:
                raise problem


def read_table(path: Path, source: str):
    """The CSV at ``path`` as a DataFrame with a unique header and at least one row, or a one-line
    DataError naming the file (sources csv and image_csv)."""
    import pandas as pd

    if path.is_dir():
        raise DataError(f"dataset.path: {path} is a folder; source '{source}' needs a .csv file")
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises many kinds
        raise DataError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}") from None
    if df.empty:
        raise DataError(f"{path}: the CSV has no data rows")
    _unique_header(path)
    return df


def _unique_header(path: Path) -> None:
    """Refuse a header that names a column twice (pandas would quietly rename the second 'x.1',
    and a duplicated target would leak into the features)."""
    import pandas as pd

    raw = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    seen: Dict[str, int] = {}
    for i, name in enumerate(raw, start=1):
        name = str(name)
        if name.strip() and name in seen:
            raise DataError(f"{path}: column name {shorten(name)} appears twice in the header (columns "
                            f"{seen[name]} and {i}); rename or drop one")
        seen.setdefault(name, i)


F32_MAX = float(np.finfo(np.float32).max)


def _finite_or_error(df, columns: List[str], path: Path) -> None:
    """Refuse inf, -inf and numbers beyond float32 (1e308 becomes inf on the way to the model),
    naming the column and the row; NaN cells are the missing-value check's business."""
    for c in columns:
        v = _to_numbers(df[c]).to_numpy(dtype=np.float64)
        present = ~df[c].isna().to_numpy()
        if present.any() and (~np.isnan(v) & present).sum() < 0.9 * present.sum():
            continue  # a text column: one-hot categories, where 'inf' is just a word
        with np.errstate(invalid="ignore"):
            bad = np.isinf(v) | (np.abs(v) > F32_MAX)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell = df[c].iloc[i]
            shown = str(cell) if isinstance(cell, (float, np.floating)) else shorten(cell)
            more = f" ({int(bad.sum())} such cells)" if bad.sum() > 1 else ""
            raise DataError(
                f"{path}: column '{c}', data row {i + 1} (line {i + 2}) holds {shown}: "
                f"values must be finite and within float32's range (|x| <= {F32_MAX:.3g}){more}; "
                f"fix the cell or drop the row"
            )


@SOURCES.register("csv")
def load_csv(cfg, task: str, seed: int) -> Dataset:
    path = Path(cfg.path)
    if not path.exists():
        raise DataError(f"dataset.path: CSV file not found: {path}")
    df = read_table(path, "csv")
    targets = [cfg.target] if isinstance(cfg.target, str) else list(cfg.target)
    columns = [str(c) for c in df.columns]
    for t in targets:
        if t not in columns:
            raise ConfigError(
                f"dataset.target: column '{t}' is not in {path}{did_you_mean(t, columns)}; columns: {', '.join(columns)}"
            )
    features = cfg.features or [c for c in columns if c not in targets]
    for f in features:
        if f not in columns:
            raise ConfigError(f"dataset.features: column '{f}' is not in {path}{did_you_mean(f, columns)}")
    if not features:
        raise ConfigError(f"dataset.features: {path} has no feature columns besides the target")
    for key, names in (("dataset.features", features), ("dataset.target", targets)):
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None:
            raise ConfigError(f"{key}: column '{twice}' is listed twice")
    leak = next((f for f in features if f in targets), None)
    if leak is not None:
        raise ConfigError(f"dataset.features: '{leak}' is also the target; a model that sees its label learns nothing")
    for c in features + targets:
        n_missing = int(df[c].isna().sum())
        if n_missing and task == "regression" and c in targets:
            continue  # missing targets (S4 landmarks): only masked_euclidean trains on them (models.outputs)
        if n_missing:
            rows = (np.flatnonzero(df[c].isna().to_numpy())[:3] + 2).tolist()
            raise DataError(
                f"{path}: column '{c}' has {n_missing} empty/NaN cell(s) (lines {rows}); fill or drop them"
            )
    _finite_or_error(df, features + targets, path)

    # Features: numeric columns as they are, text columns one-hot (categories from the data).
    numeric, categorical = [], {}
    for c in features:
        col = df[c]
        if col.dtype == object or str(col.dtype).startswith(("string", "str", "category")):
            as_num = _to_numbers(col)
            if as_num.notna().mean() >= 0.9:  # mostly numbers with a stray word: a data error
                _numeric_or_error(col, c, path)
            categorical[c] = sorted(col.astype(str).unique().tolist())
        else:
            numeric.append(c)
    blocks = [df[numeric].to_numpy(dtype=np.float32)] if numeric else []
    for c, cats in categorical.items():
        blocks.append((df[c].astype(str).to_numpy()[:, None] == np.array(cats)[None, :]).astype(np.float32))
    x = np.concatenate(blocks, axis=1)

    if task == "classification":
        if len(targets) != 1:
            raise ConfigError(f"dataset.target: classification takes one label column; received {targets}")
        col = df[targets[0]]
        values = sorted(col.unique().tolist(), key=lambda v: (isinstance(v, str), v))
        names = [str(v) for v in values]
        lookup = {v: i for i, v in enumerate(values)}
        y = col.map(lookup).to_numpy(dtype=np.int64)
        if len(names) < 2:
            raise DataError(f"{path}: target column '{targets[0]}' has a single value ({names[0]}); need 2 or more classes")
    else:
        for t in targets:
            problem = text_target_error(df[t], t, task)
            if problem is not None:
                raise problem
        y = np.stack([_numeric_or_error(df[t], t, path).to_numpy(dtype=np.float32) for t in targets], axis=1)
        if task == "multilabel" and not np.isin(y, (0, 1)).all():
            raise DataError(f"{path}: multilabel targets {targets} must hold only 0 and 1")
        names = targets if task == "multilabel" else []
    n_num = len(numeric)
    meta = {
        "source": "csv", "path": str(path), "features": features, "targets": targets,
        "numeric": numeric, "categorical": categorical,
    }
    ds = _finish(Split(y=y, x=x), names, cfg, task, seed, meta, scale=False)
    # Standardise numeric columns only (one-hot columns stay 0/1), fitted on train.
    if n_num and cfg.standardize:  # dataset.standardize: false keeps the values as they are
        tr = ds.splits["train"].x[:, :n_num]
        mean, std = tr.mean(axis=0), tr.std(axis=0)
        std[std == 0] = 1.0
        parts = list(ds.splits.values()) + ([ds.unseen] if ds.unseen is not None else [])
        for s in parts:
            s.x[:, :n_num] = (s.x[:, :n_num] - mean) / std
        meta["standardize"] = {"columns": numeric, "mean": mean.tolist(), "std": std.tolist()}
    return ds


# ----------------------------------------------------------------------- keras
KERAS_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist/ (train-images-idx3-ubyte.gz and 3 more)",
    "cifar10": "cifar-10-batches-py/ (from cifar-10-python.tar.gz)",
    "cifar100": "cifar-100-python/ (from cifar-100-python.tar.gz)",
    "reuters": "reuters.npz",
    "imdb": "imdb.npz",
}
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DOWNLOAD_TIMEOUT = 30  # seconds a stalled download waits before it fails (Keras itself tries once, with no limit)


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded datasets (KERAS_HOME or ~/.keras)."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets"


def keras_download_target(fname, origin: str, cache_dir: str | None = None, cache_subdir: str = "datasets",
                          extract: bool = False, untar: bool = False, **_: Any) -> Path:
    """The file keras.utils.get_file reads from its cache, or saves a download to (Keras 3's rule)."""
    from urllib.parse import urlsplit

    fname = str(fname or os.path.basename(urlsplit(origin).path))
    if (extract or untar) and "." not in fname:
        fname = f"{fname}_archive"  # an archive is kept under <name>_archive and unpacked into <name>/
    return Path(cache_dir or keras_cache_dir().parent) / cache_subdir / fname


def _reason(exc: BaseException) -> str:
    """Why a Keras download failed, whole: the URL error's reason without the URL Keras repeats."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "URL fetch failure" in text and " -- " in text:
        text = text.split(" -- ", 1)[1]
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " ..."


def _load_keras_arrays(cfg, module):
    """module.load_data() with one bounded download attempt; a failure names the file Keras wanted."""
    import socket
    import sys

    source = sys.modules.get(getattr(module.load_data, "__module__", ""), None)
    original = getattr(source, "get_file", None)
    wanted: List[Dict[str, Any]] = []

    def recording_get_file(fname=None, origin=None, **kwargs):
        kwargs.setdefault("cache_dir", str(keras_cache_dir().parent))  # $KERAS_HOME as it is now
        wanted.append({"fname": fname, "origin": origin, **kwargs})
        return original(fname, origin=origin, **kwargs)

    timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # urlretrieve has no timeout of its own
    if original is not None:
        source.get_file = recording_get_file
    try:
        if cfg.name in ("reuters", "imdb"):
            return module.load_data(num_words=cfg.num_words)
        return module.load_data()
    except Exception as exc:
        if not wanted:
            raise DataError(f"dataset.name: could not load keras dataset '{cfg.name}' ({type(exc).__name__}: "
                            f"{_reason(exc)}); place {KERAS_FILES[cfg.name]} in {keras_cache_dir()}") from None
        last = wanted[-1]
        target = keras_download_target(**last)
        if "URL fetch failure" not in str(exc) and not isinstance(exc, (TimeoutError, ConnectionError)):
            raise DataError(f"dataset.name: keras dataset '{cfg.name}': cannot read {target} ({type(exc).__name__}: "
                            f"{_reason(exc)}); delete it and Keras downloads it again") from None
        left = 4 - len(wanted) if cfg.name == "fashion_mnist" else 0  # four files, fetched one by one
        more = f" (and the {left} other .gz files fashion_mnist needs, from the same address)" if left > 0 else ""
        raise DataError(f"dataset.name: keras dataset '{cfg.name}' is not in the Keras cache and could not be "
                        f"downloaded ({_reason(exc)}); offline, fetch {last['origin']} on a machine with "
                        f"internet and save it as {target}{more}, see data/README.md") from None
    finally:
        socket.setdefaulttimeout(timeout)
        if original is not None:
            source.get_file = original


def multi_hot(sequences, num_words: int) -> np.ndarray:
    out = np.zeros((len(sequences), num_words), dtype=np.float32)
    for i, seq in enumerate(sequences):
        idx = np.asarray(seq, dtype=np.int64)
        out[i, idx[idx < num_words]] = 1.0
    return out


@SOURCES.register("keras")
def load_keras(cfg, task: str, seed: int) -> Dataset:
    if cfg.name not in KERAS_SETS:
        raise ConfigError(
            f"dataset.name: unknown keras dataset '{cfg.name}'{did_you_mean(cfg.name, KERAS_SETS)}; "
            f"choose one of: {', '.join(KERAS_SETS)}"
        )
    from dlhw.data.folds import refuse_folds

    refuse_folds(cfg, f"keras dataset '{cfg.name}' keeps its official test set")
    import keras

    (xtr, ytr), (xte, yte) = _load_keras_arrays(cfg, getattr(keras.datasets, cfg.name))
    if cfg.name in ("reuters", "imdb"):
        xtr, xte = multi_hot(xtr, cfg.num_words), multi_hot(xte, cfg.num_words)
    else:
        xtr = xtr.astype(np.float32) / 255.0
        xte = xte.astype(np.float32) / 255.0
        if xtr.ndim == 3:
            xtr, xte = xtr[..., None], xte[..., None]
    ytr, yte = np.asarray(ytr).ravel().astype(np.int64), np.asarray(yte).ravel().astype(np.int64)
    n = int(max(ytr.max(), yte.max())) + 1
    names = {"fashion_mnist": FASHION, "cifar10": CIFAR10, "imdb": ["negative", "positive"]}.get(
        cfg.name, [str(i) for i in range(n)]
    )
    stratify = True
    train_whole = Split(y=ytr, x=xtr)
    if cfg.max_samples:
        train_whole = subsample(train_whole, cfg.max_samples, seed, stratify)
        test_n = max(1, int(round(cfg.max_samples * cfg.split.test / max(cfg.split.train + cfg.split.val, 1e-9))))
        test = subsample(Split(y=yte, x=xte), test_n, seed, stratify)
    else:
        test = Split(y=yte, x=xte)
    # The official test set stays the test set; validation comes out of the training set.
    val_frac = cfg.split.val / max(cfg.split.train + cfg.split.val, 1e-9)
    parts = split_arrays(train_whole, {"train": 1 - val_frac, "val": val_frac, "test": 0.0}, seed, stratify)
    splits = {"train": parts["train"], "val": parts["val"], "test": test}
    meta = {"source": "keras", "name": cfg.name, "split_note": "test is the dataset's official test set"}
    whole = Split(y=np.concatenate([train_whole.y, test.y]), x=train_whole.x[:1])
    return _build(splits, names, cfg, task, meta, False, whole)
