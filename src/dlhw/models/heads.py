"""``model.outputs``: several named outputs resolved against the data, and the output layer.

``resolve_heads(cfg, dataset)`` turns each configured output into a plain dict
(see dlhw.models.multi_output) after checking it against the targets: a loss that
cannot take missing (NaN) cells is refused for targets that have some, a
cross-entropy for targets outside 0..1. ``output_layer(spec, init)`` is the last
layer of every builder: one Dense for a single output, a ``MultiHead`` named
``output`` for several. No Keras import at module level.
"""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from dlhw.errors import ConfigError

CE = ("binary_crossentropy", "categorical_crossentropy")


def resolve_heads(cfg, dataset) -> List[Dict[str, Any]]:
    """One dict per configured output, in config order, units laid side by side."""
    columns = list(dataset.meta.get("targets") or [])
    if not columns:
        raise ConfigError(f"model.outputs: needs named target columns (dataset.source csv or image_csv); "
                          f"received source {cfg.dataset.source}")
    y = np.concatenate([s.y.reshape(len(s.y), -1) for s in dataset.splits.values() if len(s.y)])
    heads: List[Dict[str, Any]] = []
    start = 0
    for name, o in cfg.model.outputs.items():
        key = f"model.outputs.{name}"
        idx = [columns.index(c) for c in o.targets]
        block = y[:, idx].astype(np.float64)
        missing = int(np.isnan(block).sum())
        if missing and o.loss not in ("masked_mse", "masked_euclidean"):
            raise ConfigError(f"{key}.loss: its targets hold {missing} missing (NaN) value(s); only masked_mse and "
                              f"masked_euclidean ignore them; received {o.loss}")
        present = block[~np.isnan(block)]
        if o.loss in CE and present.size and (present.min() < 0 or present.max() > 1):
            raise ConfigError(f"{key}.loss: {o.loss} needs targets in 0..1; its targets range "
                              f"{present.min():g}..{present.max():g}")
        units = len(idx)
        heads.append({"name": name, "targets": list(o.targets), "columns": idx, "start": start, "units": units,
                      "activation": o.activation, "loss": o.loss, "loss_weight": float(o.loss_weight),
                      "from_logits": o.activation == "linear" and o.loss in CE})
        start += units
    return heads


def head_list(spec) -> List[Dict[str, Any]]:
    """The spec's heads as a list of dicts (empty for a single output)."""
    return [dict(h) for h in (getattr(spec, "heads", None) or ())]


def output_layer(spec, kernel_initializer: str = "glorot_uniform"):
    """The model's last layer, named ``output``: Dense(units, activation), or a MultiHead of the spec's heads."""
    from keras import layers

    heads = head_list(spec)
    if heads:
        from dlhw.models.multi_output import MultiHead

        return MultiHead(heads, kernel_initializer=kernel_initializer, dtype="float32", name="output")
    # float32 under mixed precision too (training.precision): the outputs and the loss stay exact
    return layers.Dense(spec.units, activation=spec.activation, kernel_initializer=kernel_initializer,
                        dtype="float32", name="output")


def split_outputs(raw: np.ndarray, spec) -> Dict[str, np.ndarray]:
    """{output name: its columns of the concatenated raw outputs}."""
    raw = np.asarray(raw).reshape(len(raw), -1)
    return {h["name"]: raw[:, h["start"]:h["start"] + h["units"]] for h in head_list(spec)}
