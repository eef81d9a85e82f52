"""training.array_fit: one compiled call per epoch does what Model.fit does on the same batches."""

from __future__ import annotations

import numpy as np
import pytest


def _data(n=70, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    return x, np.minimum(y, classes - 1)


def _model(seed=3, lr=0.01, optimizer="adam"):
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(6,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(3, activation="softmax"),
    ])
    opt = keras.optimizers.Adam(lr) if optimizer == "adam" else keras.optimizers.SGD(lr)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _train(fast: bool, model, x, y, xv, yv, epochs=4, seed=5, extra=()):
    """Train with dlhw's array loop or with Model.fit on training.epoch_data's batches, with
    the trainer's per-epoch reseeding; returns the history rows and the NaN guard."""
    import keras

    from dlhw.training.array_fit import fit_arrays
    from dlhw.training.callbacks import HistoryRecorder, NaNGuard
    from dlhw.training.epoch_data import reseed_epoch, seeded_epochs

    class Reseed(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            reseed_epoch(model, seed, epoch)

    rows: list = []
    guard = NaNGuard()
    cbs = [guard, HistoryRecorder(rows, "train"), Reseed(), *extra]
    if fast:
        fit_arrays(model, x, y, xv, yv, 16, seed, 0, epochs, True, cbs, 0)
    else:
        data = seeded_epochs(x, y, 16, seed, 0, epochs, True)
        model.fit(data.dataset, steps_per_epoch=data.steps, epochs=epochs, validation_data=(xv, yv),
                  callbacks=cbs, verbose=0, shuffle=False)
    return rows, guard


def test_same_history_and_weights_as_model_fit():
    x, y = _data()
    xv, yv = _data(n=21, seed=1)
    results = []
    for fast in (True, False):
        model = _model()
        rows, guard = _train(fast, model, x, y, xv, yv)
        results.append((rows, [w.copy() for w in model.get_weights()], int(model.optimizer.iterations.numpy())))
    (fast_rows, fast_w, fast_it), (fit_rows, fit_w, fit_it) = results
    assert fast_it == fit_it == 4 * 5  # 70 samples, batch 16: 5 steps (the last one partial) per epoch
    assert [r["epoch"] for r in fast_rows] == [1, 2, 3, 4]
    assert set(fast_rows[0]) == set(fit_rows[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    for a, b in zip(fast_rows, fit_rows):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    assert fast_rows[0]["loss"] != fast_rows[-1]["loss"]
    for a, b in zip(fast_w, fit_w):  # includes BatchNormalization's moving statistics
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_early_stopping_stops_at_the_same_epoch():
    import keras

    x, y = _data()
    xv, yv = _data(n=21, seed=1)
    epochs = []
    for fast in (True, False):
        model = _model(lr=0.5, optimizer="sgd")  # noisy validation loss: patience runs out early
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
        rows, _ = _train(fast, model, x, y, xv, yv, epochs=30, extra=(stop,))
        epochs.append((len(rows), stop.stopped_epoch, [w.copy() for w in model.get_weights()]))
    assert epochs[0][0] == epochs[1][0] < 30
    assert epochs[0][1] == epochs[1][1]
    for a, b in zip(epochs[0][2], epochs[1][2]):  # best weights restored alike
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_at_the_same_batch():
    x, y = _data()
    x[37] = 3e38  # overflows to inf in the first layer: the loss turns NaN in the batch that holds sample 37
    xv, yv = _data(n=21, seed=1)
    seen = []
    for fast in (True, False):
        rows, guard = _train(fast, _model(), x, y, xv, yv, epochs=3)
        seen.append((guard.diverged_at, len(rows), np.isnan(rows[-1]["loss"])))
    assert seen[0] == seen[1]
    assert seen[0][0] is not None and seen[0][0][0] == 1 and seen[0][1] == 1 and seen[0][2]


def test_no_validation_split_and_one_partial_batch():
    x, y = _data(n=9)
    model = _model()
    from dlhw.training.array_fit import fit_arrays
    from dlhw.training.callbacks import HistoryRecorder

    rows: list = []
    fit_arrays(model, x, y, x[:0], y[:0], 16, 0, 0, 2, True, [HistoryRecorder(rows, "train")], 0)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert "val_loss" not in rows[0] and np.isfinite(rows[-1]["loss"])
    assert int(model.optimizer.iterations.numpy()) == 2
