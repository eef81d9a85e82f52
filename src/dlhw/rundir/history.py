"""history.csv (one row per epoch) and history_steps.csv (training.log_steps): written at the
end of training, read by reports and charts. No heavy imports."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Dict, List

from dlhw.runtime.files import write_text

HISTORY_COLUMNS = ["stage", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]


def write_history(rows: List[dict], path: Path) -> None:
    extra = sorted({k for r in rows for k in r} - set(HISTORY_COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS + extra, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in HISTORY_COLUMNS + extra})
    write_text(path, buf.getvalue())


def read_history(path: Path) -> List[Dict[str, Any]]:
    """history.csv rows with numbers as floats (NaN where empty)."""
    rows: List[Dict[str, Any]] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for raw in csv.DictReader(fh):
                row: Dict[str, Any] = {}
                for k, v in raw.items():
                    if k is None:
                        continue
                    try:
                        row[k] = float(v) if v not in ("", None) else math.nan
                    except ValueError:
                        row[k] = v
                rows.append(row)
    except (OSError, csv.Error):
        return []
    return rows
