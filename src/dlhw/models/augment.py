"""dataset.augment: random changes of the training images, as Keras preprocessing layers.

The layers sit at the front of the model, after the input (so after the decoded-image
cache of dlhw.data.image_cache, which stores the images unchanged) and before any
rescaling or backbone preprocessing. They act only in training mode: evaluation,
prediction and model.keras see the images as they are (RandomCrop's inference mode is
the centre crop, resized back). Each layer draws from its own SeedGenerator, which
dlhw.training.epoch_data reseeds from (seed, epoch), so a run is repeatable and resumable.

``true`` is the historical spelling: random horizontal flips (the layer keeps its name
``augment_flip``, so weights of older runs still load by name). A mapping chooses among
flip, crop, zoom, rotation, translation and contrast. Augmentation applies to image
inputs (height, width, channels) of every source; a frozen backbone then sees different
pixels every epoch, so the feature cache is off for such runs (training.feature_cache).
"""

from __future__ import annotations

from typing import Any, List


def augment_spec(value: Any):
    """The AugmentConfig of ``dataset.augment`` (true: horizontal flips), or None when off."""
    from dlhw.config.schema import AugmentConfig

    if value is True:
        return AugmentConfig(flip="horizontal")
    if isinstance(value, AugmentConfig):
        on = value.flip != "none" or any(getattr(value, k) > 0 for k in ("crop", "zoom", "rotation",
                                                                        "translation", "contrast"))
        return value if on else None
    return None


def augmenting(cfg, dataset) -> bool:
    """True when the model gets augmentation layers: dataset.augment is on and the inputs are images."""
    return augment_spec(cfg.dataset.augment) is not None and len(tuple(dataset.input_shape)) == 3


def augment_layers(spec, input_shape) -> List[Any]:
    """The preprocessing layers of ``spec`` (an AugmentConfig or None), in a fixed order:
    flip, crop (+ resize back), zoom, rotation, translation, contrast."""
    from keras import layers

    if spec is None:
        return []
    h, w = int(input_shape[0]), int(input_shape[1])
    out: List[Any] = []
    if spec.flip != "none":
        out.append(layers.RandomFlip(spec.flip, name="augment_flip"))
    if spec.crop > 0:
        ch, cw = max(1, round(h * (1 - spec.crop))), max(1, round(w * (1 - spec.crop)))
        out.append(layers.RandomCrop(ch, cw, name="augment_crop"))
        out.append(layers.Resizing(h, w, name="augment_crop_resize"))
    if spec.zoom > 0:
        out.append(layers.RandomZoom(spec.zoom, spec.zoom, fill_mode="reflect", name="augment_zoom"))
    if spec.rotation > 0:
        out.append(layers.RandomRotation(spec.rotation, fill_mode="reflect", name="augment_rotation"))
    if spec.translation > 0:
        out.append(layers.RandomTranslation(spec.translation, spec.translation, fill_mode="reflect",
                                            name="augment_translation"))
    if spec.contrast > 0:
        # clips to 0..255: image folders' pixels; Keras arrays (0..1) stay inside it
        out.append(layers.RandomContrast(spec.contrast, name="augment_contrast"))
    return out
