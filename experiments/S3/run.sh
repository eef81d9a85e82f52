#!/usr/bin/env bash
# S3: the small CNN (Conv2D(relu) -> BatchNorm -> MaxPool, x3) with the Sequential and the
# Functional API, the Inception host network, and the learning-rate / batch-size diagnostics.
# Run from the repository root:  bash experiments/S3/run.sh
# Sized for a shared 2-core CPU: 600 of the 3000 generated images (max_samples) at 32x32 instead of
# 256x256, 3 epochs; the host network trains on the same images (CIFAR-10 cannot be downloaded),
# so its output has 2 units instead of 10; the diagnostics run on scikit-learn digits, 10 epochs.
set -euo pipefail
OUT=${OUT:-runs/S3}
[ -d data/cnn_images ] || python data/make_images.py          # 2 x 1500 generated images (circle / square), 64x64
S=(dataset.image_size=[32,32] dataset.max_samples=1200 training.epochs=6 training.tensorboard=false training.checkpoint=false)

dlhw run configs/small_cnn_sequential.yaml --out "$OUT" --overwrite --set "${S[@]}"
dlhw run configs/small_cnn_functional.yaml --out "$OUT" --overwrite --set "${S[@]}"
dlhw run configs/inception_host.yaml --out "$OUT" --overwrite --set "${S[@]}" dataset.source=image_folder \
  dataset.name=null dataset.path=data/cnn_images model.output.units=null
for c in lr_too_high lr_too_low batch_gd minibatch_gd; do
  dlhw run configs/s3_diagnostics/$c.yaml --out "$OUT/diagnostics" --overwrite --set training.epochs=10 training.tensorboard=false
done
# Sequential = Functional as a claim, on a learnable stand-in (32x32 images made at that size, no
# BatchNorm, 10 epochs, 5 seeds per API): configs/s3_api/s3_api.yaml says why.
[ -d data/cnn_images_32 ] || python data/make_images.py --out data/cnn_images_32 --size 32 --per-class 400
dlhw sweep configs/s3_api/ --out "$OUT" -q
dlhw report "$OUT" -q
dlhw report "$OUT/s3_api" --check -q || echo "a claim was refuted (the README says which)"
dlhw report "$OUT/diagnostics" -q
cp "$OUT/small_cnn_sequential/samples.png" experiments/S3/samples.png
cp "$OUT/diagnostics/lr_too_high/curves.png" experiments/S3/lr_too_high_curves.png
cp "$OUT/diagnostics/charts/loose_runs_val_loss.png" experiments/S3/diagnostics_val_loss.png
python experiments/make_tables.py --runs "$(dirname "$OUT")" S3
