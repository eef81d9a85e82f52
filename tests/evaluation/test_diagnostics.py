"""Diagnostics on synthetic histories: one per kind, and a clean run with no findings."""

from __future__ import annotations

import math

from dlhw.evaluation.diagnostics import KINDS, diagnose, format_findings


def rows(loss, val_loss=None, acc=None, val_acc=None, stage="train", start=1):
    out = []
    for i, value in enumerate(loss):
        r = {"stage": stage, "epoch": start + i, "loss": value, "lr": 1e-3}
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


# ------------------------------------------ issue 12: messages that never mislead
def evaluated(train_acc, val_acc, train_loss=0.5, val_loss=0.5):
    return {"train": {"accuracy": train_acc, "loss": train_loss}, "val": {"accuracy": val_acc, "loss": val_loss}}


def test_an_exploding_loss_is_lr_too_high_never_advice_to_raise_it():
    # Adam at learning rate 1e6 on the digits MLP (a real history): no NaN, the loss at 1e19-1e22
    h = rows([2.067e22, 5.903e20, 6.159e20, 1.633e20, 1.690e19, 2.371e20],
             [6.658e20, 7.517e20, 7.761e20, 6.233e19, 9.728e19, 1.073e21],
             [0.421, 0.468, 0.394, 0.337, 0.277, 0.292], [0.454, 0.375, 0.379, 0.320, 0.297, 0.297])
    for ev in (None, evaluated(0.281, 0.297, 11.59, 11.32)):
        f = diagnose(h, evaluated=ev)
        assert kinds(f) == ["lr_too_high"], f
        assert "exploded to 2.067e+22 at epoch 1" in f[0]["message"] and f[0]["epoch"] == 1
        assert "lower it" in f[0]["message"] and not any("raise" in x["message"] for x in f)


def test_a_loss_ten_times_above_its_start_is_an_explosion_in_any_task():
    f = diagnose(rows([1.0, 0.8, 15.0, 12.0], [1.0, 0.9, 14.0, 13.0]))  # regression: no accuracy column
    assert kinds(f) == ["lr_too_high"] and "exploded from 1 to 15 (epoch 3)" in f[0]["message"]
    assert f[0]["epoch"] == 3


def test_a_large_but_falling_regression_loss_is_not_an_explosion():
    assert diagnose(rows([5.0e4, 2.0e4, 9.0e3, 5.0e3], [4.0e4, 1.9e4, 9.5e3, 5.2e3])) == []


def test_fitting_judgments_use_the_evaluated_figures_and_a_mode_gap_gets_its_own_hint():
    # S3's CNN on 300 images: BatchNorm in training mode reaches 0.771 on train, the evaluated model scores 0.500
    h = rows([0.80, 0.66, 0.60, 0.55, 0.50], [0.70, 0.70, 0.69, 0.69, 0.695],
             [0.55, 0.62, 0.70, 0.74, 0.771], [0.5, 0.5, 0.5, 0.5, 0.5])
    f = diagnose(h, evaluated=evaluated(0.500, 0.500, 0.692, 0.695))
    assert "overfitting" not in kinds(f), f  # the table says train 0.500, val 0.500
    gap = f[kinds(f).index("mode_gap")]
    assert "0.771 in training mode (epoch 5)" in gap["message"] and "0.500 evaluated" in gap["message"]
    assert "BatchNorm" in gap["message"] and gap["epoch"] == 5
    assert not any("raise the learning rate" in x["message"] for x in f)
    # without the evaluated figures the history's last row is all there is (the old reading)
    assert "overfitting" in kinds(diagnose(h))


def test_the_overfitting_gap_quotes_the_evaluated_figures():
    h = rows([1.0, 0.6, 0.4], [1.0, 0.8, 0.7], [0.6, 0.8, 0.85], [0.6, 0.72, 0.75])
    f = diagnose(h, evaluated=evaluated(0.97, 0.75, 0.1, 0.7))
    over = f[kinds(f).index("overfitting")]
    assert "evaluated train accuracy 0.970 vs validation 0.750" in over["message"]
    assert "mode_gap" not in kinds(f)  # 0.85 vs 0.97: within MODE_GAP


def test_the_mode_gap_compares_the_epoch_whose_weights_were_kept():
    # early stopping restored epoch 2 (its val_loss is the evaluated one); the last epoch trained on
    h = rows([1.0, 0.5, 0.2, 0.1], [0.9, 0.6, 0.65, 0.7], [0.6, 0.80, 0.96, 0.99], [0.6, 0.78, 0.77, 0.76])
    assert "mode_gap" not in kinds(diagnose(h, evaluated=evaluated(0.82, 0.78, 0.45, 0.6)))
    assert "mode_gap" in kinds(diagnose(h, evaluated=evaluated(0.82, 0.78, 0.45, 0.7)))  # now epoch 4 (0.99)


def test_underfitting_from_the_evaluated_figures_says_so():
    h = rows([1.38, 1.2, 1.05, 0.98, 0.95], [1.38, 1.22, 1.08, 1.0, 0.97],
             [0.3, 0.45, 0.5, 0.55, 0.56], [0.3, 0.44, 0.5, 0.53, 0.55])
    f = diagnose(h, evaluated=evaluated(0.58, 0.55, 0.94, 0.97))
    assert kinds(f) == ["underfitting"]
    assert "train accuracy 0.580 and validation accuracy 0.550 (evaluated)" in f[0]["message"]


def test_a_loss_that_rose_slightly_says_rose_not_fell():
    f = diagnose(rows([1.414, 1.42, 1.418, 1.425, 1.427], acc=[0.3, 0.31, 0.3, 0.31, 0.3]))
    low = f[kinds(f).index("lr_too_low")]
    assert "rose 0.9%" in low["message"] and "(1.414 -> 1.427)" in low["message"]
    assert "fell" not in low["message"].replace("did not fall", "") and "-0.9" not in low["message"]


def test_a_real_run_is_diagnosed_from_its_evaluated_figures(tmp_path, quickstart):
    # dropout 0.9: training-mode accuracy stays low while the evaluated model is good
    from dlhw.config import load_config
    from dlhw.orchestration.experiment import run_experiment

    cfg = load_config(quickstart, ["training.epochs=3", "training.tensorboard=false",
                                   "model.layers=[{units: 128, dropout: 0.9}]"])
    m = run_experiment(cfg, out=tmp_path, quiet=True).metrics
    assert m["train"]["accuracy"] > 0.7
    assert "mode_gap" in kinds(m["diagnostics"]) and "underfitting" not in kinds(m["diagnostics"])
    gap = m["diagnostics"][kinds(m["diagnostics"]).index("mode_gap")]
    assert f"{m['train']['accuracy']:.3f} evaluated" in gap["message"] and "dropout" in gap["message"]
