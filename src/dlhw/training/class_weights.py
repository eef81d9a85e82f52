"""training.class_weight: how much each class's samples weigh in the training loss.

``balanced`` is scikit-learn's rule (``compute_class_weight("balanced")``): a class seen
``n_c`` times among ``n`` training samples of ``k`` classes weighs ``n / (k * n_c)``, so
every class contributes the same total weight. A mapping ``{class: weight}`` names classes
by label or name as ``dataset.classes`` does; classes it does not list weigh 1. Only the
training loss is weighted (as Keras' ``class_weight``); validation and test figures are not.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from dlhw.errors import ConfigError, did_you_mean


def class_weights(cfg, dataset) -> Optional[np.ndarray]:
    """One weight per class (index order of ``dataset.class_names``), or None when unset."""
    cw = cfg.training.class_weight
    if cw is None:
        return None
    names = [str(n) for n in dataset.class_names]
    k = len(names)
    if cw == "balanced":
        y = dataset.splits["train"].y.astype(int)
        counts = np.bincount(y, minlength=k).astype(np.float64)
        present = counts > 0
        w = np.ones(k, dtype=np.float64)
        w[present] = len(y) / (present.sum() * counts[present])
        return w
    w = np.ones(k, dtype=np.float64)
    for key, value in cw.items():
        if str(key) not in names:
            raise ConfigError(f"training.class_weight: class {key!r} is not a class of the training data"
                              f"{did_you_mean(str(key), names)}; classes are: {', '.join(names[:30])}")
        w[names.index(str(key))] = float(value)
    return w


def as_keras(weights: Optional[np.ndarray]) -> Optional[Dict[int, float]]:
    """Keras' ``class_weight`` argument: {class index: weight}."""
    return None if weights is None else {i: float(v) for i, v in enumerate(weights)}


def sample_weights(weights: Optional[np.ndarray], y: np.ndarray) -> Optional[np.ndarray]:
    """The weight of every training sample (integer labels ``y``), float32."""
    return None if weights is None else weights[y.astype(int)].astype(np.float32)


def describe(weights: Optional[np.ndarray], dataset) -> Optional[Dict[str, float]]:
    """metrics.json's ``class_weight``: {class name: weight}."""
    if weights is None:
        return None
    return {str(n): round(float(v), 6) for n, v in zip(dataset.class_names, weights)}
