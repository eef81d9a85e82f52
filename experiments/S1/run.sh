#!/usr/bin/env bash
# S1: transfer learning for a two-class image task (DenseNet201 vs ResNet152).
# Run from the repository root:  bash experiments/S1/run.sh
# Sized for a 2-core CPU without internet: 200 generated images (circles vs squares) at
# 64x64 instead of 128x128, random backbone weights (weights: null; ImageNet weights
# cannot be downloaded here), 15 head epochs instead of 100, a 3-epoch fine-tune.
set -euo pipefail
OUT=${OUT:-runs/S1}
[ -d data/two_class ] || python data/make_images.py --out data/two_class --names 0 1 --per-class 100 --size 64
SMALL=(dataset.image_size=[64,64] model.backbone.weights=null training.tensorboard=false)

dlhw sweep experiments/S1/densenet_heads.yaml --out "$OUT" --set "${SMALL[@]}" training.epochs=15 -q
dlhw run configs/resnet152_head.yaml --out "$OUT" --overwrite --set "${SMALL[@]}" training.epochs=15
dlhw run configs/densenet_finetune.yaml --out "$OUT" --overwrite --set "${SMALL[@]}" \
  'training.stages=[{name: head, epochs: 15, optimizer: {type: adam, learning_rate: 0.001}},
    {name: finetune, unfreeze: {from_layer: 190}, epochs: 3, optimizer: {type: adam, learning_rate: 0.00001},
     early_stopping: {monitor: val_accuracy, patience: 5, restore_best_weights: true}}]'
dlhw report "$OUT" -q
