"""Training on in-memory arrays: one compiled call per epoch.

For a model trained on an (N, D) matrix (an MLP on tabular data, a head on cached
backbone features), ``Model.fit``'s machinery costs more than the arithmetic: a
fresh dataset iterator every epoch, one function call per batch, and a whole
``evaluate()`` (iterator, callbacks, metric reset) for the validation split. On
S1's head search that was 2/3 of each trial; on the quickstart, a third of training.

Here one ``tf.function`` runs a whole epoch: the (seed, epoch) permutation of
:mod:`dlhw.training.epoch_data`, every training batch through ``Model.train_step``,
then the validation batches through ``Model.test_step``. The steps are Keras' own,
so losses, optimizer updates, dropout draws and logs are those of ``Model.fit`` on
the same batches (the cached-vs-uncached, determinism and resume tests compare
them). The same Keras callbacks get the same calls in the same order; batch hooks
are called after the epoch's compiled call, with each batch's running logs, so a
Ctrl-C takes effect at the end of the epoch in progress. Like ``fit`` once
:class:`~dlhw.training.callbacks.NaNGuard` fires, the epoch stops after the first
batch whose running loss is not finite, and validation still runs.

Image folders keep ``Model.fit`` on a tf.data pipeline (decoding dominates there).
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np


def _epoch_function(model, n: int, n_val: int, batch_size: int, seed: int, shuffle: bool):
    import tensorflow as tf

    from dlhw.training.epoch_data import epoch_permutation

    steps = math.ceil(n / batch_size)
    val_steps = math.ceil(n_val / batch_size)
    train_step = tf.autograph.experimental.do_not_convert(model.train_step)
    test_step = tf.autograph.experimental.do_not_convert(model.test_step)
    if model.jit_compile:  # training.jit_compile: each step XLA-compiled, as Model.fit does it
        train_step = tf.function(train_step, jit_compile=True, autograph=False)
        test_step = tf.function(test_step, jit_compile=True, autograph=False)
    keys = list(model.get_metrics_result())  # what train_step reports, in order (metrics are built)
    at_loss = keys.index("loss")

    def reset():
        for m in model.metrics:
            m.reset_state()

    @tf.function(autograph=False)
    def run(x, y, xv, yv, epoch, w):
        reset()
        perm = epoch_permutation(n, seed, epoch, shuffle)

        def cond(i, loss, rows):  # stop after the first batch whose running loss is NaN/inf
            return tf.logical_and(i < steps, tf.math.is_finite(loss))

        def body(i, loss, rows):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            batch = (tf.gather(x, idx), tf.gather(y, idx))
            logs = train_step(batch if w is None else batch + (tf.gather(w, idx),))  # training.class_weight
            row = tf.stack([tf.cast(logs[k], tf.float32) for k in keys])
            return i + 1, row[at_loss], rows.write(i, row)

        rows = tf.TensorArray(tf.float32, size=steps, element_shape=(len(keys),))
        done, _, rows = tf.while_loop(cond, body, (tf.constant(0), tf.constant(0.0), rows))
        train_logs = model.get_metrics_result()
        train = tf.stack([tf.cast(train_logs[k], tf.float32) for k in keys])
        val = tf.zeros((0,), tf.float32)
        if val_steps:
            reset()

            def val_body(j):
                test_step((xv[j * batch_size:(j + 1) * batch_size], yv[j * batch_size:(j + 1) * batch_size]))
                return (j + 1,)

            with tf.control_dependencies([train]):
                tf.while_loop(lambda j: j < val_steps, val_body, (tf.constant(0),))
            val_logs = model.get_metrics_result()
            val = tf.stack([tf.cast(val_logs[k], tf.float32) for k in keys])
        return rows.stack()[:done], train, val

    return run, keys, steps


def fit_arrays(model, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, batch_size: int,
             seed: int, first: int, end: int, shuffle: bool, callbacks: list, verbose: int,
             sample_weight: Optional[np.ndarray] = None) -> None:
    """``model.fit`` on in-memory features for epochs ``first`` .. ``end - 1``, with
    epoch e's batches the stateless (seed, e) permutation of ``seeded_epochs``;
    ``sample_weight``: one weight per training sample (training.class_weight)."""
    import keras
    import tensorflow as tf

    from dlhw.runtime.keras_internals import symbolic_build

    n, n_val = len(x), len(xv)
    if n == 0:
        from dlhw.errors import DataError

        raise DataError("the training split is empty; add samples or change dataset.split")
    if tf.distribute.has_strategy():  # training.distribute: mirrored: Model.fit splits each batch over replicas
        return _fit_distributed(model, x, y, xv, yv, batch_size, seed, first, end, shuffle, callbacks, verbose)
    x_t, y_t = tf.constant(x), tf.constant(y)
    xv_t, yv_t = tf.constant(xv), tf.constant(yv)
    w_t = None if sample_weight is None else tf.constant(sample_weight)
    symbolic_build(model, x[:batch_size], y[:batch_size])  # metrics, loss, optimizer: built outside the graph
    run, keys, steps = _epoch_function(model, n, n_val, batch_size, seed, shuffle)
    cbs = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose,
                                       epochs=end, steps=steps, model=model)
    model.stop_training = False
    cbs.on_train_begin()
    epoch_logs: Dict[str, float] = {}
    for epoch in range(first, end):
        cbs.on_epoch_begin(epoch)  # reseeds the dropout generators for (seed, epoch)
        rows, train, val = run(x_t, y_t, xv_t, yv_t, tf.constant(epoch, tf.int64), w_t)
        rows = rows.numpy()
        for b, row in enumerate(rows):
            cbs.on_train_batch_begin(b)
            cbs.on_train_batch_end(b, dict(zip(keys, row.tolist())))
            if model.stop_training:
                break
        epoch_logs = dict(zip(keys, train.numpy().tolist()))
        if n_val:
            epoch_logs.update({f"val_{k}": v for k, v in zip(keys, val.numpy().tolist())})
        cbs.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    if end > first:
        model.optimizer.finalize_variable_values(model.trainable_weights)
    cbs.on_train_end(logs=epoch_logs)


def _fit_distributed(model, x, y, xv, yv, batch_size: int, seed: int, first: int, end: int, shuffle: bool,
                     callbacks: list, verbose: int) -> None:
    """``fit_arrays`` under a tf.distribute strategy: ``Model.fit`` on the same (seed, epoch)
    batches (training.epoch_data), the strategy splitting each over its replicas."""
    import tensorflow as tf

    from dlhw.training.epoch_data import seeded_epochs

    data = seeded_epochs(x, y, batch_size, seed, first, end, shuffle)
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(batch_size) if len(xv) else None
    model.fit(data.dataset, steps_per_epoch=data.steps, epochs=end, initial_epoch=first, validation_data=val,
              callbacks=callbacks, verbose=verbose, shuffle=False)
