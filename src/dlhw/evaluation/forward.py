"""A model's outputs and loss on one split, computed as Keras computes them in training.

Keras trains and validates on the loss object given to ``compile``, called on the output
tensor of the model's own forward pass. Where that output comes from a softmax or sigmoid,
the tensor carries its logits and the cross-entropy is computed from them (no clipping of
probabilities at 1e-7, so a confidently wrong sample costs its full loss); each batch's
loss is the mean of ``weight x loss`` over the batch, and the epoch's figure is the mean of
the batches weighted by their sizes.

``forward`` does the same: the same loss object (dlhw.models.outputs.make_loss), called on
the output tensor of the same forward pass (``training=False``, as Keras' validation), the
batch means summed with the batch sizes as weights. For the same weights, the val loss it
returns equals history.csv's val_loss of that epoch (tests/evaluation/). The raw outputs
(post-activation, as ``predict`` returns them) come out of the same pass, for the metrics
computed outside Keras (dlhw.evaluation.metrics).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Tuple

import numpy as np


def make_step(fn: Callable, loss_fn, eager: bool = False) -> Callable:
    """``step(x, y, weights) -> (outputs, loss)`` of ``fn`` on one block. Made once and given to
    ``forward`` for every split, the graph is traced once or twice per model (the full block
    shape, then one relaxed shape), not once per split. ``eager``: no graph (a few small matrices)."""
    import tensorflow as tf

    def step(x, y_b, w_b):
        out = fn(x, training=False)  # the output tensor keeps its logits (softmax, sigmoid)
        return out, loss_fn(y_b, out, sample_weight=w_b)

    return step if eager else tf.function(step, reduce_retracing=True)


def forward(fn: Callable, blocks: Iterable[Any], y: np.ndarray, loss_fn,
            weights: Optional[np.ndarray] = None, eager: bool = False,
            step: Optional[Callable] = None) -> Tuple[np.ndarray, Optional[float]]:
    """(raw outputs, loss) of ``fn`` (a Keras model or a head) over ``blocks``, the split's inputs
    in order; ``y`` the split's labels encoded for the loss, ``weights`` its per-sample weights
    (training.class_weight on the train split, as Keras' training loss applies them) or None.
    ``eager``: call the model eagerly (a few small matrices: no graph to trace). ``step``: the
    step ``make_step(fn, loss_fn, eager)`` made, shared by the splits of one evaluation."""
    import tensorflow as tf

    n = len(y)
    if n == 0:
        return np.zeros((0, 1), dtype=np.float32), None
    call = step or make_step(fn, loss_fn, eager)
    outs, total, start = [], 0.0, 0
    for block in blocks:
        x = tf.convert_to_tensor(block) if isinstance(block, np.ndarray) else block
        size = int(x.shape[0])
        end = start + size
        w_b = None if weights is None else tf.convert_to_tensor(weights[start:end])
        out, loss = call(x, tf.convert_to_tensor(y[start:end]), w_b)
        outs.append(np.asarray(out))
        total += float(loss) * size  # Keras' loss tracker: each batch's mean, weighted by its size
        start = end
    if start != n:
        raise RuntimeError(f"evaluation: {start} outputs for {n} labels")
    return np.concatenate(outs), total / n


def array_blocks(x: np.ndarray, batch_size: int) -> Iterable[np.ndarray]:
    """Consecutive row blocks of an in-memory array."""
    return (x[i:i + batch_size] for i in range(0, len(x), batch_size))


def split_outputs(model, dataset, split: str, spec, loss_fn, batch_size: int,
                  weights: Optional[np.ndarray] = None, step: Optional[Callable] = None
                  ) -> Tuple[np.ndarray, Optional[float]]:
    """(raw outputs, loss) of a full Keras model on one split of ``dataset`` (arrays or streamed images)."""
    from dlhw.models.outputs import encode_labels

    s = dataset.splits[split]
    y = encode_labels(s.y, spec)
    if dataset.in_memory(s):
        blocks = array_blocks(s.x, max(batch_size, 256))
    else:
        blocks = dataset.image_batches(s, batch_size, cache=True) if len(s) else ()
    return forward(model, blocks, y, loss_fn, weights, step=step)


def numpy_loss(loss_fn, y: np.ndarray, raw: np.ndarray) -> float:
    """The loss of outputs held as numbers only (a scikit-learn classifier's probability scores):
    the loss object on the probabilities, which Keras clips at 1e-7 for a cross-entropy."""
    return float(np.mean(np.asarray(loss_fn(y, raw))))
