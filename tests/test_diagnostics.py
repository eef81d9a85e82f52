"""Diagnostics on synthetic histories: one per kind, and a clean run with no findings."""

from __future__ import annotations

import math

from dlhw.evaluation.diagnostics import KINDS, diagnose, format_findings


def rows(loss, val_loss=None, acc=None, val_acc=None, stage="train", start=1):
    out = []
    for i, l in enumerate(loss):
        r = {"stage": stage, "epoch": start + i, "loss": l, "lr": 1e-3}
        if val_loss is not None:
            r["val_loss"] = val_loss[i]
        if acc is not None:
            r["accuracy"] = acc[i]
        if val_acc is not None:
            r["val_accuracy"] = val_acc[i]
        out.append(r)
    return out


def kinds(findings):
    return [f["kind"] for f in findings]


def test_clean_history_has_no_findings():
    h = rows([1.2, 0.6, 0.4, 0.3, 0.25, 0.22], [1.1, 0.62, 0.45, 0.36, 0.33, 0.32],
             [0.6, 0.82, 0.88, 0.91, 0.93, 0.94], [0.62, 0.8, 0.86, 0.88, 0.89, 0.9])
    assert diagnose(h) == []


def test_diverged_from_nan_loss_names_the_epoch():
    h = rows([2.0, 5.0, math.nan], [2.1, 8.0, math.nan])
    f = diagnose(h)
    assert kinds(f) == ["diverged"] and f[0]["epoch"] == 3 and "NaN" in f[0]["message"]


def test_diverged_from_the_trainer_flag_even_without_a_nan_row():
    f = diagnose(rows([2.0, 1.5]), diverged_at=(3, 7))
    assert kinds(f) == ["diverged"] and f[0]["epoch"] == 3 and "batch 7" in f[0]["message"]


def test_rising_loss_means_learning_rate_too_high():
    f = diagnose(rows([1.0, 1.05, 1.2, 1.4, 1.9]))
    assert kinds(f) == ["lr_too_high"] and "rose" in f[0]["message"]
    assert f[0]["epoch"] == 2  # the first epoch whose loss went up by more than 2 %


def test_oscillating_loss_means_learning_rate_too_high():
    f = diagnose(rows([1.0, 0.6, 0.9, 0.5, 0.85, 0.55, 0.8]))
    assert kinds(f) == ["lr_too_high"] and "went up in 3 of 6 epochs" in f[0]["message"]


def test_barely_falling_loss_means_learning_rate_too_low():
    f = diagnose(rows([1.39, 1.385, 1.38, 1.376, 1.372, 1.37], acc=[0.3, 0.31, 0.31, 0.32, 0.32, 0.33]))
    assert "lr_too_low" in kinds(f)
    low = f[kinds(f).index("lr_too_low")]
    assert "1.4%" in low["message"] and "epoch" not in low


def test_a_fitted_model_with_a_flat_loss_is_not_too_slow():
    h = rows([0.02, 0.019, 0.019, 0.018, 0.018, 0.018], acc=[0.99] * 6)
    assert "lr_too_low" not in kinds(diagnose(h))


def test_overfitting_from_val_loss_turning_up_names_the_epoch():
    h = rows([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], [1.0, 0.6, 0.5, 0.55, 0.7, 0.9],
             [0.6, 0.8, 0.9, 0.95, 0.98, 0.99], [0.6, 0.75, 0.8, 0.8, 0.79, 0.78])
    f = diagnose(h)
    assert kinds(f) == ["overfitting"]
    assert f[0]["epoch"] == 3 and "turned up after epoch 3" in f[0]["message"] and "gap" in f[0]["message"]


def test_overfitting_from_an_accuracy_gap_alone():
    h = rows([1.0, 0.7, 0.5], [1.0, 0.9, 0.85], [0.6, 0.8, 0.83], [0.4, 0.36, 0.36])
    f = diagnose(h)
    assert "overfitting" in kinds(f)
    assert "epoch" not in f[kinds(f).index("overfitting")]


def test_a_gap_between_two_low_accuracies_is_underfitting_not_overfitting():
    h = rows([0.70, 0.69, 0.68], [0.70, 0.70, 0.71], [0.50, 0.55, 0.60], [0.50, 0.48, 0.48])
    assert kinds(diagnose(h)) == ["underfitting"]


def test_underfitting_when_both_accuracies_stay_low():
    h = rows([1.38, 1.2, 1.05, 0.98, 0.95], [1.38, 1.22, 1.08, 1.0, 0.97],
             [0.3, 0.45, 0.5, 0.55, 0.56], [0.3, 0.44, 0.5, 0.53, 0.55])
    f = diagnose(h)
    assert kinds(f) == ["underfitting"] and "0.560" in f[0]["message"]


def test_stages_are_read_separately_and_named():
    head = rows([1.0, 0.5, 0.3], acc=[0.7, 0.9, 0.96], stage="head")
    tune = rows([0.3, 0.6, 0.9], acc=[0.96, 0.9, 0.8], stage="finetune", start=4)
    f = diagnose(head + tune)
    assert kinds(f) == ["lr_too_high"] and "stage 'finetune'" in f[0]["message"] and f[0]["epoch"] == 5


def test_history_csv_strings_and_empty_cells_are_read():
    h = [{"stage": "train", "epoch": "1", "loss": "1.0", "val_loss": ""},
         {"stage": "train", "epoch": "2", "loss": "0.5", "val_loss": ""},
         {"stage": "train", "epoch": "3", "loss": "0.3", "val_loss": ""}]
    assert diagnose(h) == []
    assert diagnose([]) == []


def test_every_kind_is_listed_and_formatted():
    f = diagnose(rows([1.0, 1.5, 2.0]))
    assert set(kinds(f)) <= set(KINDS)
    assert format_findings(f)[0].startswith("lr_too_high: ")
