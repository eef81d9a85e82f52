"""Which way a metric improves: the one rule for every "best" dlhw picks.

Used by the trainer (the best epoch, BestWeights, early stopping and
reduce-on-plateau modes), the report's ranking and best row, and anything
else that picks a best run or epoch. No heavy imports.
"""

from __future__ import annotations

# Checked first: a name holding one of these is minimised (val_loss, test_mae, train_seconds,
# best_epoch, params_total, known_false_rejection_rate).
LOWER = ("loss", "error", "mse", "mae", "rmse", "mape", "crossentropy", "hinge", "seconds", "epoch", "params",
         "false_rejection")
# Then: a name holding one of these is maximised (val_accuracy, test_auc, f1_macro, r2,
# precision_macro, recall_macro, unseen_rejection_rate).
HIGHER = ("acc", "auc", "f1", "r2", "precision", "recall", "rejection")


def higher_is_better(metric: str) -> bool:
    """True for metrics to maximise (accuracy, AUC, F1, R2, precision, recall), False for those to
    minimise (losses, errors, seconds, epochs, parameter counts). A name that says neither is
    treated as a loss, as Keras treats an unknown monitor."""
    name = str(metric).lower()
    if any(word in name for word in LOWER):
        return False
    return any(word in name for word in HIGHER)


def keras_mode(metric: str) -> str:
    """``mode`` for Keras's EarlyStopping / ReduceLROnPlateau watching ``metric``: 'max' or 'min'."""
    return "max" if higher_is_better(metric) else "min"
