#!/usr/bin/env bash
# S2: ResNet50 four ways (scratch, frozen + Dense, frozen + SVM with four kernels, fine-tuned
# conv5), one new image predicted by each (probabilities and logits), and the fraction of zero
# activations per layer on that one image. Validation is the test split, as in the study.
# Run from the repository root:  bash experiments/S2/run.sh
# Sized for a shared 2-core CPU without internet: 5 generated shape classes x 12 images at 32x32
# instead of 196 car classes at 224x224, weights: null (no ImageNet download), 2 epochs instead of 15.
set -euo pipefail
OUT=${OUT:-runs/S2}
DATA=data/shapes5_small
[ -d $DATA ] || python data/make_images.py --out $DATA --names circle square triangle cross ring --per-class 12 --size 32
S=(dataset.path=$DATA dataset.image_size=[32,32] training.tensorboard=false training.checkpoint=false evaluation.samples=0)
IMG=$DATA/triangle/triangle_0000.png

dlhw run configs/resnet50_scratch.yaml --out "$OUT" --overwrite --set "${S[@]}" model.output.units=null training.epochs=2
dlhw run configs/resnet50_frozen.yaml --out "$OUT" --overwrite --set "${S[@]}" model.output.units=null model.backbone.weights=null training.epochs=2
dlhw sweep configs/resnet50_svm_kernels.yaml --out "$OUT" --set "${S[@]}" model.backbone.weights=null -q
dlhw run configs/resnet50_finetune.yaml --out "$OUT" --overwrite --set "${S[@]}" model.output.units=null \
  model.backbone.weights=null model.init_from=$OUT/resnet50_frozen training.stages.0.epochs=2
dlhw report "$OUT" -q
mkdir -p "$OUT/predictions"
for r in resnet50_scratch resnet50_frozen resnet50_finetune; do
  dlhw predict "$OUT/$r" $IMG --top-k 2 --logits --json > "$OUT/predictions/$r.json"
done
dlhw predict "$OUT/resnet50_svm_kernels/kernel-poly_seed-0" $IMG --top-k 2 --json > "$OUT/predictions/resnet50_svm_poly.json"
dlhw inspect "$OUT/resnet50_scratch" "$OUT/resnet50_frozen" "$OUT/resnet50_finetune" --activations --input $IMG --out "$OUT"
cp "$OUT/activations.png" experiments/S2/activations.png
python experiments/make_tables.py --runs "$(dirname "$OUT")" S2
