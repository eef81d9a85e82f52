"""Metrics from scikit-learn on the model's predictions, per split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.models.outputs import encode_labels, scores_to_proba


@dataclass
class Predictions:
    """Raw outputs and derived class probabilities of one split."""

    y: np.ndarray
    raw: np.ndarray
    proba: np.ndarray

    @property
    def pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1)


def predict_raw(model, dataset, split: str, batch_size: int) -> np.ndarray:
    """Raw model outputs for a split (arrays or streamed images)."""
    s = dataset.splits[split] if isinstance(split, str) else split
    if len(s) == 0:
        return np.zeros((0, 1), dtype=np.float32)
    if dataset.in_memory(s):
        return np.asarray(model.predict(s.x, batch_size=max(batch_size, 256), verbose=0))
    return np.asarray(model.predict(dataset.image_batches(s, batch_size, cache=True), verbose=0))


def predict_splits(model, dataset, batch_size: int, splits=("train", "val", "test")) -> dict:
    """Raw outputs per split. Array data goes through one ``predict`` call (each call has
    its own set-up cost), sliced back into the splits; image splits stream one by one."""
    if not dataset.in_memory():
        return {name: predict_raw(model, dataset, name, batch_size) for name in splits}
    parts = [dataset.splits[name] for name in splits]
    sizes = [len(p) for p in parts]
    if sum(sizes) == 0:
        return {name: np.zeros((0, 1), dtype=np.float32) for name in splits}
    x = np.concatenate([p.x for p in parts if len(p)])
    raw = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0))
    bounds = np.cumsum([0] + sizes)
    return {name: raw[bounds[i]:bounds[i + 1]] for i, name in enumerate(splits)}


def predictions(raw: np.ndarray, y: np.ndarray, spec) -> Predictions:
    return Predictions(y=y, raw=raw, proba=scores_to_proba(raw, spec))


def _auc(y: np.ndarray, proba: np.ndarray) -> Optional[float]:
    """Binary AUC, or the macro one-vs-rest AUC over classes present; None if undefined."""
    from sklearn.metrics import roc_auc_score

    classes = np.unique(y)
    if len(classes) < 2:
        return None
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    scores = [roc_auc_score(y == c, proba[:, c]) for c in classes]
    return float(np.mean(scores))


def top_k_for(cfg, num_classes: int) -> int:
    """evaluation.top_k as a number: unset means 5 when there are more than 10 classes (S2's 196
    car models), else off; 0 is off; a k that is not below the number of classes is off (every
    true class would be among the top k)."""
    k = getattr(cfg.evaluation, "top_k", None)
    if k is None:
        k = 5 if num_classes > 10 else 0
    return int(k) if 0 < int(k) < num_classes else 0


def split_metrics(p: Predictions, spec, loss_fn, top_k: int = 0, loss: Optional[float] = None) -> Dict[str, Any]:
    """loss plus the task's metrics for one split's predictions; classification: with
    macro- and weighted-average precision / recall / F1, and ``top_{k}_accuracy`` when
    ``top_k`` (see top_k_for).

    ``loss``: the split's loss as Keras computes it (dlhw.evaluation.forward); without it, the
    loss object on the raw outputs as numbers. Every other figure is computed here, with
    scikit-learn, from the raw outputs and the class probabilities derived from them."""
    from sklearn import metrics as skm

    if len(p.y) == 0:
        return {"samples": 0}
    if loss is None:
        loss = float(np.mean(np.asarray(loss_fn(encode_labels(p.y, spec), p.raw))))
    out: Dict[str, Any] = {"samples": int(len(p.y)), "loss": loss}
    if spec.encoding == "target" and getattr(spec, "heads", ()):  # model.outputs: figures per named output
        from dlhw.evaluation.heads_eval import head_metrics

        out["outputs"] = head_metrics(p.y, p.raw, spec)
        return out
    if spec.encoding == "target":
        y, yp = p.y.astype(np.float64), p.raw.astype(np.float64)
        mask = ~np.isnan(y)
        err = (yp - np.nan_to_num(y))[mask]
        out["mse"] = float(np.mean(err ** 2))
        out["mae"] = float(np.mean(np.abs(err)))
        out["rmse"] = float(np.sqrt(out["mse"]))
        out["r2"] = float(skm.r2_score(y[mask.all(axis=1)], yp[mask.all(axis=1)])) if mask.all(axis=1).sum() > 1 else None
        return out
    if spec.encoding == "multihot":
        pred = (p.proba >= 0.5).astype(int)
        y = p.y.astype(int)
        out["accuracy"] = float((pred == y).mean())
        out["subset_accuracy"] = float((pred == y).all(axis=1).mean())
        out["precision_macro"] = float(skm.precision_score(y, pred, average="macro", zero_division=0))
        out["recall_macro"] = float(skm.recall_score(y, pred, average="macro", zero_division=0))
        out["f1_macro"] = float(skm.f1_score(y, pred, average="macro", zero_division=0))
        try:
            out["auc"] = float(skm.roc_auc_score(y, p.proba, average="macro"))
        except ValueError:
            out["auc"] = None
        return out
    y, pred = p.y.astype(int), p.pred
    labels = list(range(spec.num_classes))
    out["accuracy"] = float(skm.accuracy_score(y, pred))
    out["precision_macro"] = float(skm.precision_score(y, pred, labels=labels, average="macro", zero_division=0))
    out["recall_macro"] = float(skm.recall_score(y, pred, labels=labels, average="macro", zero_division=0))
    out["f1_macro"] = float(skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0))
    out.update(weighted_prf(y, pred, labels))
    if top_k:
        out[f"top_{top_k}_accuracy"] = top_k_accuracy(y, p.proba, top_k)
    out["auc"] = _auc(y, p.proba)
    return out


def weighted_prf(y: np.ndarray, pred: np.ndarray, labels) -> Dict[str, float]:
    """Precision, recall and F1 averaged over classes weighted by their true counts (support)."""
    from sklearn import metrics as skm

    kw = dict(labels=labels, average="weighted", zero_division=0)
    return {"precision_weighted": float(skm.precision_score(y, pred, **kw)),
            "recall_weighted": float(skm.recall_score(y, pred, **kw)),
            "f1_weighted": float(skm.f1_score(y, pred, **kw))}


def top_k_accuracy(y: np.ndarray, proba: np.ndarray, k: int) -> float:
    """Fraction of samples whose true class is among the ``k`` most probable (ties: lower index first)."""
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return float((top == y.astype(int)[:, None]).any(axis=1).mean())


def confusion(p: Predictions, num_classes: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(p.y.astype(int), p.pred, labels=list(range(num_classes)))


def write_confusion_csv(cm: np.ndarray, names: List[str], path) -> None:
    import pandas as pd

    df = pd.DataFrame(cm, index=[f"true:{n}" for n in names], columns=[f"pred:{n}" for n in names])
    df.index.name = "true\\pred"
    from dlhw.runtime.files import write_text

    write_text(path, df.to_csv())
