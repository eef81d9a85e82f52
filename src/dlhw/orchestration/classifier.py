"""A classifier run (S2 c): fit the scikit-learn estimator of ``model.classifier`` on the
frozen backbone's (cached) features, evaluate it like a Keras head, and write the run
folder: metrics.json, confusion matrix, ROC, model.keras (the feature extractor),
classifier.joblib and curves.txt (why there are no learning curves).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict

import numpy as np

from dlhw.models.classical import IN_MEMORY, SCORES, chunked_scores, fit_incremental, make_estimator
from dlhw.rundir import layout


def run_classifier(cfg, dataset, model, plan, run_dir: Path) -> Dict[str, Any]:
    """Fit, evaluate and save a classical head; returns metrics (also written to metrics.json)."""
    import joblib
    import sklearn

    from dlhw.models.outputs import OutputSpec
    from dlhw.orchestration.evaluate import evaluate_and_write, save_model
    from dlhw.runtime.files import replacing, write_text
    from dlhw.training.trainer import TrainResult, count_params

    ccfg = cfg.model.classifier
    k = dataset.num_classes
    feats = {split: plan.features(split) for split in ("train", "val", "test")}
    est = make_estimator(ccfg, cfg.seed)
    from dlhw.training.class_weights import as_keras, class_weights, describe

    weights = class_weights(cfg, dataset)  # training.class_weight: scikit-learn's class_weight
    if weights is not None:
        est.set_params(class_weight=as_keras(weights))
    start = time.perf_counter()
    y = dataset.splits["train"].y.astype(int)
    if ccfg.type in IN_MEMORY:
        est.fit(feats["train"], y)
    else:
        fit_incremental(est, feats["train"], y, np.arange(k), ccfg.C, ccfg.epochs, cfg.seed)
    fit_seconds = time.perf_counter() - start
    spec = OutputSpec(units=k, activation="softmax", loss="sparse_categorical_crossentropy", from_logits=False,
                      encoding="index", accuracy="sparse_categorical", num_classes=k)
    result = TrainResult(stage_params=[{"stage": "fit", **count_params(model)}], train_seconds=fit_seconds)
    metrics = evaluate_and_write(cfg, dataset, model, spec, result, run_dir,
                                 raw_fn=lambda split: chunked_scores(est, feats[split], k))
    info = {"type": ccfg.type, **ccfg.model_dump(mode="json"), "scores": SCORES[ccfg.type],
            "feature_size": int(feats["train"].shape[1]), "sklearn": sklearn.__version__}
    if hasattr(est, "n_support_"):
        info["support_vectors"] = int(np.sum(est.n_support_))
    from dlhw.data.dataset import validation_findings

    metrics.update(classifier=info, feature_cache=plan.summary(), epochs_run=0, best_epoch=None,
                   diagnostics=validation_findings(dataset))
    if weights is not None:
        metrics["class_weight"] = describe(weights, dataset)
    save_model(model, run_dir / layout.MODEL)
    with replacing(run_dir / layout.ESTIMATOR) as tmp:
        joblib.dump({"estimator": est, "class_names": list(dataset.class_names), "num_classes": k,
                     "scores": SCORES[ccfg.type]}, tmp)
    what = {"svm": "an SVM", "logistic": "a logistic regression",
            "sgd": "a logistic regression fitted by SGD (partial_fit, chunk by chunk)"}[ccfg.type]
    write_text(run_dir / layout.CURVES_NOTE, (
        f"No learning curves and no history.csv: {what} ({layout.ESTIMATOR}) is fitted in one step on the "
        f"frozen backbone's features, so there are no learning curves to plot.\n"
        f"Fitted on {len(feats['train'])} training samples x {feats['train'].shape[1]} features in "
        f"{fit_seconds:.2f}s; model.keras is the feature extractor (image -> features).\n"
        f"See metrics.json, confusion_matrix.png and roc.png for the results.\n"))
    from dlhw.rundir.records import write_metrics

    write_metrics(run_dir, metrics)
    return metrics


def check_fits_in_memory(ccfg, plan, n_train: int) -> None:
    """SVM / logistic fit on the whole training matrix: refuse, before the backbone pass, features
    larger than the memory budget (data.image_cache.memory_budget), saying what to do instead."""
    if ccfg.type not in IN_MEMORY:
        return
    from dlhw.data.image_cache import memory_budget
    from dlhw.errors import ConfigError

    width = plan.feature_shape()
    nbytes, budget = n_train * int(np.prod(width)) * 4, memory_budget()
    if nbytes > budget:
        raise ConfigError(
            f"model.classifier.type: {ccfg.type} needs the training features in memory, {n_train} x "
            f"{'x'.join(map(str, width))} floats = {_size(nbytes)}, over the memory budget of "
            f"{_size(budget)} ($DLHW_CACHE_MEMORY); use model.backbone.pooling: avg (or max) or "
            f"model.classifier.type: sgd (fitted chunk by chunk); received type={ccfg.type}")


def _size(nbytes: int) -> str:
    return f"{nbytes / 2 ** 20:.0f} MB" if nbytes >= 2 ** 20 else f"{nbytes / 1024:.0f} KB"
