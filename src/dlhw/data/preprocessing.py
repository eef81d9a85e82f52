"""preprocessing.json: what a run's model expects as input, so new data can be fed to it later.

Written into every run folder before training (``write_preprocessing``); read by
``dlhw predict`` (``dlhw.results.predict.load_preprocessing``), which turns CSV rows
and image files into model inputs exactly as training did (``csv_inputs``, ``image_inputs``).

Contents: task, source (and dataset name), class names, input shape, model type
and output spec; for a csv source its fitted encoder (``encoder``: column kinds,
categories, vocabularies, fills, classes and the standardisation fitted on the
training split; dlhw.data.encoder) and, for older readers, the feature columns,
which are numeric and the categories of every text column; for images the size,
channels and the pixel scale applied before the model (1/255 for Keras arrays,
1 for image folders, whose models rescale themselves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from dlhw.errors import DataError
from dlhw.runtime.log import get_logger

log = get_logger(__name__)

TARGET_LIKE = ("target", "label", "labels", "class", "y")


def describe(cfg, dataset, spec) -> Dict[str, Any]:
    """The preprocessing record of a run (plain JSON data); the source adds what it knows
    (a csv source its fitted encoder, image sources the size, channels and pixel scale)."""
    from dlhw.data.sources import source_for

    meta = dataset.meta
    out: Dict[str, Any] = {
        "format": 1,
        "task": cfg.task,
        "source": cfg.dataset.source,
        "dataset_name": cfg.dataset.name,
        "class_names": list(dataset.class_names),
        "input_shape": [int(v) for v in dataset.input_shape],
        "model_type": cfg.model.type,
        "output": spec.as_dict() if spec is not None else None,
        "standardize": meta.get("standardize"),
    }
    out.update(source_for(cfg.dataset.source).describe(dataset))
    return out


def write_preprocessing(run_dir: Path, cfg, dataset, spec) -> Dict[str, Any]:
    from dlhw.rundir.records import PreprocessingRecord

    record = describe(cfg, dataset, spec)
    PreprocessingRecord.build(record).write(PreprocessingRecord.in_folder(run_dir))
    return record


def is_image_run(pre: Dict[str, Any]) -> bool:
    return "image_size" in pre


# ------------------------------------------------------------------ tabular
def _read_csv(path: Path):
    import pandas as pd

    try:
        first = pd.read_csv(path, header=None, nrows=1)
        headerless = all(_is_number(v) for v in first.iloc[0].tolist())  # no header row: numbers only
        df = pd.read_csv(path, header=None if headerless else "infer")
    except Exception as exc:  # pandas raises many kinds
        raise DataError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}") from None
    if df.empty:
        raise DataError(f"{path}: the CSV has no data rows")
    df.columns = [str(c) for c in df.columns]
    return df


def _is_number(text: Any) -> bool:
    try:
        float(str(text))
        return True
    except ValueError:
        return False


def _numeric(df, columns: List[str], path: Path) -> np.ndarray:
    import pandas as pd

    out = []
    for c in columns:
        col = pd.to_numeric(df[c], errors="coerce")
        bad = col.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: column '{c}' must be numeric but line {row + 2} holds {df[c].iloc[row]!r}")
        out.append(col.to_numpy(dtype=np.float32))
    return np.stack(out, axis=1) if out else np.zeros((len(df), 0), np.float32)


def _positional_columns(df, n: int, names: List[str] | None, path: Path) -> List[str]:
    if names and all(c in df.columns for c in names):
        return list(names)
    cols = [c for c in df.columns if c.lower() not in TARGET_LIKE]
    if len(cols) != n:
        hint = f" ({names[0]} ... {names[-1]})" if names else ""
        raise DataError(f"{path}: expected {n} feature columns{hint}; received {len(cols)} "
                        f"({', '.join(cols[:6])}{', ...' if len(cols) > 6 else ''})")
    return cols


def csv_inputs(path: Path, pre: Dict[str, Any]) -> Tuple[np.ndarray, List[str]]:
    """(model inputs, row labels) for the rows of a CSV file, transformed as in training: a csv
    run's own fitted encoder (dlhw.data.encoder; runs written before it existed rebuild it from
    their older record), else the feature columns by name or position."""
    path = Path(path)
    if is_image_run(pre):
        raise DataError(f"{path}: this run was trained on images {pre['input_shape']}; give image files or a folder")
    df = _read_csv(path)
    n = int(np.prod(pre["input_shape"]))
    if pre.get("encoder") or pre.get("categorical") is not None or pre.get("numeric") is not None:
        from dlhw.data.encoder import TabularEncoder

        x = TabularEncoder.from_preprocessing(pre).transform(df, path, unseen="warn")
    else:
        cols = _positional_columns(df, n, pre.get("features"), path)
        x = _numeric(df, cols, path)
        st = pre.get("standardize")
        if st:
            x = (x - np.array(st["mean"], np.float32)) / np.array(st["std"], np.float32)
    if x.shape[1] != n:
        raise DataError(f"{path}: the rows encode to {x.shape[1]} values; the model takes {n}")
    x = x.astype(np.float32).reshape((len(df), *pre["input_shape"]))
    return x, [f"{path.name}:{i + 1}" for i in range(len(df))]


# ------------------------------------------------------------------- images
def image_inputs(files: List[str], pre: Dict[str, Any], batch_size: int = 32):
    """A tf.data pipeline (or array) of the image files, resized and scaled as in training."""
    from dlhw.data.image_cache import tf_images
    from dlhw.data.images import _readable

    if not is_image_run(pre):
        shape = pre["input_shape"]
        raise DataError(f"{files[0]}: this run was trained on tabular data ({int(np.prod(shape))} features); "
                        f"give a CSV file with the training columns")
    for f in files:
        reason = _readable(Path(f))
        if reason:
            raise DataError(f"{f}: not a readable image ({reason})")
    ds = tf_images(files, None, pre["image_size"], pre["channels"], batch_size)
    scale = float(pre.get("pixel_scale", 1.0))
    if scale != 1.0:
        ds = ds.map(lambda x: x * scale)
    return ds
