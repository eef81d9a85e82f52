"""Reading a CSV table and checking its cells (sources csv and image_csv, and ``dlhw predict``).

Every check names the file, the column and the line: a duplicated header, a cell that is not a
number in a numeric column, inf or a number beyond float32, an empty table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from dlhw.errors import DataError, shorten

F32_MAX = float(np.finfo(np.float32).max)


def to_numbers(col):
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


def numeric_or_error(col, name: str, path: Path):
    """The column as numbers; a DataError naming the first cell that is not one."""
    converted = to_numbers(col)
    bad = converted.isna() & col.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: column '{name}' is numeric but row {row + 2} holds {shorten(col.iloc[row])}; "
            f"fix the cell or remove the column"
        )
    return converted


def text_target_error(col, name: str, task: str):
    """A regression or multilabel target column that holds words (class labels): the one-line
    ConfigError that says so, or None when the column is (mostly) numbers."""
    from dlhw.errors import ConfigError

    present = col.dropna()
    if present.empty or to_numbers(present).notna().mean() >= 0.9:
        return None  # numbers (a stray word among them is numeric_or_error's line)
    row = int(np.flatnonzero(to_numbers(col).isna().to_numpy() & col.notna().to_numpy())[0])
    return ConfigError(f"dataset.target: column '{name}' holds text ({shorten(col.iloc[row])} on line {row + 2}) "
                       f"but task: {task} needs numbers; for class labels use task: classification")


def read_table(path: Path, source: str):
    """The CSV at ``path`` as a DataFrame with a unique header and at least one row, or a one-line
    DataError naming the file (sources csv and image_csv)."""
    import pandas as pd

    if path.is_dir():
        raise DataError(f"dataset.path: {path} is a folder; source '{source}' needs a .csv file")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the CSV is empty (no header, no rows)") from None
    except Exception as exc:  # pandas raises many kinds
        raise DataError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}") from None
    if df.empty:
        raise DataError(f"{path}: the CSV has no data rows")
    unique_header(path)
    df.columns = [str(c) for c in df.columns]
    return df


def unique_header(path: Path) -> None:
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


def finite_or_error(df, columns: List[str], path: Path) -> None:
    """Refuse inf, -inf and numbers beyond float32 (1e308 becomes inf on the way to the model),
    naming the column and the row; NaN cells are the missing-value check's business."""
    for c in columns:
        v = to_numbers(df[c]).to_numpy(dtype=np.float64)
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


def missing_or_error(df, columns: List[str], path: Path) -> None:
    """A DataError naming the first of ``columns`` with empty/NaN cells and their lines."""
    for c in columns:
        n_missing = int(df[c].isna().sum())
        if n_missing:
            rows = (np.flatnonzero(df[c].isna().to_numpy())[:3] + 2).tolist()
            every = " (every row: the column is empty)" if n_missing == len(df) else ""
            raise DataError(f"{path}: column '{c}' has {n_missing} empty/NaN cell(s){every} (lines {rows}); "
                            f"fill or drop them, or set dataset.impute: true (features only)")
