#!/usr/bin/env bash
# S3: a small CNN two ways (Sequential / Functional), an Inception block, and the
# optimisation diagnostics. Run from the repository root:  bash experiments/S3/run.sh
# Sized for a 2-core CPU: 3000 generated images (as in the study) but fed at 32x32
# instead of 256x256, and 8 epochs.
set -euo pipefail
OUT=${OUT:-runs/S3}
SMALL=(--set dataset.image_size=[32,32] training.epochs=8 training.tensorboard=false)

[ -d data/cnn_images ] || python data/make_images.py          # 2 x 1500 generated images (circle / square), 64x64
dlhw data preview configs/small_cnn_sequential.yaml --out "$OUT" --set dataset.image_size=[64,64]
dlhw run configs/small_cnn_sequential.yaml --out "$OUT" --overwrite "${SMALL[@]}"
dlhw run configs/small_cnn_functional.yaml --out "$OUT" --overwrite "${SMALL[@]}"
dlhw run configs/small_cnn_inception.yaml --out "$OUT" --overwrite "${SMALL[@]}"
dlhw predict "$OUT/small_cnn_sequential" data/cnn_images/circle/circle_0000.png data/cnn_images/square/square_0000.png
dlhw predict "$OUT/small_cnn_functional" data/cnn_images/circle/circle_0000.png data/cnn_images/square/square_0000.png
dlhw inspect "$OUT/small_cnn_sequential" "$OUT/small_cnn_functional" "$OUT/small_cnn_inception" --activations --samples 64 --out "$OUT"
for c in lr_too_high lr_too_low batch_gd minibatch_gd; do
  dlhw run configs/s3_diagnostics/$c.yaml --out "$OUT/diagnostics" --overwrite
done
dlhw run configs/s3_diagnostics/lr_too_high.yaml --out "$OUT/diagnostics" --name lr_nan --overwrite \
  --set training.optimizer.type=sgd training.optimizer.learning_rate=1e6 || true   # diverges: exit 1 by design
dlhw report "$OUT/diagnostics" --out "$OUT/diagnostics"
