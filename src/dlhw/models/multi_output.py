"""Several named outputs in one model (``model.outputs``; S4's landmark heads), as Keras objects.

The heads are Dense layers side by side in one ``MultiHead`` layer named ``output``:
their outputs are concatenated, so every path that moves a model's outputs and
targets (array and image pipelines, the feature cache, checkpoints, resume,
``model.keras``) carries one tensor, as for a single output. Each head is a dict

    {name, targets, columns, start, units, activation, loss, loss_weight, from_logits}

``columns``: the head's target columns in the target matrix (dataset.target order);
``start``: its first unit in the concatenated output. ``MultiOutputLoss`` adds the
heads' losses, each times its weight; ``HeadMetric`` reports one head's loss or
mae / accuracy under the head's name (``coords_loss``, ``val_present_accuracy``).
Every class is registered, so model.keras loads in safe mode.

Masked losses ignore NaN targets (missing landmarks): ``masked_mse`` averages the
squared error over the cells present, ``masked_euclidean`` the distance over the
(x, y) points present; a row with nothing present adds 0.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import keras
from keras import layers, ops

MASKED = ("masked_mse", "masked_euclidean")


def masked_euclidean_values(y_true, y_pred):
    """Per row: mean Euclidean distance over the (x, y) points whose true x and y are present."""
    y_true = ops.cast(y_true, y_pred.dtype)
    shape = ops.shape(y_pred)
    t = ops.reshape(y_true, (shape[0], -1, 2))
    p = ops.reshape(y_pred, (shape[0], -1, 2))
    valid = ops.cast(ops.all(ops.logical_not(ops.isnan(t)), axis=-1), y_pred.dtype)
    t = ops.where(ops.isnan(t), p, t)
    dist = ops.sqrt(ops.sum(ops.square(t - p), axis=-1) + 1e-12) * valid
    return ops.sum(dist, axis=-1) / ops.maximum(ops.sum(valid, axis=-1), 1.0)


def _masked_mean(y_true, y_pred, fn):
    y_true = ops.cast(y_true, y_pred.dtype)
    valid = ops.logical_not(ops.isnan(y_true))
    err = ops.where(valid, fn(ops.where(valid, y_true, y_pred) - y_pred), ops.zeros_like(y_pred))
    return ops.sum(err, axis=-1) / ops.maximum(ops.sum(ops.cast(valid, y_pred.dtype), axis=-1), 1.0)


def masked_mse_values(y_true, y_pred):
    """Per row: mean squared error over the target cells present (NaN cells ignored)."""
    return _masked_mean(y_true, y_pred, ops.square)


def masked_mae_values(y_true, y_pred):
    """Per row: mean absolute error over the target cells present (NaN cells ignored)."""
    return _masked_mean(y_true, y_pred, ops.abs)


def loss_values(kind: str, y_true, y_pred, from_logits: bool = False):
    """Per-row values of the loss ``kind`` (one of the schema's OUTPUT_LOSSES)."""
    y_true = ops.cast(y_true, y_pred.dtype)
    if kind == "mse":
        return ops.mean(ops.square(y_true - y_pred), axis=-1)
    if kind == "mae":
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)
    if kind == "masked_mse":
        return masked_mse_values(y_true, y_pred)
    if kind == "masked_euclidean":
        return masked_euclidean_values(y_true, y_pred)
    if kind == "binary_crossentropy":
        return keras.losses.binary_crossentropy(y_true, y_pred, from_logits=from_logits)
    if kind == "categorical_crossentropy":
        return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=from_logits)
    raise ValueError(f"unknown output loss {kind!r}")


def head_slices(head: Dict[str, Any], y_true, y_pred):
    """(the head's target columns, the head's outputs) out of the whole matrices."""
    y_pred = ops.cast(y_pred, "float32")
    start, units = int(head["start"]), int(head["units"])
    t = ops.take(ops.cast(y_true, "float32"), list(head["columns"]), axis=-1)
    return t, y_pred[..., start:start + units]


def _plain(heads: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [dict(h, columns=[int(c) for c in h["columns"]], targets=list(h["targets"])) for h in heads]


@keras.saving.register_keras_serializable(package="dlhw")
class MultiHead(layers.Layer):
    """One Dense layer per named output, side by side, outputs concatenated in order.

    ``heads``: [{name, units, activation}, ...] (other keys ignored). One layer, so a
    Sequential CNN, a functional model and a backbone's head all end in it alike.
    """

    def __init__(self, heads, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.heads = [{"name": str(h["name"]), "units": int(h["units"]), "activation": h.get("activation") or "linear"}
                      for h in heads]
        self.kernel_initializer = kernel_initializer
        self.dense = [layers.Dense(h["units"], activation=h["activation"], kernel_initializer=kernel_initializer,
                                   dtype=self.dtype_policy, name=h["name"])  # float32 under mixed precision too
                      for h in self.heads]

    def build(self, input_shape):
        for d in self.dense:
            d.build(input_shape)
        self.built = True

    def call(self, x):
        outs = [d(x) for d in self.dense]
        return outs[0] if len(outs) == 1 else ops.concatenate(outs, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (sum(h["units"] for h in self.heads),)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="dlhw")
class MultiOutputLoss(keras.losses.Loss):
    """Sum over the heads of loss_weight x the head's loss, per row (NaN targets: see MASKED)."""

    def __init__(self, heads, name="multi_output", **kwargs):
        super().__init__(name=name, **kwargs)
        self.heads = _plain(heads)

    def call(self, y_true, y_pred):
        total = None
        for h in self.heads:
            t, p = head_slices(h, y_true, y_pred)
            v = float(h["loss_weight"]) * loss_values(h["loss"], t, p, bool(h.get("from_logits")))
            total = v if total is None else total + v
        return total

    def get_config(self):
        return {**super().get_config(), "heads": self.heads}


@keras.saving.register_keras_serializable(package="dlhw")
class HeadMetric(keras.metrics.Mean):
    """The mean over rows of one head's ``loss`` (unweighted), ``mae`` (NaN cells ignored) or
    ``accuracy`` (binary: 0/1 targets at 0.5, or 0 for logits; categorical: argmax)."""

    def __init__(self, head, what, name=None, dtype=None):
        self.head = _plain([head])[0]
        self.what = what
        super().__init__(name=name or f"{self.head['name']}_{what}", dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = head_slices(self.head, y_true, y_pred)
        if self.what == "loss":
            v = loss_values(self.head["loss"], t, p, bool(self.head.get("from_logits")))
        elif self.what == "mae":
            v = masked_mae_values(t, p)
        elif self.head["loss"] == "categorical_crossentropy":
            v = ops.cast(ops.equal(ops.argmax(t, axis=-1), ops.argmax(p, axis=-1)), "float32")
        else:
            cut = 0.0 if self.head.get("from_logits") else 0.5
            v = ops.mean(ops.cast(ops.equal(ops.cast(p > cut, "float32"), t), "float32"), axis=-1)
        return super().update_state(v, sample_weight=sample_weight)

    def get_config(self):
        return {"head": self.head, "what": self.what, "name": self.name, "dtype": self.dtype}


def head_metric_kind(head: Dict[str, Any]) -> str:
    """mae for the regression losses, accuracy for the cross-entropies."""
    return "accuracy" if head["loss"].endswith("crossentropy") else "mae"


def make_metrics(heads: Sequence[Dict[str, Any]]) -> list:
    """Per head: its loss and its mae or accuracy, named after it."""
    out = []
    for h in heads:
        out.append(HeadMetric(h, "loss"))
        out.append(HeadMetric(h, head_metric_kind(h)))
    return out
