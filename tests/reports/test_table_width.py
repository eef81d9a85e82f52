"""dlhw report's terminal table at 80 columns: the run, its status and the sort metric always."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from dlhw.reports.table import Row, print_table, short_names, to_csv

METRICS = {"train_accuracy": 0.99, "val_accuracy": 0.91, "test_accuracy": 0.88, "train_loss": 0.1, "val_loss": 0.25,
           "test_loss": 0.3, "test_f1_macro": 0.87, "params_total": 150000, "params_trainable": 150000,
           "train_seconds": 12.3, "best_epoch": 4}


def rows(n: int = 4):
    out = []
    for i in range(n):
        varied = {"training.optimizer.type": "adam", "training.optimizer.learning_rate": 0.001 * (i + 1),
                  "training.batch_size": 32 * (i + 1), "model.layers": [{"units": 256}, {"units": 512 + i}]}
        values = {k: (v + i / 1000, None) for k, v in METRICS.items()}
        out.append(Row(name=f"optimizer-adam_learning_rate-0.00{i + 1}_batch_size-{32 * (i + 1)}_layers-256x51{i}",
                       sweep="mlp_optimizers", varied=varied, status="completed" if i else "failed", runs=[],
                       values=values, diagnostics=["overfitting after epoch 3"], error=None if i else "boom"))
    out[1].best = True
    return out


def render(table_rows, metric: str, width: int) -> str:
    out = io.StringIO()
    print_table(table_rows, metric, f"{len(table_rows)} runs, sorted by {metric}", console=Console(file=out, width=width))
    return out.getvalue()


def first_table(text: str) -> list:
    lines = text.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[:end + 1]


@pytest.mark.parametrize("metric, title", [("val_accuracy", "val acc"), ("val_loss", "val loss"),
                                           ("train_seconds", "train s"), ("best_epoch", "best epoch")])
def test_80_columns_keep_name_status_and_the_sort_metric(metric, title):
    table_rows = rows()
    text = render(table_rows, metric, 80)
    assert all(len(line) <= 80 for line in text.splitlines())
    first = "\n".join(first_table(text))
    assert "run" in first and "status" in first and title in first
    body = [line for line in first_table(text) if line.startswith("│")]
    assert len(body) == len(table_rows)  # one line per run: names are shortened, not folded
    shown = [line.split("│")[1].strip() for line in body]
    assert len(set(shown)) == len(table_rows) and all("…" in s and len(s) <= 28 for s in shown)
    assert "long run names are shortened here" in text
    assert "failed" in first and "boom" in text


def test_short_names_keep_where_names_differ_and_full_names_stay_in_the_csv():
    names = [r.name for r in rows()]
    short = short_names(names)
    assert short["optimizer-adam_learning_rate-0.002_batch_size-64_layers-256x511"].startswith("…0.002_batch_size-64")
    assert short_names(["a", "bb"]) == {"a": "a", "bb": "bb"}
    alike = short_names(["x" * 40 + "1", "x" * 40 + "2"])  # differ only at the end: start…end
    assert len(set(alike.values())) == 2
    assert all(n in to_csv(rows(), "val_accuracy") for n in names)


def test_a_wide_terminal_shows_every_column_and_whole_names():
    text = render(rows(), "val_accuracy", 400)
    assert "not shown at" not in text and "shortened" not in text
    assert "optimizer-adam_learning_rate-0.001_batch_size-32_layers-256x510" in text
    assert re.search(r"best epoch", text) and "trainable" in text
