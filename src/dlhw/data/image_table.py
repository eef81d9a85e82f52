"""Images listed in a CSV with numeric targets (``source: image_csv``; S4's landmarks).

One row per image: a column of image paths (``dataset.image_column``, resolved
relative to the CSV file's folder unless absolute) and numeric target columns
(``dataset.target``). Empty target cells are allowed for regression: they are
NaN, and only the masked losses (masked_mse, masked_euclidean) train on them
(dlhw.models.outputs and dlhw.models.heads refuse the others). Images are
checked once, split with the run's seed (not stratified: the targets are
numbers) and streamed through the same decode path and image cache as an
image folder (dlhw.data.image_cache): the folder is never loaded whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from dlhw.data.dataset import SPLITS, Dataset, Split, fingerprint, subsample
from dlhw.errors import ConfigError, DataError, did_you_mean, shorten


def _read(path: Path):
    from dlhw.data.table import read_table

    df = read_table(path, "image_csv")
    df.columns = [str(c) for c in df.columns]
    return df


def _columns(df, cfg, path: Path) -> List[str]:
    """The target columns, after checking that they and the image column exist."""
    columns = list(df.columns)
    if cfg.image_column not in columns:
        raise ConfigError(f"dataset.image_column: column '{cfg.image_column}' is not in {path}"
                          f"{did_you_mean(cfg.image_column, columns)}; columns: {', '.join(columns[:20])}")
    targets = [cfg.target] if isinstance(cfg.target, str) else list(cfg.target)
    for t in targets:
        if t not in columns:
            raise ConfigError(f"dataset.target: column '{t}' is not in {path}{did_you_mean(t, columns)}; "
                              f"columns: {', '.join(columns[:20])}")
    twice = next((t for i, t in enumerate(targets) if t in targets[:i]), None)
    if twice is not None:
        raise ConfigError(f"dataset.target: column '{twice}' is listed twice")
    if cfg.image_column in targets:
        raise ConfigError(f"dataset.target: '{cfg.image_column}' is the image column (dataset.image_column)")
    return targets


def image_files(df, column: str, path: Path, limits=None) -> List[str]:
    """Each row's image as a path, checked: present, a file, readable (the row is named otherwise)."""
    from dlhw.data.images import IMAGE_EXTENSIONS, _readable

    base = path.parent
    files: List[str] = []
    for i, cell in enumerate(df[column].tolist()):
        where = f"{path}: row {i + 1} (line {i + 2}), column '{column}'"
        if not isinstance(cell, str) or not cell.strip():
            raise DataError(f"{where}: no image path; received {shorten(cell)}")
        p = Path(cell.strip()).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise DataError(f"{where}: image {shorten(cell.strip())} not found (looked for {p})")
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"{where}: {p.name} is not an image file (expected {', '.join(IMAGE_EXTENSIONS)})")
        reason = _readable(p, limits)
        if reason:
            raise DataError(f"{where}: {p} is not a readable image ({reason})")
        files.append(str(p))
    return files


def _targets(df, targets: List[str], task: str, path: Path) -> np.ndarray:
    from dlhw.data.table import finite_or_error, numeric_or_error

    finite_or_error(df, targets, path)
    y = np.stack([numeric_or_error(df[t], t, path).to_numpy(dtype=np.float32) for t in targets], axis=1)
    if task == "multilabel":
        bad = ~np.isin(y, (0, 1))
        if bad.any():
            i, j = (int(v[0]) for v in np.nonzero(bad))
            raise DataError(f"{path}: multilabel target '{targets[j]}', row {i + 1} (line {i + 2}) holds "
                            f"{y[i, j]:g}; multilabel targets must be 0 or 1 (no empty cells)")
    elif np.isnan(y).all(axis=0).any():
        col = targets[int(np.flatnonzero(np.isnan(y).all(axis=0))[0])]
        raise DataError(f"{path}: target column '{col}' is empty in every row; nothing to learn it from")
    return y


def load_image_csv(cfg, task: str, seed: int) -> Dataset:
    """The Dataset of an image CSV: splits of image files with float target rows."""
    from dlhw.data.images import _folder_fingerprint

    if task not in ("regression", "multilabel"):
        raise ConfigError(f"task: source image_csv has numeric target columns; use task: regression (or "
                          f"multilabel for 0/1 columns; image_folder for classes); received task={task}")
    if cfg.classes:
        raise ConfigError("dataset.classes: only for classification; source image_csv has numeric targets")
    path = Path(cfg.path)
    if not path.exists():
        from dlhw.data.paths import missing_path

        raise missing_path("dataset.path", path, "CSV file")
    df = _read(path)
    targets = _columns(df, cfg, path)
    files = image_files(df, cfg.image_column, path, getattr(cfg, "limits", None))
    y = _targets(df, targets, task, path)
    whole = Split(y=y, files=files)
    if cfg.max_samples:
        whole = subsample(whole, cfg.max_samples, seed, False)
    from dlhw.data.folds import make_splits

    splits = make_splits(whole, cfg, seed, False)  # the seeded split, or one fold of dataset.folds
    for name in SPLITS:
        if len(splits[name]) == 0 and name != "test" and not (name == "val" and cfg.validation == "test"):
            raise DataError(f"{path}: the {name} split is empty ({len(whole)} rows); add rows or change dataset.split")
    channels = 3 if cfg.color_mode == "rgb" else 1
    h, w = cfg.image_size
    return Dataset(
        splits=splits,
        class_names=targets if task == "multilabel" else [],
        input_shape=(h, w, channels),
        task=task,
        fingerprint=fingerprint(_folder_fingerprint(whole.files, (h, w, channels, cfg.max_samples, seed)), whole.y),
        meta={"source": "image_csv", "path": str(path), "image_size": [h, w], "channels": channels,
              "targets": targets, "image_column": cfg.image_column},
    )
