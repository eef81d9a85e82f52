"""dlhw.evaluation.direction: one "higher is better" rule for the trainer and the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlhw.evaluation.direction import higher_is_better, keras_mode

HIGHER = ["accuracy", "val_accuracy", "test_subset_accuracy", "val_auc", "test_f1_macro", "f1_macro",
          "test_precision_macro", "val_recall_macro", "test_r2", "r2", "val_acc", "unseen_rejection_rate"]
LOWER = ["loss", "val_loss", "test_mae", "val_mae", "test_mse", "test_rmse", "train_seconds", "best_epoch",
         "epochs_run", "params_total", "params_trainable", "known_false_rejection_rate", "something_else"]


@pytest.mark.parametrize("metric", HIGHER)
def test_maximised(metric):
    assert higher_is_better(metric) and keras_mode(metric) == "max"


@pytest.mark.parametrize("metric", LOWER)
def test_minimised(metric):
    assert not higher_is_better(metric) and keras_mode(metric) == "min"


def test_the_trainer_and_the_report_agree():
    """The best epoch of a run and the best row of a report follow the same rule, F1 and R2 included
    (the trainer used to minimise every monitor but accuracy and AUC)."""
    from dlhw.reports.collect import RunRecord
    from dlhw.reports.table import build_rows
    from dlhw.training.callbacks import BestWeights
    from dlhw.training.trainer import TrainResult

    history = [{"epoch": e, "loss": 1.0 / e, "val_f1_macro": f1, "val_r2": r2, "val_mae": mae}
               for e, f1, r2, mae in [(1, 0.2, 0.1, 0.9), (2, 0.7, 0.6, 0.3), (3, 0.5, 0.4, 0.5)]]
    result = TrainResult(history=history)
    assert result.best_epoch("val_f1_macro") == result.best_epoch("val_r2") == result.best_epoch("val_mae") == 2
    assert BestWeights(Path("unused"), "val_f1_macro").maximize and not BestWeights(Path("unused"), "val_mae").maximize

    records = [RunRecord(name=n, path=Path(n), status="completed",
                         metrics={"test": {"f1_macro": f1, "mae": mae, "r2": r2}, "params": {"total": p}})
               for n, f1, mae, r2, p in [("a", 0.6, 0.5, 0.2, 10), ("b", 0.8, 0.2, 0.7, 30), ("c", 0.4, 0.9, 0.1, 20)]]
    for metric, best in [("test_f1_macro", "b"), ("test_r2", "b"), ("test_mae", "b"), ("params_total", "a")]:
        rows = build_rows(records, metric)
        assert [r.name for r in rows if r.best] == [best], metric
