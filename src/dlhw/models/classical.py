"""Classical heads on deep features (S2 c): a scikit-learn SVM or logistic regression
fitted on the frozen backbone's (cached) features: the estimator, its class scores,
and loading a fitted one back (fitting and writing the run: orchestration.classifier).

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

from pathlib import Path

import numpy as np

from dlhw.rundir import layout

SCORES = {
    "svm": "sigmoid (2 classes) / softmax (more) of SVC.decision_function, one-vs-rest; uncalibrated",
    "logistic": "LogisticRegression.predict_proba",
    "sgd": "SGDClassifier(loss='log_loss').predict_proba (a logistic regression fitted by SGD, chunk by chunk)",
}
IN_MEMORY = ("svm", "logistic")  # scikit-learn fits these on the whole training matrix at once


def make_estimator(ccfg, seed: int):
    """The unfitted scikit-learn estimator for a ClassifierConfig."""
    if ccfg.type == "svm":
        from sklearn.svm import SVC

        return SVC(kernel=ccfg.kernel, C=ccfg.C, degree=ccfg.degree, gamma=ccfg.gamma,
                   decision_function_shape="ovr", random_state=seed)
    if ccfg.type == "sgd":
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier(loss="log_loss", random_state=seed)  # alpha: set from C and N in fit_incremental
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=ccfg.C, max_iter=ccfg.max_iter, random_state=seed)


def chunk_rows(row_bytes: int, target: int = 64 * 1024 ** 2) -> int:
    """Rows per chunk of about ``target`` bytes (at least 1)."""
    return max(1, target // max(1, row_bytes))


def fit_incremental(estimator, feats, y: np.ndarray, classes: np.ndarray, C: float, epochs: int, seed: int) -> None:
    """``partial_fit`` over ``feats`` (an array or a feature_store.FeatureFile) chunk by chunk,
    ``epochs`` passes, the chunks of pass e in a (seed, e) order: never the whole matrix in memory.
    The L2 penalty ``alpha = 1 / (C * N)`` is LogisticRegression's C on N samples."""
    n = len(feats)
    estimator.set_params(alpha=1.0 / (C * n))
    size = chunk_rows(int(np.prod(feats.shape[1:])) * 4)
    starts = np.arange(0, n, size)
    for epoch in range(epochs):
        for at in np.random.default_rng([seed, epoch]).permutation(starts):
            block = feats.rows(at, at + size) if hasattr(feats, "rows") else feats[at:at + size]
            estimator.partial_fit(block, y[at:at + len(block)], classes=classes)


def chunked_scores(estimator, feats, num_classes: int) -> np.ndarray:
    """``class_scores`` of an array or a FeatureFile, computed chunk by chunk."""
    if isinstance(feats, np.ndarray):
        return class_scores(estimator, feats, num_classes)
    size = chunk_rows(int(np.prod(feats.shape[1:])) * 4)
    parts = [class_scores(estimator, feats.rows(at, at + size), num_classes) for at in range(0, len(feats), size)]
    return np.concatenate(parts) if parts else np.zeros((0, num_classes))


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


def load_classifier_run(run_dir: str | Path):
    """(feature extractor keras.Model, estimator bundle dict) of a classifier run folder."""
    import joblib
    import keras

    import dlhw.models.layers  # noqa: F401 - registers ImagePreprocess for safe-mode loading

    run_dir = Path(run_dir)
    bundle = joblib.load(run_dir / layout.ESTIMATOR)
    extractor = keras.saving.load_model(run_dir / layout.MODEL, safe_mode=True, compile=False)
    return extractor, bundle


def predict_proba(run_dir: str | Path, images: np.ndarray) -> np.ndarray:
    """Class scores (N x K) of a classifier run for float32 images (N, H, W, C) in 0..255."""
    extractor, bundle = load_classifier_run(run_dir)
    feats = np.asarray(extractor.predict(images, verbose=0))
    return class_scores(bundle["estimator"], feats, bundle["num_classes"])
