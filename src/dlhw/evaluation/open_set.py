"""Unseen classes and open-set rejection (S5).

With ``dataset.classes`` set, the classes left out form the unseen set (taken
from the test split). ``unseen_report`` says, for each unseen class, which
known class the model calls it most often (S5: a 9 is called a 4).

With ``evaluation.open_set`` the model may also answer "other":

- ``distance``: features are the input of the output layer (the penultimate
  layer's space); class centres are the mean training feature of each known
  class; an input whose distance to the nearest centre exceeds the threshold
  is rejected. The threshold is the ``percentile`` (default 95) of the
  nearest-centre distances of the validation split's known samples, so about
  5 % of known inputs are rejected by construction.
- ``max_prob``: an input whose highest class probability is below the
  threshold is rejected; the threshold is the (100 - percentile) percentile of
  the validation split's highest probabilities.

- ``other`` (outlier exposure, S5's second remedy): with ``dataset.other_classes`` the
  model was trained with one extra class "other" made of those classes (not the unseen
  ones); an input is rejected when "other" is its most probable class. No threshold is
  fitted; the score is the probability of "other". With an "other" class, the other two
  methods also count an answer "other" as a rejection, and only the known classes' test
  samples count as known (the test split's "other" samples are neither known nor unseen).

Accepted inputs keep the model's predicted class. Reported on the test split:
known accuracy (known inputs accepted *and* classified correctly), closed-set
accuracy (ignoring rejection), known false-rejection rate, unseen rejection
rate, open-set accuracy over all inputs, and an open-set confusion matrix whose
rows are the true classes (known, then unseen) and whose columns are the known
classes plus "other" (open_set_confusion.csv / .png).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.rundir import layout

OTHER = "other"


def _proba(model, dataset, split, spec, batch_size: int) -> np.ndarray:
    from dlhw.evaluation.metrics import predict_raw
    from dlhw.models.outputs import scores_to_proba

    return scores_to_proba(predict_raw(model, dataset, split, batch_size), spec)


def unseen_report(proba: np.ndarray, unseen_y: np.ndarray, known: List[str], unseen: List[str],
                  pred: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Per unseen class: how often it is called each known class, and the most common one."""
    pred = proba.argmax(axis=1) if pred is None else pred
    per_class: Dict[str, Any] = {}
    mistaken: Dict[str, str] = {}
    for u, name in enumerate(unseen):
        mask = unseen_y.astype(int) == u
        if not mask.any():
            continue
        labels = [known[p] if p >= 0 else OTHER for p in pred[mask]]
        counts = {c: labels.count(c) for c in known + ([OTHER] if OTHER in labels else []) if labels.count(c)}
        top = max(counts, key=lambda c: counts[c])
        per_class[name] = {"samples": int(mask.sum()), "predicted_as": counts, "most_often": top,
                           "most_often_fraction": counts[top] / int(mask.sum())}
        mistaken[name] = top
    return {"samples": int(len(unseen_y)), "classes": list(unseen), "per_class": per_class, "mistaken_for": mistaken}


def feature_model(model):
    """A model from the inputs to the input of the output layer (the penultimate features)."""
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.layers[-1].input)


def fit_threshold(val_scores: np.ndarray, method: str, percentile: float) -> float:
    """The rejection threshold from the validation split's known-class scores."""
    if method == "distance":  # reject distances above: keep `percentile` % of known inputs
        return float(np.percentile(val_scores, percentile))
    return float(np.percentile(val_scores, 100.0 - percentile))  # reject max-probs below


def nearest_centre_distance(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
    f = features.reshape(len(features), -1).astype(np.float64)
    d2 = (f ** 2).sum(1)[:, None] - 2 * f @ centres.T + (centres ** 2).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0)).min(axis=1)


def open_set_scores(cfg, dataset, model, spec, batch_size: int,
                    proba: Dict[str, np.ndarray], n_known: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Scores for val, test and unseen: nearest-centre distance (to the centres of the first
    ``n_known`` classes, default all), the highest probability, or the probability of the
    "other" class (from ``proba``, the class probabilities of those three parts, already computed)."""
    method = cfg.evaluation.open_set.method
    parts = {"val": dataset.splits["val"], "test": dataset.splits["test"], "unseen": dataset.unseen}
    if method == "max_prob":
        return {k: proba[k].max(axis=1) for k in parts}
    if method == "other":
        return {k: proba[k][:, -1] for k in parts}
    from dlhw.evaluation.metrics import predict_raw

    fm = feature_model(model)
    train = predict_raw(fm, dataset, "train", batch_size)
    train = train.reshape(len(train), -1).astype(np.float64)
    y = dataset.splits["train"].y.astype(int)
    centres = np.stack([train[y == c].mean(axis=0) for c in range(n_known or dataset.num_classes)])
    return {k: nearest_centre_distance(predict_raw(fm, dataset, s, batch_size), centres) for k, s in parts.items()}


SCORES = {"distance": "distance to the nearest class centre (penultimate layer)",
          "max_prob": "highest class probability",
          "other": "probability of the 'other' class (rejected when it is the most probable class)"}


def rejected(method: str, score: np.ndarray, threshold: Optional[float], pred: np.ndarray,
             other: Optional[int]) -> np.ndarray:
    """Which inputs are rejected: by the score and threshold (distance: above, max_prob: below),
    and, when the model has an "other" class (index ``other``), every input it calls "other"."""
    if method == "distance":
        out = score > threshold
    elif method == "max_prob":
        out = score < threshold
    else:
        out = np.zeros(len(score), dtype=bool)
    return out | (pred == other) if other is not None else out


def open_set_metrics(cfg, known_y, known_pred, known_score, unseen_pred, unseen_score, threshold,
                     other: Optional[int] = None, closed_pred: Optional[np.ndarray] = None) -> tuple:
    """metrics.json's open_set figures; ``other``: the index of the "other" class when the model
    has one, ``closed_pred``: the known samples' most probable known class (default ``known_pred``)."""
    method = cfg.evaluation.open_set.method
    kr = rejected(method, known_score, threshold, known_pred, other)
    ur = rejected(method, unseen_score, threshold, unseen_pred, other)
    closed_pred = known_pred if closed_pred is None else closed_pred
    correct = (known_pred == known_y.astype(int)) & ~kr
    n_k, n_u = len(known_y), len(unseen_score)
    return {
        "method": method, "percentile": None if method == "other" else cfg.evaluation.open_set.percentile,
        "score": SCORES[method],
        "threshold": threshold,
        "known_samples": int(n_k), "unseen_samples": int(n_u),
        "known_accuracy": float(correct.mean()) if n_k else None,
        "closed_set_accuracy": float((closed_pred == known_y.astype(int)).mean()) if n_k else None,
        "known_false_rejection_rate": float(kr.mean()) if n_k else None,
        "unseen_rejection_rate": float(ur.mean()) if n_u else None,
        "open_set_accuracy": float((correct.sum() + ur.sum()) / max(n_k + n_u, 1)),
    }, kr, ur


def open_set_confusion(known_y, known_pred, kr, unseen_y, unseen_pred, ur, k: int, n_unseen: int) -> np.ndarray:
    """Rows: known then unseen true classes; columns: known predicted classes, then 'other'."""
    cm = np.zeros((k + n_unseen, k + 1), dtype=int)
    for t, p, r in zip(known_y.astype(int), known_pred, kr):
        cm[t, k if r else p] += 1
    for t, p, r in zip(unseen_y.astype(int), unseen_pred, ur):
        cm[k + t, k if r else p] += 1
    return cm


def write_open_set_confusion(cm: np.ndarray, rows: List[str], cols: List[str], run_dir: Path, title: str) -> None:
    import pandas as pd

    from dlhw.evaluation.figure import figure, save
    from dlhw.runtime.files import write_text

    df = pd.DataFrame(cm, index=[f"true:{n}" for n in rows], columns=[f"pred:{n}" for n in cols])
    df.index.name = "true\\pred"
    write_text(run_dir / layout.OPEN_SET_CONFUSION_CSV, df.to_csv())
    fig = figure(min(3 + 0.55 * len(cols), 20), min(2.5 + 0.45 * len(rows), 20))
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", aspect="auto", vmin=0, vmax=max(int(cm.max()), 1) if cm.size else 1)
    fig.colorbar(im, ax=ax, shrink=0.8, label="samples")
    ax.set_xticks(range(len(cols)), cols, rotation=45 if len(cols) > 6 else 0)
    ax.set_yticks(range(len(rows)), rows)
    n_known = len(cols) - 1
    ax.axhline(n_known - 0.5, color="crimson", lw=1.5)
    ax.axvline(n_known - 0.5, color="crimson", lw=1.5, ls=":")
    if len(rows) <= 30:
        from dlhw.evaluation.plots import text_colour

        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=9, color=text_colour(im, cm[i, j]))
    ax.set_xlabel("predicted (known classes, then other = rejected)")
    ax.set_ylabel("true class (below the red line: unseen)")
    ax.set_title(title)
    save(fig, run_dir / layout.OPEN_SET_CONFUSION_PNG)


def evaluate_unseen(cfg, dataset, model, spec, run_dir: Path, batch_size: int,
                    known_proba: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, Any]:
    """metrics.json entries 'unseen' (and 'open_set' when configured); writes the open-set matrix.

    ``known_proba``: class probabilities of the val and test splits when the caller has
    them already (dlhw.orchestration.experiment does); otherwise they are predicted here."""
    if dataset.unseen is None or len(dataset.unseen) == 0 or spec.encoding not in ("index", "binary", "onehot"):
        return {}
    names, unseen = list(dataset.class_names), list(dataset.unseen_names)
    other = len(names) - 1 if getattr(cfg.dataset, "other_classes", None) else None  # dataset.other_classes
    known = names if other is None else names[:other]
    unseen_proba = _proba(model, dataset, dataset.unseen, spec, batch_size)
    out: Dict[str, Any] = {"unseen": unseen_report(unseen_proba, dataset.unseen.y, names, unseen)}
    if cfg.evaluation.open_set is None:
        return out
    method = cfg.evaluation.open_set.method
    test, val = dataset.splits["test"], dataset.splits["val"]
    proba = {k: (known_proba or {}).get(k) for k in ("val", "test")}
    proba = {k: v if v is not None else _proba(model, dataset, k, spec, batch_size) for k, v in proba.items()}
    proba["unseen"] = unseen_proba
    keep = np.ones(len(test), dtype=bool) if other is None else test.y.astype(int) != other  # known test samples
    known_y = test.y[keep]
    known_pred = proba["test"][keep].argmax(axis=1)
    closed_pred = proba["test"][keep][:, :len(known)].argmax(axis=1)
    unseen_pred = unseen_proba.argmax(axis=1)
    scores = open_set_scores(cfg, dataset, model, spec, batch_size, proba, n_known=len(known))
    threshold = None
    if method != "other":
        val_keep = np.ones(len(val), dtype=bool) if other is None else val.y.astype(int) != other
        threshold = fit_threshold(scores["val"][val_keep], method, cfg.evaluation.open_set.percentile)
    metrics, kr, ur = open_set_metrics(cfg, known_y, known_pred, scores["test"][keep], unseen_pred,
                                       scores["unseen"], threshold, other=other, closed_pred=closed_pred)
    if other is not None:
        metrics["other_classes"] = [str(c) for c in cfg.dataset.other_classes]
    uy = dataset.unseen.y.astype(int)
    metrics["unseen_rejection_by_class"] = {name: float(ur[uy == u].mean()) for u, name in enumerate(unseen)
                                            if (uy == u).any()}
    cm = open_set_confusion(known_y, known_pred, kr, dataset.unseen.y, unseen_pred, ur, len(known), len(unseen))
    metrics["confusion_matrix"] = cm.tolist()
    metrics["rows"], metrics["columns"] = known + unseen, known + [OTHER]
    rejected_pred = np.where(ur, -1, unseen_pred)
    metrics["unseen_after_rejection"] = unseen_report(unseen_proba, dataset.unseen.y, known, unseen,
                                                      rejected_pred)["mistaken_for"]
    how = "trained 'other' class" if method == "other" else f"{metrics['percentile']:g}th percentile"
    write_open_set_confusion(cm, known + unseen, known + [OTHER], Path(run_dir),
                             f"{Path(run_dir).name}: open set ({method}, {how})")
    out["open_set"] = metrics
    return out
