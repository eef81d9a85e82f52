#!/usr/bin/env bash
# S5: MLP sweeps on handwritten digits (layers counted with the output layer, the 10-layer net on
# RMSprop; units with the chosen 256 -> 512 net; optimizers), the chosen net with RandomUniform
# weights, and unseen classes (distance, max_prob and known-vs-other rejection side by side).
# Run from the repository root:  bash experiments/S5/run.sh
# Offline stand-in for MNIST: scikit-learn's 8x8 digits (all 1797 images); 5 epochs per sweep trial;
# the optimizers sweep runs 5 seeds per optimizer (its claims are tested by dlhw report --check).
# On MNIST add  --set dataset.source=keras dataset.name=mnist  (needs mnist.npz).
set -euo pipefail
OUT=${OUT:-runs/S5}
T=(training.tensorboard=false training.checkpoint=false)

for s in mlp_layers mlp_neurons mlp_optimizers; do
  dlhw sweep configs/$s/ --out "$OUT" --set training.epochs=5 "${T[@]}" -q
done
dlhw run configs/s5_chosen_random_uniform.yaml --out "$OUT" --overwrite --set "${T[@]}"
dlhw run configs/mnist_open_set.yaml --out "$OUT" --overwrite --name open_set_distance --set "${T[@]}"
dlhw run configs/mnist_open_set.yaml --out "$OUT" --overwrite --name open_set_max_prob \
  --set evaluation.open_set.method=max_prob "${T[@]}"
dlhw run configs/s5_known_vs_other.yaml --out "$OUT" --overwrite --name open_set_other --set "${T[@]}"
dlhw report "$OUT" -q
dlhw report "$OUT/mlp_optimizers" --check -q || echo "a claim was refuted (the README says which)"  # the optimizer findings
cp "$OUT/charts/mlp_layers_val_accuracy.png" experiments/S5/layers_val_accuracy.png
cp "$OUT/charts/mlp_optimizers_val_accuracy.png" experiments/S5/optimizers_val_accuracy.png
cp "$OUT/open_set_distance/open_set_confusion.png" experiments/S5/open_set_distance_confusion.png
python experiments/make_tables.py --runs "$(dirname "$OUT")" S5
