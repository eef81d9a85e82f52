#!/usr/bin/env bash
# S5: MLP sweeps on handwritten digits, the chosen model with RandomUniform weights,
# and unseen classes. Run from the repository root:  bash experiments/S5/run.sh
# Offline stand-in for MNIST: scikit-learn's 8x8 digits (1797 images). On MNIST add
#   --set dataset.source=keras dataset.name=mnist   to every command (needs mnist.npz).
# Sweeps use 10 epochs instead of 20 to fit a 2-core CPU.
set -euo pipefail
OUT=${OUT:-runs/S5}

dlhw data preview configs/quickstart.yaml --out "$OUT"
for s in mlp_layers mlp_neurons mlp_optimizers; do
  dlhw sweep configs/$s/ --out "$OUT" --set training.epochs=10 training.tensorboard=false -q
  dlhw report "$OUT/$s" -q
done
dlhw run configs/s5_chosen_random_uniform.yaml --out "$OUT" --overwrite
dlhw run configs/mnist_open_set.yaml --out "$OUT" --overwrite --name unseen_only --set evaluation.open_set=null
dlhw run configs/mnist_open_set.yaml --out "$OUT" --overwrite --name open_set_distance
dlhw run configs/mnist_open_set.yaml --out "$OUT" --overwrite --name open_set_max_prob --set evaluation.open_set.method=max_prob
