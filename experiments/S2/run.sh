#!/usr/bin/env bash
# S2: ResNet50 four ways (scratch, frozen + Dense, frozen + SVM, fine-tuned conv5),
# predictions for one new image, and the fraction of zero activations per layer.
# Run from the repository root:  bash experiments/S2/run.sh
# Sized for a 2-core CPU without internet: 5 generated shape classes x 40 images at 64x64
# instead of 196 car classes at 224x224, weights: null (no ImageNet download), 5 epochs.
set -euo pipefail
OUT=${OUT:-runs/S2}
DATA=data/shapes5
[ -d $DATA ] || python data/make_images.py --out $DATA --names circle square triangle cross ring --per-class 40 --size 64
S=(dataset.path=$DATA dataset.image_size=[64,64] model.output.units=null training.tensorboard=false)

dlhw run configs/resnet50_scratch.yaml --out "$OUT" --overwrite --set "${S[@]}" training.epochs=5
dlhw run configs/resnet50_frozen.yaml --out "$OUT" --overwrite --set "${S[@]}" model.backbone.weights=null training.epochs=5
dlhw run configs/resnet50_svm.yaml --out "$OUT" --overwrite --set dataset.path=$DATA dataset.image_size=[64,64] model.backbone.weights=null
dlhw run configs/resnet50_finetune.yaml --out "$OUT" --overwrite --set "${S[@]}" model.backbone.weights=null \
  model.init_from=$OUT/resnet50_frozen \
  'training.stages=[{name: finetune, unfreeze: {from_block: conv5}, epochs: 5, optimizer: {type: adam, learning_rate: 0.001}}]'
dlhw report "$OUT" -q
for r in resnet50_scratch resnet50_frozen resnet50_svm resnet50_finetune; do
  dlhw predict "$OUT/$r" $DATA/triangle/triangle_0000.png --top-k 2
done
dlhw inspect "$OUT/resnet50_scratch" "$OUT/resnet50_frozen" "$OUT/resnet50_finetune" --activations --samples 30 --out "$OUT"
