"""Pretrained backbones from keras.applications, a head, and unfreezing (S1, S2).

``BACKBONES`` knows, for every name in ``dlhw.config.names.BACKBONES``, the
constructor, its preprocessing mode, its minimum input size, the ImageNet file
Keras caches and the layer-name prefixes of its blocks. The model built here is

    image -> [augment_*] -> preprocess -> <backbone> -> features (pooling) -> head_* -> output

with the backbone as one nested model. Layer indices (``unfreeze.from_layer``) count
the backbone's own layers, input layer included, as ``base_model.layers[N:]`` does.
A frozen backbone is called with ``training=False`` and its BatchNormalization
layers stay frozen when a part is unfrozen (Keras's fine-tuning guide), so their
statistics never move.

Why frozen is the default: a fine-tuning set is small and its batches are small, so
batch statistics are noisy estimates of the ImageNet ones the pretrained weights were
fitted to; letting BatchNormalization renormalise with them (and update its moving
averages) shifts every following layer's input at once, which can wreck the features
in the first epochs. ``unfreeze.batch_norm: trainable`` reproduces what the studies'
code did (Keras ``layer.trainable = True`` on BatchNormalization in S1; PyTorch
``model.train()`` in S2): the unfrozen BatchNormalization layers train gamma / beta,
normalise with batch statistics and update their moving mean / variance. The backbone
is then called without ``training=False`` (``bn_training``), so its frozen layers rely
on Keras 3's rule that a non-trainable BatchNormalization runs in inference mode.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from dlhw.errors import ConfigError

FEATURES_LAYER = "features"
POOL_LAYERS = {"flatten": "Flatten", "avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}


@dataclass(frozen=True)
class BackboneEntry:
    name: str
    constructor: str          # attribute of keras.applications
    preprocessing: str        # caffe | torch | tf | none (ImagePreprocess mode)
    min_size: int
    channels: int             # feature channels of the last map
    blocks: Tuple[str, ...]   # layer-name prefixes usable with unfreeze.from_block
    weights_file: Callable[[int], str]  # ImageNet notop file name Keras caches, given the image rows


def _tf_kernels(stem: str) -> Callable[[int], str]:
    return lambda rows: f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _mobilenet_v2_file(rows: int) -> str:
    rows = rows if rows in (96, 128, 160, 192, 224) else 224
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"


_RESNET_BLOCKS = ("conv1", "conv2", "conv3", "conv4", "conv5")
_DENSENET_BLOCKS = ("conv1", "conv2", "pool2", "conv3", "pool3", "conv4", "pool4", "conv5", "bn")
_EFFNET_BLOCKS = ("stem", "block1", "block2", "block3", "block4", "block5", "block6", "block7", "top")


def _entries() -> Dict[str, BackboneEntry]:
    e: List[BackboneEntry] = []
    for n, ch in (("121", 1024), ("169", 1664), ("201", 1920)):
        e.append(BackboneEntry(f"densenet{n}", f"DenseNet{n}", "torch", 32, ch, _DENSENET_BLOCKS,
                               _tf_kernels(f"densenet{n}")))
    for n in ("50", "101", "152"):
        e.append(BackboneEntry(f"resnet{n}", f"ResNet{n}", "caffe", 32, 2048, _RESNET_BLOCKS,
                               _tf_kernels(f"resnet{n}")))
        e.append(BackboneEntry(f"resnet{n}v2", f"ResNet{n}V2", "tf", 32, 2048, _RESNET_BLOCKS + ("post",),
                               _tf_kernels(f"resnet{n}v2")))
    e.append(BackboneEntry("mobilenet_v2", "MobileNetV2", "tf", 32, 1280,
                           ("Conv1", "expanded_conv") + tuple(f"block_{i}" for i in range(1, 17)) + ("Conv_1",),
                           _mobilenet_v2_file))
    for b, ch in (("0", 1280), ("1", 1280), ("2", 1408), ("3", 1536)):
        e.append(BackboneEntry(f"efficientnet_b{b}", f"EfficientNetB{b}", "none", 32, ch, _EFFNET_BLOCKS,
                               lambda rows, b=b: f"efficientnetb{b}_notop.h5"))
    for n in ("16", "19"):
        e.append(BackboneEntry(f"vgg{n}", f"VGG{n}", "caffe", 32, 512,
                               ("block1", "block2", "block3", "block4", "block5"), _tf_kernels(f"vgg{n}")))
    return {x.name: x for x in e}


BACKBONES: Dict[str, BackboneEntry] = _entries()


def get_entry(name: str) -> BackboneEntry:
    from dlhw.errors import unknown_name

    try:
        return BACKBONES[str(name).lower()]
    except KeyError:
        raise unknown_name("model.backbone.name", name, BACKBONES) from None


# ------------------------------------------------------------------- weights
def keras_models_dir() -> Path:
    """Where Keras caches ImageNet files: $KERAS_HOME/models or ~/.keras/models
    (/tmp/.keras/models when that is not writable, as keras.utils.get_file does)."""
    base = Path(os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))))
    if base.exists() and not os.access(base, os.W_OK):
        base = Path("/tmp/.keras")
    return base / "models"


def _offline_error(entry: BackboneEntry, rows: int, reason: str) -> ConfigError:
    file = entry.weights_file(rows)
    folder = keras_models_dir()
    return ConfigError(
        f"model.backbone.weights: the ImageNet weights of {entry.name} are not cached and could not be "
        f"downloaded ({reason[:160]}); place {file} in {folder} (the Keras cache folder), or use "
        f"weights: null or a .weights.h5 / .h5 file path; received imagenet"
    )


def make_backbone(entry: BackboneEntry, shape: Tuple[int, int, int], weights: Optional[str]):
    """The keras.applications model without its top, weights loaded (imagenet, None or a file)."""
    import keras

    ctor = getattr(keras.applications, entry.constructor)
    kw = dict(include_top=False, input_shape=shape, pooling=None)
    model = _load(entry, ctor, kw, shape, weights)
    model._dlhw_name = entry.name  # for messages; Keras names MobileNetV2 'mobilenetv2_1.00_<rows>'
    return model


def _load(entry: BackboneEntry, ctor, kw: dict, shape, weights):
    if weights is None or str(weights).lower() in ("null", "none", "random"):
        return ctor(weights=None, **kw)
    if str(weights).lower() == "imagenet":
        cached = keras_models_dir() / entry.weights_file(shape[0])
        try:
            return ctor(weights="imagenet", **kw)
        except Exception as exc:  # get_file raises a bare Exception on a failed download
            if cached.exists():
                raise ConfigError(f"model.backbone.weights: {cached} cannot be loaded ({type(exc).__name__}: "
                                  f"{str(exc)[:160]}); delete it so Keras downloads it again") from None
            raise _offline_error(entry, shape[0], f"{type(exc).__name__}: {exc}") from None
    from dlhw.runtime.files import kind_problem

    path = Path(weights).expanduser()
    problem = kind_problem(path)
    if problem and problem != "not found":
        raise ConfigError(f"model.backbone.weights: {weights} {problem}")
    if problem:
        raise ConfigError(f"model.backbone.weights: weights file not found (expected imagenet, null or a "
                          f".weights.h5 / .h5 file); received {weights}")
    if not (path.name.endswith(".weights.h5") or path.suffix == ".h5"):
        raise ConfigError(f"model.backbone.weights: expected a .weights.h5 or .h5 file; received {weights}")
    model = ctor(weights=None, **kw)
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise ConfigError(f"model.backbone.weights: {path} does not fit {entry.name} without its top "
                          f"({type(exc).__name__}: {str(exc)[:160]}); received {weights}") from None
    return model


# ------------------------------------------------- reuse within a process
# A sweep of heads over one frozen backbone builds the same backbone for every trial;
# building a 700-layer keras.applications graph costs seconds. A frozen backbone is
# therefore kept (the last two) and reused when the next build would be identical: same
# backbone, input shape, weights (file path, size and mtime) and Python RNG state (which
# seeds Keras initializers), and its weights unchanged since (a hash is compared: init_from
# writes into it, unfreezing makes it trainable and ends the reuse). The process keeps them
# (dlhw.runtime.memo).
MEMO_SIZE = 2


def _weights_identity(weights: Optional[str]) -> str:
    text = str(weights).lower()
    if weights is None or text in ("null", "none", "random", "imagenet"):
        return "imagenet" if text == "imagenet" else "null"
    path = Path(weights).expanduser()
    try:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return str(path)


def weights_digest(layer) -> str:
    """A hash of a layer's (or model's) weight values, in order (the feature cache's key uses it too)."""
    import numpy as np

    h = hashlib.blake2b(digest_size=16)
    for w in layer.weights:
        a = np.ascontiguousarray(np.asarray(w.numpy() if hasattr(w, "numpy") else w))
        h.update(f"{w.path}|{a.dtype}|{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def frozen_backbone(entry: BackboneEntry, shape: Tuple[int, int, int], weights: Optional[str]):
    """``make_backbone`` for a frozen backbone, reused when an identical one was built in this
    process. Either way the Python RNG continues from the same state afterwards, so the head
    is initialised the same whether the backbone was built or reused."""
    import random

    from dlhw.runtime.keras_internals import reset_global_seed_generator
    from dlhw.runtime.memo import LastUsed, held

    memo = held("frozen_backbones", lambda: LastUsed(MEMO_SIZE))
    rng = hashlib.sha1(repr(random.getstate()).encode()).hexdigest()
    import keras
    import tensorflow as tf

    key = (entry.name, tuple(shape), _weights_identity(weights), rng, keras.config.dtype_policy().name)
    shared = not tf.distribute.has_strategy()  # a distributed run's variables belong to its strategy: not kept
    backbone, digest = (memo.take(key) or (None, None)) if shared else (None, None)
    if backbone is not None and (backbone.trainable or weights_digest(backbone) != digest):
        backbone = None  # unfrozen or overwritten since: build afresh
    if backbone is None:
        backbone = make_backbone(entry, shape, weights)
        backbone.trainable = False
        digest = weights_digest(backbone)
    if shared:
        memo.put(key, (backbone, digest))
    random.seed(int(rng[:15], 16))
    reset_global_seed_generator()
    return backbone


# --------------------------------------------------------------------- model
def build_backbone_model(model_cfg, input_shape, out_spec, *, augment=None, bn_training: bool = False):
    """Backbone + pooling + head + output (or the feature extractor alone for a classifier).

    ``bn_training``: a later stage unfreezes with ``batch_norm: trainable``, so the frozen
    backbone is not pinned to inference mode (see the module notes)."""
    import keras
    from keras import layers

    from dlhw.models.layers import ImagePreprocess

    spec = model_cfg.backbone
    entry = get_entry(spec.name)
    if len(input_shape) != 3:
        raise ConfigError(f"model.type: backbone needs image input (height, width, channels); "
                          f"the data has shape {tuple(input_shape)}")
    h, w, c = (int(v) for v in input_shape)
    if min(h, w) < entry.min_size:
        raise ConfigError(f"dataset.image_size: {entry.name} needs images of at least "
                          f"{entry.min_size}x{entry.min_size}; received [{h}, {w}]")
    if spec.trainable:
        backbone = make_backbone(entry, (h, w, 3), spec.weights)
    else:
        backbone = frozen_backbone(entry, (h, w, 3), spec.weights)
    inputs = keras.Input(shape=(h, w, c), name="image")
    x = inputs
    from dlhw.models.augment import augment_layers, augment_spec

    for layer in augment_layers(augment_spec(augment) if augment is True else (augment or None), (h, w, c)):
        x = layer(x)  # dataset.augment (dlhw.models.augment)
    x = ImagePreprocess(entry.preprocessing, name="preprocess")(x)
    if spec.trainable or bn_training:
        x = backbone(x)  # a non-trainable BatchNormalization still runs in inference mode (Keras 3)
    else:
        backbone.trainable = False
        x = backbone(x, training=False)  # frozen: BatchNormalization in inference mode
    x = getattr(layers, POOL_LAYERS[spec.pooling])(name=FEATURES_LAYER)(x)
    if model_cfg.classifier is not None:
        return keras.Model(inputs, x, name=f"{entry.name}_features")
    for i, hl in enumerate(model_cfg.head, start=1):
        if hl.type == "dense":
            x = layers.Dense(hl.units, activation=hl.activation, use_bias=hl.use_bias, name=f"head_{i}_dense")(x)
        elif hl.type == "batch_norm":
            x = layers.BatchNormalization(name=f"head_{i}_bn")(x)
        else:
            x = layers.Dropout(hl.rate, name=f"head_{i}_dropout")(x)
    from dlhw.models.heads import output_layer

    outputs = output_layer(out_spec)(x)  # Dense, or one per named output (model.outputs)
    model = keras.Model(inputs, outputs, name=f"{entry.name}_transfer")
    model._dlhw_pinned = not (spec.trainable or bn_training)  # backbone called with training=False
    return model


def find_backbone(model):
    """The nested keras.applications model inside a model built here."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ConfigError("unfreeze: only a model.type: backbone model has a backbone to unfreeze")


def _label(backbone) -> str:
    """The registry name of a backbone built here (Keras calls MobileNetV2 'mobilenetv2_1.00_32')."""
    return getattr(backbone, "_dlhw_name", None) or backbone.name


def block_names(backbone) -> List[str]:
    """The registry's block prefixes present in the backbone; otherwise layer-name prefixes
    (text before the first '_'), in order, once each."""
    entry = BACKBONES.get(_label(backbone))
    names = [layer.name for layer in backbone.layers[1:]]
    if entry is not None:
        return [b for b in entry.blocks if any(n.startswith(b) for n in names)]
    seen: List[str] = []
    for layer in backbone.layers[1:]:
        head = layer.name.split("_")[0]
        if head not in seen:
            seen.append(head)
    return seen


def unfreeze_start(backbone, ucfg, key: str = "unfreeze") -> int:
    """The first backbone layer index an UnfreezeConfig makes trainable (ConfigError if out of range)."""
    layers_ = backbone.layers
    n = len(layers_)
    if ucfg.from_layer is not None:
        if ucfg.from_layer >= n:
            raise ConfigError(f"{key}.from_layer: {_label(backbone)} has {n} layers (indices 0-{n - 1}); "
                              f"received {ucfg.from_layer}")
        return int(ucfg.from_layer)
    if ucfg.last_layers is not None:
        if ucfg.last_layers > n - 1:
            raise ConfigError(f"{key}.last_layers: {_label(backbone)} has {n - 1} layers after its input; "
                              f"received {ucfg.last_layers}")
        return n - int(ucfg.last_layers)
    prefix = str(ucfg.from_block)
    for i, layer in enumerate(layers_):
        if i > 0 and layer.name.startswith(prefix):
            return i
    names = block_names(backbone)
    from dlhw.errors import did_you_mean

    raise ConfigError(f"{key}.from_block: no {_label(backbone)} layer name starts with '{prefix}'"
                      f"{did_you_mean(prefix, names)}; blocks are: {', '.join(names)}; received {prefix}")


def bn_training_needed(cfg) -> bool:
    """True when a stage unfreezes with ``batch_norm: trainable`` (build without training=False)."""
    return any(s.unfreeze is not None and s.unfreeze.batch_norm == "trainable" for s in (cfg.training.stages or []))


def apply_unfreeze(model, ucfg, key: str = "unfreeze") -> int:
    """Make backbone layers from the configured index on trainable. BatchNormalization stays
    frozen (inference mode) unless ``ucfg.batch_norm`` is trainable. Returns the number of
    layers unfrozen."""
    import keras

    backbone = find_backbone(model)
    start = unfreeze_start(backbone, ucfg, key)
    bn_trains = getattr(ucfg, "batch_norm", "frozen") == "trainable"
    if bn_trains and getattr(model, "_dlhw_pinned", False):
        raise ConfigError(f"{key}.batch_norm: trainable needs the model built for it (dlhw builds it so "
                          f"when a stage asks); this model calls {_label(backbone)} with training=False")
    backbone.trainable = True
    count = 0
    for i, layer in enumerate(backbone.layers):
        on = i >= start and (bn_trains or not isinstance(layer, keras.layers.BatchNormalization))
        layer.trainable = on
        count += int(on and bool(layer.weights))
    return count


def check_unfreeze(model, cfg) -> None:
    """Validate every stage's unfreeze against the built backbone (before a run folder exists)."""
    if cfg.model.type != "backbone" or not cfg.training.stages:
        return
    backbone = None
    for i, stage in enumerate(cfg.training.stages):
        if stage.unfreeze is not None:
            backbone = backbone or find_backbone(model)
            unfreeze_start(backbone, stage.unfreeze, f"training.stages[{i}].unfreeze")


def is_frozen(model) -> bool:
    """True when no backbone weight is trainable."""
    return not find_backbone(model).trainable_weights


# ------------------------------------------------------- parameter counting
def param_breakdown(model, trainable_only: bool = False) -> Dict[str, int]:
    """Parameters by kind, nested models included: conv kernels, conv biases, BatchNorm
    gamma / beta, BatchNorm moving mean / variance, dense kernels + biases, other.

    ``pytorch_equivalent`` is what ``sum(p.numel() for p in model.parameters())`` gives
    for the same network in torchvision: its ResNet convolutions have no bias
    (``bias=False``) and BatchNorm's running statistics are buffers, not parameters;
    Keras's ResNet convolutions carry a bias and Keras counts the moving statistics as
    (non-trainable) weights. S2's 23,909,636 / 15,366,340 come out of this (experiments/S2).
    """
    import keras

    out = {"conv_kernel": 0, "conv_bias": 0, "bn_gamma_beta": 0, "bn_moving": 0, "dense": 0, "other": 0}

    def walk(layer):
        subs = getattr(layer, "layers", None)
        if isinstance(layer, keras.Model) and subs:
            for sub in subs:
                walk(sub)
            return
        for w in (layer.trainable_weights if trainable_only else layer.weights):
            n = int(math.prod(w.shape))
            name = w.path.split("/")[-1]
            if isinstance(layer, keras.layers.BatchNormalization):
                out["bn_moving" if name.startswith("moving") else "bn_gamma_beta"] += n
            elif isinstance(layer, keras.layers.Conv2D):
                out["conv_bias" if name == "bias" else "conv_kernel"] += n
            elif isinstance(layer, keras.layers.Dense):
                out["dense"] += n
            else:
                out["other"] += n

    walk(model)
    out["total"] = sum(out.values())
    out["pytorch_equivalent"] = out["total"] - out["conv_bias"] - out["bn_moving"]
    return out
