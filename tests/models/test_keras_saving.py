"""keras_saving.prime: Keras' per-type skip sets memoised where Keras looks, files unchanged."""

from __future__ import annotations

import zipfile


def _model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(),
                             keras.layers.Dense(2, activation="softmax")])


def test_prime_memoises_and_saves_the_same_bytes(tmp_path):
    from keras.src.backend.common import global_state
    from keras.src.saving import saving_lib

    from dlhw.runtime.keras_saving import prime

    model = _model()
    model.save(tmp_path / "plain.keras")
    global_state.clear_session()
    prime()
    layer_set = global_state.get_global_attribute("saving_attr_skiplist_Layer")
    assert layer_set is not None and saving_lib.get_attr_skipset("Layer") is layer_set  # now a memo hit
    model.save(tmp_path / "primed.keras")
    a, b = zipfile.ZipFile(tmp_path / "plain.keras"), zipfile.ZipFile(tmp_path / "primed.keras")
    for name in ("config.json", "model.weights.h5"):
        assert a.read(name) == b.read(name), name
