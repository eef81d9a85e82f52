"""Classical heads on deep features (S2 c): a scikit-learn SVM or logistic regression
fitted on the frozen backbone's (cached) features.

The run folder holds the same metrics.json, confusion matrix and ROC as a Keras
head. model.keras is the backbone feature extractor (image -> features) and
classifier.joblib the fitted estimator beside it; ``load_classifier_run`` and
``predict_proba`` put the two back together for new images.

Scores for ROC / AUC / loss, stated in metrics.json:
- logistic: ``predict_proba`` (calibrated probabilities);
- svm: ``decision_function`` turned into scores, a sigmoid of the signed distance
  for two classes and a softmax over the one-vs-rest decision values for more.
  These are uncalibrated (``SVC(probability=True)`` would run an internal 5-fold
  Platt scaling, slow on 196 classes and able to disagree with ``predict``); the
  arg-max of the scores is the SVM's own prediction.
There are no learning curves: the estimator is fitted in one step; curves.txt
says so instead of an empty chart, and there is no history.csv.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np

from dlhw.errors import ConfigError

ESTIMATOR_FILE = "classifier.joblib"
SCORES = {
    "svm": "sigmoid (2 classes) / softmax (more) of SVC.decision_function, one-vs-rest; uncalibrated",
    "logistic": "LogisticRegression.predict_proba",
}


def make_estimator(ccfg, seed: int):
    """The unfitted scikit-learn estimator for a ClassifierConfig."""
    if ccfg.type == "svm":
        from sklearn.svm import SVC

        return SVC(kernel=ccfg.kernel, C=ccfg.C, degree=ccfg.degree, gamma=ccfg.gamma,
                   decision_function_shape="ovr", random_state=seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=ccfg.C, max_iter=ccfg.max_iter, random_state=seed)


def class_scores(estimator, feats: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) scores that sum to 1 per row; columns are class indices."""
    out = np.zeros((len(feats), num_classes), dtype=np.float64)
    if len(feats) == 0:
        return out
    cols = np.asarray(estimator.classes_, dtype=int)
    if hasattr(estimator, "predict_proba") and not hasattr(estimator, "support_"):
        out[:, cols] = estimator.predict_proba(feats)
        return out
    d = np.asarray(estimator.decision_function(feats), dtype=np.float64)
    if d.ndim == 1:  # two classes: signed distance to the margin, positive = classes_[1]
        p = 1.0 / (1.0 + np.exp(-d))
        out[:, cols[0]], out[:, cols[1]] = 1.0 - p, p
        return out
    z = np.exp(d - d.max(axis=1, keepdims=True))
    out[:, cols] = z / z.sum(axis=1, keepdims=True)
    return out


def check_classifier(cfg) -> None:
    """Refuse classifier configs that cannot work (before a run folder exists)."""
    if cfg.task != "classification":
        raise ConfigError(f"model.classifier: fits class labels; received task={cfg.task}")
    if cfg.model.backbone.trainable:
        raise ConfigError("model.backbone.trainable: a classifier is fitted on frozen features; received true")
    if cfg.training.stages and any(s.unfreeze is not None for s in cfg.training.stages):
        raise ConfigError("training.stages: a classifier is fitted once on frozen features; remove unfreeze")


def run_classifier(cfg, dataset, model, plan, run_dir: Path) -> Dict[str, Any]:
    """Fit, evaluate and save a classical head; returns metrics (also written to metrics.json)."""
    import joblib
    import sklearn

    from dlhw.models.outputs import OutputSpec
    from dlhw.orchestration.experiment import evaluate_and_write, save_model
    from dlhw.runs.folder import atomic_write_text, write_json
    from dlhw.training.trainer import TrainResult, count_params

    ccfg = cfg.model.classifier
    k = dataset.num_classes
    feats = {split: plan.features(split) for split in ("train", "val", "test")}
    est = make_estimator(ccfg, cfg.seed)
    start = time.perf_counter()
    est.fit(feats["train"], dataset.splits["train"].y.astype(int))
    fit_seconds = time.perf_counter() - start
    spec = OutputSpec(units=k, activation="softmax", loss="sparse_categorical_crossentropy", from_logits=False,
                      encoding="index", accuracy="sparse_categorical", num_classes=k)
    result = TrainResult(stage_params=[{"stage": "fit", **count_params(model)}], train_seconds=fit_seconds)
    metrics = evaluate_and_write(cfg, dataset, model, spec, result, run_dir,
                                 raw_fn=lambda split: class_scores(est, feats[split], k))
    info = {"type": ccfg.type, **ccfg.model_dump(mode="json"), "scores": SCORES[ccfg.type],
            "feature_size": int(feats["train"].shape[1]), "sklearn": sklearn.__version__}
    if hasattr(est, "n_support_"):
        info["support_vectors"] = int(np.sum(est.n_support_))
    from dlhw.data.dataset import validation_findings

    metrics.update(classifier=info, feature_cache=plan.summary(), epochs_run=0, best_epoch=None,
                   diagnostics=validation_findings(dataset))
    save_model(model, run_dir / "model.keras")
    tmp = run_dir / f".{ESTIMATOR_FILE}.tmp"
    joblib.dump({"estimator": est, "class_names": list(dataset.class_names), "num_classes": k,
                 "scores": SCORES[ccfg.type]}, tmp)
    os.replace(tmp, run_dir / ESTIMATOR_FILE)
    what = "an SVM" if ccfg.type == "svm" else "a logistic regression"
    atomic_write_text(run_dir / "curves.txt", (
        f"No learning curves and no history.csv: {what} ({ESTIMATOR_FILE}) is fitted in one step on the "
        f"frozen backbone's features, so there are no epochs to plot.\n"
        f"Fitted on {len(feats['train'])} training samples x {feats['train'].shape[1]} features in "
        f"{fit_seconds:.2f}s; model.keras is the feature extractor (image -> features).\n"
        f"See metrics.json, confusion_matrix.png and roc.png for the results.\n"))
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def load_classifier_run(run_dir: str | Path):
    """(feature extractor keras.Model, estimator bundle dict) of a classifier run folder."""
    import joblib
    import keras

    import dlhw.models.layers  # noqa: F401 - registers ImagePreprocess for safe-mode loading

    run_dir = Path(run_dir)
    bundle = joblib.load(run_dir / ESTIMATOR_FILE)
    extractor = keras.saving.load_model(run_dir / "model.keras", safe_mode=True, compile=False)
    return extractor, bundle


def predict_proba(run_dir: str | Path, images: np.ndarray) -> np.ndarray:
    """Class scores (N x K) of a classifier run for float32 images (N, H, W, C) in 0..255."""
    extractor, bundle = load_classifier_run(run_dir)
    feats = np.asarray(extractor.predict(images, verbose=0))
    return class_scores(bundle["estimator"], feats, bundle["num_classes"])
