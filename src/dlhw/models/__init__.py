"""Model registry: ``model.type`` -> builder. ``build_model(cfg, dataset)`` is the way in.

Builders take (model_cfg, input_shape, output_spec, augment=...) (an AugmentConfig or None) and return an
uncompiled keras.Model. They import Keras when called, never at import time.
"""

from __future__ import annotations

from dlhw.models.outputs import OutputSpec, resolve_output
from dlhw.registry import Registry, lazy

MODELS: Registry = Registry("model.type")
MODELS.register("mlp", lazy("dlhw.models.mlp", "build_mlp"))
MODELS.register("cnn", lazy("dlhw.models.cnn", "build_cnn"))
MODELS.register("cnn1d", lazy("dlhw.models.cnn1d", "build_cnn1d"))
MODELS.register("backbone", lazy("dlhw.models.backbones", "build_backbone_model"))


def build_model(cfg, dataset):
    """(keras.Model, OutputSpec) for a validated config and its Dataset."""
    spec = resolve_output(cfg, dataset)
    builder = MODELS.get(cfg.model.type, "model.type")
    from dlhw.models.augment import augment_spec, augmenting

    augment = augment_spec(cfg.dataset.augment) if augmenting(cfg, dataset) else None  # dataset.augment
    extra = {}
    if cfg.model.type == "backbone":
        from dlhw.models.backbones import bn_training_needed

        extra["bn_training"] = bn_training_needed(cfg)
    model = builder(cfg.model, dataset.input_shape, spec, augment=augment, **extra)
    return model, spec


__all__ = ["MODELS", "OutputSpec", "build_model", "resolve_output"]
