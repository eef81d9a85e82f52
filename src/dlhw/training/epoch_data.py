"""Randomness that is a pure function of (seed, epoch), so a resumed run replays exactly.

Keras shuffles NumPy inputs and tf.data reshuffles with generators whose state
depends on how many epochs this *process* has run, and every Dropout /
RandomFlip layer draws from a ``SeedGenerator`` whose counter advances with each
batch. A run resumed at epoch k would therefore see different batches and masks
than the uninterrupted run. Here instead:

- the training batches of epoch e are a stateless permutation seeded by
  (seed, e), built as one tf.data pipeline over the epochs still to run;
- at the start of every epoch, Python and NumPy are reseeded and
  every SeedGenerator of the model (and Keras' global one) is set to a state
  derived from (seed, e, its position in the model).

So epoch e does the same thing whether the process started at epoch 1 or at e.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np

_MIX = 0x9E3779B1  # odd constant (golden ratio) to spread nearby seeds apart


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    """A 31-bit seed for (run seed, 0-based epoch, salt)."""
    return (int(seed) * 1_000_003 + int(epoch) * _MIX + int(salt) * 7919 + 1) % (2**31 - 1)


@dataclass
class EpochData:
    """The training batches for epochs ``first`` .. ``last - 1`` and the steps of one epoch."""

    dataset: Any
    steps: int


def epoch_permutation(n: int, seed: int, epoch, shuffle: bool):
    import tensorflow as tf

    idx = tf.range(n, dtype=tf.int64)
    if not shuffle:
        return idx
    pair = tf.stack([tf.constant(int(seed), tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(idx, seed=pair)


def _epochs_of(n: int, seed: int, first: int, last: int, shuffle: bool, per_epoch):
    """Epoch ``first``'s batches, then ``first + 1``'s, ...: ``per_epoch(permutation)`` for each."""
    import tensorflow as tf

    epochs = tf.data.Dataset.range(first, max(first, last))
    return epochs.flat_map(lambda e: per_epoch(epoch_permutation(n, seed, e, shuffle)))


def seeded_epochs(x: Optional[np.ndarray], y: Optional[np.ndarray], batch_size: int, seed: int,
                  first: int, last: int, shuffle: bool = True, files: Optional[List[str]] = None,
                  image_size=None, channels: int = 3) -> EpochData:
    """Training batches whose order in epoch e depends only on (seed, e).

    ``x`` / ``y`` are arrays (``y`` may be None for unlabelled data); ``files``
    replaces ``x`` for image folders: decoded once into the run's image cache
    (dlhw.data.image_cache: memory under a budget, else disk), or on the fly when the
    cache is off.
    Epochs are 0-based as in Keras (``initial_epoch``); the pipeline holds the
    batches of epochs ``first`` .. ``last - 1``, fed with ``steps_per_epoch``.
    """
    import tensorflow as tf

    n = len(files) if files is not None else len(x)
    if n == 0:
        from dlhw.errors import DataError

        raise DataError("the training split is empty; add samples or change dataset.split")
    steps = math.ceil(n / batch_size)
    auto = tf.data.AUTOTUNE
    store = None
    if files is not None:
        from dlhw.data.image_cache import store_for

        store = store_for(files, image_size, channels)  # decoded once (memory or disk), None: cache off
    if store is not None:
        from dlhw.data.image_cache import store_batches

        index = _epochs_of(n, seed, first, last, shuffle,
                           lambda perm: tf.data.Dataset.from_tensor_slices(perm).batch(batch_size))
        ds = store_batches(store, index, y)
    elif files is not None:
        from dlhw.data.image_cache import decode_image

        size = tuple(int(v) for v in image_size)
        paths = tf.constant(list(files), dtype=tf.string)
        labels = None if y is None else tf.constant(y)

        def load(i):
            img = decode_image(tf.gather(paths, i), size, channels)
            return img if labels is None else (img, tf.gather(labels, i))

        def per_epoch(perm):
            return (tf.data.Dataset.from_tensor_slices(perm)
                    .map(load, num_parallel_calls=auto, deterministic=True).batch(batch_size))

        ds = _epochs_of(n, seed, first, last, shuffle, per_epoch)
    else:
        index = _epochs_of(n, seed, first, last, shuffle,
                           lambda perm: tf.data.Dataset.from_tensor_slices(perm).batch(batch_size))
        data = (x,) if y is None else (x, y)
        whole = tf.data.Dataset.from_tensors(data).repeat()

        def grab(i, d):
            out = tuple(tf.gather(t, i) for t in d)
            return out[0] if y is None else out

        ds = tf.data.Dataset.zip((index, whole)).map(grab, num_parallel_calls=auto, deterministic=True)
    return EpochData(ds.prefetch(auto), steps)


def reseed_epoch(model, seed: int, epoch: int, generators: Optional[list] = None) -> None:
    """Seed Python, NumPy and all Keras seed generators for 0-based ``epoch``
    (``generators``: ``seed_generators(model)``, when the caller keeps it between epochs)."""
    from dlhw.runtime.keras_internals import global_seed_generator, seed_generators

    s = epoch_seed(seed, epoch)
    random.seed(s)
    np.random.seed(s)
    # Not tf.random.set_seed: it clears TensorFlow's eager kernel caches (TFE_ContextClearCaches),
    # which made every epoch ~0.1 s slower. Keras 3 layers draw from their SeedGenerators (reset
    # below) through stateless ops, and batch order uses stateless_shuffle, so the TF global seed
    # (set once by setup_runtime) drives nothing here; the resume and determinism tests check it.
    gens = list(seed_generators(model) if generators is None else generators)
    glob = global_seed_generator()
    if glob is not None:
        gens.append(glob)
    for i, sg in enumerate(gens):
        state = np.array([epoch_seed(seed, epoch, i + 1), 0], dtype=np.dtype(sg.state.dtype))
        sg.state.assign(state)


def rng_state() -> dict:
    """Python and NumPy global RNG state as JSON-able data (stored in checkpoints)."""
    py = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [py[0], list(py[1]), py[2]],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def set_rng_state(state: dict) -> None:
    py = state.get("python")
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    npy = state.get("numpy")
    if npy:
        np.random.set_state((npy[0], np.array(npy[1], dtype=np.uint32), npy[2], npy[3], npy[4]))
