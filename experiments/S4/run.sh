#!/usr/bin/env bash
# S4: output layers and losses. Run from the repository root:  bash experiments/S4/run.sh
# Offline stand-ins: data/phones.csv (synthetic, see data/PROVENANCE.md) for the phone table,
# scikit-learn digits for Reuters (reuters.npz cannot be downloaded here), and the
# synthetic data/landmarks.csv for the landmark regression heads.
set -euo pipefail
OUT=${OUT:-runs/S4}

# Tabular: the study's MLP (SGD 1e-4; 100 epochs instead of 300 on this shared CPU), then with Adam 1e-3.
dlhw run configs/tabular_mlp.yaml --out "$OUT" --overwrite --set training.tensorboard=false training.epochs=100
dlhw run configs/tabular_mlp.yaml --out "$OUT" --overwrite --name tabular_mlp_adam \
  --set training.optimizer.type=adam training.optimizer.learning_rate=0.001 training.epochs=60 training.tensorboard=false
head -6 data/phones.csv > "$OUT/new_phones.csv"
dlhw predict "$OUT/tabular_mlp_adam" "$OUT/new_phones.csv" --top-k 2

# Output/loss pairings: the five Reuters variants on digits (TensorBoard logs under each run's tb/).
dlhw sweep configs/reuters_losses/ --out "$OUT" --set dataset.source=sklearn dataset.name=digits -q
dlhw report "$OUT/reuters_losses" -q

# Landmark regression heads: sigmoid + masked Euclidean, linear + masked Euclidean, and MSE (refused: NaN targets).
dlhw run configs/landmarks_regression.yaml --out "$OUT" --overwrite --set training.tensorboard=false
dlhw run configs/landmarks_regression.yaml --out "$OUT" --overwrite --name landmarks_linear \
  --set model.output.activation=linear training.tensorboard=false
dlhw run configs/landmarks_regression.yaml --out "$OUT" --name landmarks_mse --set training.loss=mse || true
