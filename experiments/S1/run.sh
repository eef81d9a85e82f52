#!/usr/bin/env bash
# S1: transfer learning for a two-class image task (DenseNet201 vs ResNet152), every variant the
# study compared, from the shipped configs. Run from the repository root:  bash experiments/S1/run.sh
# Sized to finish in a few minutes on a shared 2-core CPU without internet: 60 generated images
# (circles = class 0, squares = class 1) at 32x32 instead of ~800 photos at 128x128, random
# backbone weights (weights: null; ImageNet cannot be downloaded here), 3 head epochs instead of
# 100, 1 fine-tuning epoch. Full size: drop the --set lines.
set -euo pipefail
OUT=${OUT:-runs/S1}
DATA=data/two_class_small
[ -d $DATA ] || python data/make_images.py --out $DATA --names 0 1 --per-class 30 --size 32
S=(dataset.path=$DATA dataset.image_size=[32,32] model.backbone.weights=null training.tensorboard=false training.checkpoint=false evaluation.samples=0)

dlhw sweep configs/densenet_heads.yaml --out "$OUT" --set "${S[@]}" training.epochs=3 -q
dlhw sweep configs/resnet152_heads.yaml --out "$OUT" --set "${S[@]}" training.epochs=3 -q
# Fine-tuning: the first depth of configs/densenet_finetune_layers.yaml (from layer 190 at 1e-4, BN trainable)
# is configs/densenet_finetune.yaml. Each fine-tuning trial traces a DenseNet201 / ResNet152 training step,
# minutes on this CPU, so the other three depths and the five ResNet152 depths are listed, not run, here:
dlhw run configs/densenet_finetune.yaml --out "$OUT" --overwrite --set "${S[@]}" training.stages.0.epochs=3 training.stages.1.epochs=2
dlhw sweep configs/densenet_finetune_layers.yaml --dry-run --out "$OUT" --set "${S[@]}"
dlhw sweep configs/resnet152_finetune.yaml --dry-run --out "$OUT" --set "${S[@]}"
dlhw report "$OUT" -q
python experiments/make_tables.py --runs "$(dirname "$OUT")" S1
