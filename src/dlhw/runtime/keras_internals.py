"""Every use of Keras internals (``keras.src`` modules, private attributes) outside saving.

dlhw needs a few things Keras 3 keeps private: the global ``SeedGenerator`` (seeded per
epoch for exact resumes, reset after a reused backbone), the flat list of a model's
layers with their own seed generators and variables (which weights training can
change), and building a model's metrics, loss and optimizer state outside a traced
function. They are wrapped here, so a Keras release that moves them breaks one
module, and its tests (test_array_fit, test_resume, test_backbones) say so.
The saving work-around lives in :mod:`dlhw.runtime.keras_saving`.
"""

from __future__ import annotations

from typing import Any, List


def flat_layers(model) -> List[Any]:
    """The model itself and every layer inside it, nested models included, in a stable order."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def seed_generators(model) -> list:
    """Every keras.random.SeedGenerator owned by the model's layers, in a stable order."""
    out, seen = [], set()
    for layer in flat_layers(model):
        for sg in getattr(layer, "_seed_generators", []) or []:
            if id(sg) not in seen:
                seen.add(id(sg))
                out.append(sg)
    return out


def global_seed_generator():
    """Keras' global SeedGenerator (what ``keras.random`` draws from without a seed), or None."""
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR

    return global_state.get_global_attribute(GLOBAL_SEED_GENERATOR)


def reset_global_seed_generator() -> None:
    """Forget Keras' global SeedGenerator: the next one is made from the current Python RNG."""
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR

    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)


def live_positions(model) -> set:
    """Indices into ``model.weights`` that training can change now: trainable variables and
    every variable of a trainable layer (BatchNormalization's moving statistics)."""
    ids = {id(v): i for i, v in enumerate(model.weights)}
    live = set()
    for layer in flat_layers(model):
        own = list(getattr(layer, "_trainable_variables", [])) + list(getattr(layer, "_non_trainable_variables", []))
        for v in own:
            if id(v) in ids and (v.trainable or layer.trainable):
                live.add(ids[id(v)])
    return live


def symbolic_build(model, x, y) -> None:
    """Build the compiled model's metrics, loss and optimizer variables for a batch shaped like
    ``(x, y)``, outside any traced function (what ``Model.fit`` does before its first step)."""
    model._symbolic_build(data_batch=(x, y))
