"""The search report's best-so-far chart draws a pruned trial where it stood when it was stopped."""

from __future__ import annotations

from dlhw.reports.search import _last_reported


def test_a_pruned_trial_is_placed_at_its_last_reported_value(tmp_path):
    trial = tmp_path / "003_pruned"
    trial.mkdir()
    (trial / "history.csv").write_text("stage,epoch,loss,val_accuracy\ntrain,1,1.2,0.41\ntrain,2,0.9,0.57\n")
    assert _last_reported(tmp_path, {"name": "003_pruned"}, "val_accuracy") == 0.57
    assert _last_reported(tmp_path, {"name": "gone"}, "val_accuracy") is None  # no folder: not drawn
    assert _last_reported(tmp_path, {"name": "003_pruned"}, "val_loss") is None  # no such column
