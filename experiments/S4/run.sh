#!/usr/bin/env bash
# S4: output layers and losses. Run from the repository root:  bash experiments/S4/run.sh
# Offline stand-ins: data/phones.csv (synthetic, 2000 rows, see data/PROVENANCE.md) for the phone
# table; scikit-learn digits for Reuters (reuters.npz cannot be downloaded here); the synthetic
# data/landmarks.csv for the landmark heads. Validation is the test split, as in the study
# (the 400 phones; Reuters' official test set). Fewer epochs than the study on a shared 2-core CPU.
set -euo pipefail
OUT=${OUT:-runs/S4}
T=(training.tensorboard=false training.checkpoint=false)

dlhw run configs/tabular_mlp.yaml --out "$OUT" --overwrite --set "${T[@]}" training.epochs=60
dlhw sweep configs/reuters_losses/ --out "$OUT" --set dataset.source=sklearn dataset.name=digits training.epochs=10 -q
# The finding as claims (softmax + categorical CE best, sigmoid + MSE worst), 5 seeds per pairing,
# paired by seed, on the same stand-in: configs/s4_output_losses/s4_output_losses.yaml.
dlhw sweep configs/s4_output_losses/ --out "$OUT" -q
dlhw report "$OUT/s4_output_losses" --check -q || echo "a claim was refuted (the README says which)"
dlhw run configs/landmarks_regression.yaml --out "$OUT" --overwrite --set "${T[@]}" training.epochs=20
dlhw report "$OUT" -q
cp "$OUT/tabular_mlp/curves.png" experiments/S4/tabular_mlp_curves.png
cp "$OUT/charts/reuters_losses_val_accuracy.png" experiments/S4/output_loss_val_accuracy.png
cp "$OUT/landmarks_regression/predicted_vs_true.png" experiments/S4/landmarks_predicted_vs_true.png
python experiments/make_tables.py --runs "$(dirname "$OUT")" S4
