"""Output layer, loss and label encoding, resolved together.

The task, the number of classes and what the user wrote decide the output
units and activation, the loss, whether the loss takes logits, how labels are
encoded and which accuracy is reported. Every S4 pairing (sigmoid+BCE,
softmax+CE, sigmoid+MSE, softmax+MSE, linear+MSE on one-hot targets) resolves;
pairings that cannot train are refused here, before anything is built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dlhw.errors import ConfigError

CE_LOSSES = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


@dataclass(frozen=True)
class OutputSpec:
    units: int
    activation: str
    loss: str
    from_logits: bool
    encoding: str  # index | binary | onehot | multihot | target
    accuracy: str  # binary | sparse_categorical | categorical | none
    num_classes: int
    heads: tuple = ()  # model.outputs: one dict per named output (dlhw.models.heads); loss and activation 'multi'

    def as_dict(self) -> dict[str, Any]:
        """As metrics.json holds it (JSON has lists, not tuples: the dict equals the file read back)."""
        d = asdict(self)
        d["heads"] = [dict(h) for h in d["heads"]]
        return d


def resolve_output(cfg, dataset) -> OutputSpec:
    """The OutputSpec for a validated config and its Dataset."""
    if getattr(cfg.model, "outputs", None):  # several named outputs, each with its own loss
        from dlhw.models.heads import resolve_heads

        heads = resolve_heads(cfg, dataset)
        return OutputSpec(sum(h["units"] for h in heads), "multi", "multi", False, "target", "none", 0, tuple(heads))
    out = cfg.model.output
    loss = cfg.training.loss
    task = cfg.task
    if task == "regression":
        units = out.units or dataset.num_targets
        if units != dataset.num_targets:
            raise ConfigError(f"model.output.units: {units} does not match the {dataset.num_targets} regression targets")
        act = out.activation or "linear"
        loss = loss or "mse"
        if loss in CE_LOSSES:
            raise ConfigError(f"training.loss: {loss} is for classification; received task=regression (use mse, mae or masked_euclidean)")
        missing = sum(int(np.isnan(s.y).sum()) for s in dataset.splits.values() if s.y.dtype.kind == "f")
        if missing and loss not in ("masked_euclidean", "masked_mse"):
            raise ConfigError(f"training.loss: the targets hold {missing} missing (NaN) value(s); only masked_mse and "
                              f"masked_euclidean ignore them; received {loss} (fill or drop the rows, or use a masked loss)")
        if loss == "masked_euclidean" and units % 2:
            raise ConfigError(f"training.loss: masked_euclidean needs (x, y) pairs, an even number of targets; "
                              f"received {units}")
        return OutputSpec(units, act, loss, False, "target", "none", 0)
    if task == "multilabel":
        units = out.units or dataset.num_targets
        if units != dataset.num_targets:
            raise ConfigError(f"model.output.units: {units} does not match the {dataset.num_targets} labels")
        act = out.activation or "sigmoid"
        loss = loss or "binary_crossentropy"
        if loss in ("sparse_categorical_crossentropy", "masked_euclidean", "masked_mse"):
            raise ConfigError(f"training.loss: {loss} cannot train multilabel targets; use binary_crossentropy or mse")
        return OutputSpec(units, act, loss, act == "linear" and loss in CE_LOSSES, "multihot", "binary", units)

    k = dataset.num_classes
    act = out.activation
    units = out.units
    if units is None:
        units = 1 if (k == 2 and act in (None, "sigmoid", "linear") and loss not in ("sparse_categorical_crossentropy", "categorical_crossentropy")) else k
    if act is None:
        act = "sigmoid" if units == 1 else "softmax"
    if units == 1 and k > 2:
        raise ConfigError(f"model.output.units: 1 output unit cannot tell {k} classes apart; use units: {k} (or omit it)")
    if units not in (1, k):
        raise ConfigError(f"model.output.units: {units} does not match the {k} classes; use {k} (or omit it)")
    if units == 1 and act == "softmax":
        raise ConfigError("model.output.activation: softmax over 1 unit always outputs 1.0; use sigmoid, or units: 2")
    if loss is None:
        loss = "binary_crossentropy" if (units == 1 or act == "sigmoid") else "sparse_categorical_crossentropy"
    if loss in ("masked_euclidean", "masked_mse"):
        raise ConfigError(f"training.loss: {loss} is a regression loss; received task=classification")
    if units == 1 and loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        raise ConfigError(f"training.loss: {loss} needs one output unit per class; received units=1 (use binary_crossentropy)")
    if loss == "sparse_categorical_crossentropy":
        encoding, accuracy = "index", "sparse_categorical"
    elif units == 1:
        encoding, accuracy = "binary", "binary"
    else:
        encoding, accuracy = "onehot", "categorical"
    from_logits = act == "linear" and loss in CE_LOSSES
    return OutputSpec(units, act, loss, from_logits, encoding, accuracy, k)


def encode_labels(y: np.ndarray, spec: OutputSpec) -> np.ndarray:
    """Labels in the form the loss expects."""
    if spec.encoding == "index":
        return y.astype(np.int64)
    if spec.encoding == "binary":
        return y.astype(np.float32).reshape(-1, 1)
    if spec.encoding == "onehot":
        return np.eye(spec.num_classes, dtype=np.float32)[y.astype(int)]
    return y.astype(np.float32)


def scores_to_proba(raw: np.ndarray, spec: OutputSpec) -> np.ndarray:
    """Class probabilities (N x K) from raw model outputs, for any output kind."""
    raw = np.asarray(raw, dtype=np.float64)
    if spec.encoding in ("target",):
        return raw
    if spec.from_logits:
        if spec.units == 1 or spec.encoding == "multihot":
            raw = 1.0 / (1.0 + np.exp(-raw))
        else:
            z = raw - raw.max(axis=1, keepdims=True)
            e = np.exp(z)
            raw = e / e.sum(axis=1, keepdims=True)
    if spec.encoding == "multihot":
        return raw
    if spec.units == 1:
        p = np.clip(raw.reshape(-1), 0.0, 1.0)
        return np.stack([1 - p, p], axis=1)
    if spec.from_logits or spec.activation == "softmax":
        return raw
    # sigmoid or linear outputs trained with MSE / BCE: normalise the scores
    clipped = np.clip(raw, 0.0, None)
    sums = clipped.sum(axis=1, keepdims=True)
    safe = np.where(sums > 0, sums, 1.0)
    return np.where(sums > 0, clipped / safe, 1.0 / raw.shape[1])


def make_loss(spec: OutputSpec):
    """The Keras loss object for ``spec`` (imports Keras)."""
    import keras

    if spec.heads:
        from dlhw.models.multi_output import MultiOutputLoss

        return MultiOutputLoss([dict(h) for h in spec.heads])
    if spec.loss == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(from_logits=spec.from_logits)
    if spec.loss == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(from_logits=spec.from_logits)
    if spec.loss == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=spec.from_logits)
    if spec.loss == "mse":
        return keras.losses.MeanSquaredError()
    if spec.loss == "mae":
        return keras.losses.MeanAbsoluteError()
    if spec.loss == "masked_euclidean":
        from dlhw.models.layers import MaskedEuclideanLoss

        return MaskedEuclideanLoss()
    if spec.loss == "masked_mse":
        from dlhw.models.layers import MaskedMSELoss

        return MaskedMSELoss()
    raise ConfigError(f"training.loss: unknown loss '{spec.loss}'")


def make_metrics(spec: OutputSpec) -> list:
    """The accuracy metric (named 'accuracy') that matches the encoding; per output with model.outputs."""
    import keras

    if spec.heads:
        from dlhw.models.multi_output import make_metrics as head_metrics

        return head_metrics([dict(h) for h in spec.heads])
    if spec.accuracy == "binary":
        return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0 if spec.from_logits else 0.5)]
    if spec.accuracy == "sparse_categorical":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if spec.accuracy == "categorical":
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if spec.loss in ("masked_euclidean", "masked_mse"):  # targets may be NaN: a plain MAE would be NaN too
        from dlhw.models.layers import masked_mae

        return [keras.metrics.MeanMetricWrapper(masked_mae, name="mae")]
    return [keras.metrics.MeanAbsoluteError(name="mae")]
