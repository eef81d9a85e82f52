"""The experiment config: one pydantic model per section.

This module is the public contract of ../shared/CONFIG.md. Unknown keys are
errors (the loader adds "did you mean"); every field carries a one-line
description that ``dlhw show --explain`` and the docs reuse. No TensorFlow here.

Every number has finite bounds: floats must be finite (no .inf / .nan), and
counts stop at generous limits (a big machine is never refused, a typo such as
10**30 is), so nothing overflows later inside NumPy or TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, WithJsonSchema, field_validator, model_validator

from dlhw.config.names import (
    ACTIVATIONS,
    BACKBONES,
    DATASET_SOURCES,
    INITIALIZERS,
    KEY_HINTS,
    LOSSES,
    OPTIMIZERS,
    SOURCE_RULES,
)
from dlhw.config.slurm import SlurmConfig
from dlhw.errors import ConfigError, did_you_mean, shorten

# Upper bounds, far above any real use; the message names the key, the bound and the value.
MAX_EPOCHS = 1_000_000
MAX_BATCH = 10_000_000          # samples per batch
MAX_UNITS = 1_000_000           # dense units, output units
MAX_FILTERS = 100_000           # conv filters, inception branch filters
MAX_KERNEL = 1_024              # kernel and pool sizes
MAX_IMAGE_SIDE = 16_384         # image_size, pixels
MAX_SEED = 2**32 - 1            # NumPy's seed range
MAX_WORDS = 1_000_000           # reuters / imdb vocabulary
MAX_LAYER_INDEX = 100_000       # unfreeze: layer counts and indices
MAX_STEPS = 10**12              # schedule steps, sklearn iterations, max_samples
MAX_FLOAT = 1e30                # learning rates and other magnitudes: finite, and finite in float32
MAX_TEXT = 4_096                # any string: names, paths (Linux's PATH_MAX), monitors
MAX_SHAPE_SIDE = 10_000_000     # input_shape: one axis (sequence steps, pixels, features)


class Section(BaseModel):
    """Base of every section: unknown keys are refused, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              str_max_length=MAX_TEXT)


def _check_name(value: Optional[str], choices: tuple[str, ...], what: str) -> Optional[str]:
    if value is None:
        return value
    if str(value).lower() not in choices:
        raise ValueError(
            f"unknown {what} {shorten(str(value))}{did_you_mean(value, choices)}; choose one of: {', '.join(choices)}"
        )
    return str(value).lower()


def _activation(v: Optional[str]) -> Optional[str]:
    return _check_name(v, ACTIVATIONS, "activation")


def _names(choices: Sequence[str]) -> WithJsonSchema:
    """The JSON Schema (``dlhw schema``) of a name that _check_name accepts: editors complete
    ``choices``, and any letter case passes (Adam, RMSprop) as it does here."""
    any_case = "|".join("".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in n) for n in choices)
    return WithJsonSchema({"anyOf": [
        {"type": "string", "enum": list(choices)},
        {"type": "string", "pattern": f"^(?:{any_case})$",
         "patternErrorMessage": f"choose one of: {', '.join(choices)}"},  # the VS Code / yaml-language-server message
    ]})


MONITORS = tuple(p + m for p in ("val_", "") for m in ("loss", "accuracy", "mae"))
# Names checked by _check_name (any letter case); dlhw.config.jsonschema defines each once.
Activation = Annotated[str, _names(ACTIVATIONS)]
Initializer = Annotated[str, _names(INITIALIZERS)]
DatasetSource = Annotated[str, _names(DATASET_SOURCES)]
BackboneName = Annotated[str, _names(BACKBONES)]
OptimizerName = Annotated[str, _names(OPTIMIZERS)]
LossName = Annotated[str, _names(LOSSES)]
MonitorName = Annotated[str, _names(MONITORS)]


# --------------------------------------------------------------------- dataset
class SplitConfig(Section):
    train: float = Field(0.7, ge=0, le=1, description="Fraction of the samples used for training (0 to 1; train + val + test must sum to 1).")
    val: float = Field(0.15, ge=0, le=1, description="Fraction used for validation: early stopping, the best epoch, model choice (0 to 1; 0 with validation: test).")
    test: float = Field(0.15, ge=0, le=1, description="Fraction held out for the final test metrics (0 to 1).")

    @model_validator(mode="after")
    def _sums_to_one(self) -> "SplitConfig":
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"split fractions must sum to 1; received train={self.train} + val={self.val} "
                f"+ test={self.test} = {total:g}"
            )
        if self.train <= 0:
            raise ValueError("split.train must be > 0")
        return self


def _section(model: type[BaseModel], v: dict) -> Any:
    """``v`` validated as ``model`` inside a before-validator (a union with bool): one line
    naming the sub-key, not pydantic's union report."""
    from pydantic import ValidationError

    try:
        return model.model_validate(v)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            names = list(model.model_fields)
            raise ValueError(f"unknown key '{key}'{did_you_mean(key, names)}; the keys are: {', '.join(names)}") from None
        from dlhw.errors import plain_words

        raise ValueError(f"{key}: {plain_words(err['msg'])}; received {shorten(err.get('input'))}") from None


class AugmentConfig(Section):
    flip: Literal["none", "horizontal", "vertical", "horizontal_and_vertical"] = Field("none", description="Random flips (RandomFlip): none, horizontal, vertical or horizontal_and_vertical.")
    crop: float = Field(0.0, ge=0, lt=1, description="Random crop of up to this fraction of each side, resized back (RandomCrop + Resizing; at inference the centre crop). 0: off.")
    zoom: float = Field(0.0, ge=0, lt=1, description="Random zoom in or out by up to this fraction (RandomZoom). 0: off.")
    rotation: float = Field(0.0, ge=0, le=1, description="Random rotation by up to this fraction of a full turn (RandomRotation: 0.1 = 36 degrees). 0: off.")
    translation: float = Field(0.0, ge=0, lt=1, description="Random shift by up to this fraction of the height and width (RandomTranslation). 0: off.")
    contrast: float = Field(0.0, ge=0, le=1, description="Random contrast change by up to this factor (RandomContrast). 0: off.")


class LimitsConfig(Section):
    max_image_pixels: int = Field(100_000_000, gt=0, le=MAX_STEPS, description="Largest image accepted: width x height x frames (GIF frames are all decoded), read from the file's header before decoding; an image folder skips a larger file with one warning, an image CSV and dlhw predict refuse it.")
    max_frames: int = Field(1_000, gt=0, le=MAX_STEPS, description="Most frames of one animated image (GIF), counted from its blocks without decoding; more is skipped (image folder) or refused.")
    max_array_bytes: int = Field(4 * 1024**3, gt=0, le=2**62, description="Largest .npy array (alone or in a .npz) in bytes, from its header's shape and dtype before reading; a larger one is refused.")


class DatasetConfig(Section):
    source: DatasetSource = Field("sklearn", description="Where data comes from: sklearn (a scikit-learn toy set), csv (a table), image_csv (a table of image paths and numeric targets), image_folder (one sub-folder per class), keras (a keras.datasets set, downloaded once), sequences (fixed-length sequences: .npz, .npy or CSV).")
    name: Optional[str] = Field(None, description="The dataset, for sources sklearn (digits, iris, wine, breast_cancer) and keras (mnist, fashion_mnist, cifar10, cifar100, reuters, imdb); required for those.")
    path: Optional[str] = Field(None, description="csv, image_csv: the file; image_folder: the folder (one sub-folder per class, or train/val/test); sequences: a .npz (arrays x and y), a .npy of inputs (labels in dataset.labels) or a .csv (one sequence per line: the label, then the values); relative to the working directory; required for those.")
    labels: Optional[str] = Field(None, description="sequences with a .npy path: the .npy file of labels, one per sample (required there).")
    input_shape: Optional[List[Annotated[int, Field(gt=0, le=MAX_SHAPE_SIDE)]]] = Field(None, min_length=1, max_length=4, description="The shape of one sample, without the batch axis, e.g. [500, 3] (500 steps, 3 channels); lets `dlhw summary` build the model without reading data; checked against the data when it is loaded. sequences CSV: the shape each line's values are read into.")
    target: Optional[Union[str, List[str]]] = Field(None, description="csv: the label column, required (a list of columns for multilabel / regression).")
    features: Optional[List[str]] = Field(None, description="csv: feature columns; default all columns except the target.")
    image_column: str = Field("image", min_length=1, description="image_csv: the column of image paths, relative to the CSV file's folder (or absolute).")
    image_size: Tuple[int, int] = Field((128, 128), description="image_folder, image_csv: [height, width] in pixels that images are resized to (8 to 16384 each).")
    color_mode: Literal["rgb", "grayscale"] = Field("rgb", description="image_folder, image_csv: rgb (3 channels) or grayscale (1).")
    num_words: int = Field(1000, gt=0, le=MAX_WORDS, description="reuters / imdb: length of the multi-hot input vector (the most frequent words kept).")
    classes: Optional[List[Union[int, str]]] = Field(None, description="Train on these classes only (labels or class names); the others form the unseen set (see evaluation.open_set). Default: all classes.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="Stratified, seeded train/val/test fractions.")
    max_samples: Optional[int] = Field(None, gt=0, le=MAX_STEPS, description="Keep at most this many samples (stratified), for quick trials. Default: all.")
    augment: Union[bool, AugmentConfig] = Field(False, description="Image data: random changes of the training images every epoch, as Keras preprocessing layers inside the model (off at inference): true = random horizontal flips, or {flip, crop, zoom, rotation, translation, contrast}.")
    other_classes: Optional[List[Union[int, str]]] = Field(None, description="With classes: classes trained as one extra class 'other' (outlier exposure); the classes in neither list form the unseen test set (evaluation.open_set.method: other).")
    standardize: bool = Field(True, description="csv / sklearn: scale numeric features to zero mean and unit variance (statistics of the training split); false: the values as they are.")
    folds: Optional[int] = Field(None, le=MAX_UNITS, description="K-fold cross-validation: K runs (dlhw sweep), each testing on one of K stratified folds; val comes out of the rest (split.val / (split.train + split.val)).")
    fold: Optional[int] = Field(None, ge=0, le=MAX_UNITS, description="With folds: which fold (0 to K-1) is the test set; set by dlhw sweep for each of the K runs.")
    split_seed: Optional[int] = Field(None, ge=0, le=MAX_SEED, description="Seed of the train/val/test split (and max_samples, folds); default the run's seed (sweep vary: seed keeps it fixed, vary: split changes it).")
    validation: Literal["split", "test"] = Field("split", description="Validation data: the val split, or the test split itself (as S2, S3, S4 did; test figures are then not independent).")
    impute: bool = Field(False, description="csv: fill empty feature cells (numeric: the column's median; text: a category of its own) instead of refusing them; the fill values are saved with the run's encoder and used by dlhw predict.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Resource budgets checked from file headers before decoding: max_image_pixels, max_frames, max_array_bytes.")

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        return _check_name(v, DATASET_SOURCES, "dataset source")  # type: ignore[return-value]

    @field_validator("image_size")
    @classmethod
    def _size(cls, v: Tuple[int, int]) -> Tuple[int, int]:
        if min(v) < 8:
            raise ValueError(f"image_size must be at least 8x8; received {list(v)}")
        if max(v) > MAX_IMAGE_SIDE:
            raise ValueError(f"image_size must be at most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}; "
                             f"received {shorten(list(v))}")
        return v

    @field_validator("folds")
    @classmethod
    def _folds(cls, v: Optional[int]) -> Optional[int]:
        if v is not None and v < 2:
            raise ValueError(f"K-fold cross-validation needs at least 2 folds; received {v}")
        return v

    @field_validator("augment", mode="before")
    @classmethod
    def _augment(cls, v: Any) -> Any:
        if isinstance(v, (bool, AugmentConfig)) or v is None:
            return bool(v) if v is None else v
        if isinstance(v, str) and v.strip().lower() in ("true", "false"):
            return v.strip().lower() == "true"
        if isinstance(v, dict):
            return _section(AugmentConfig, v)
        raise ValueError(f"must be true, false or a mapping of {', '.join(AugmentConfig.model_fields)}; "
                         f"received {shorten(v)}")

    @model_validator(mode="after")
    def _needs(self) -> "DatasetConfig":
        if self.fold is not None and self.folds is None:
            raise ValueError(f"dataset.fold needs dataset.folds (the number of folds); received fold={self.fold}")
        if self.fold is not None and self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"dataset.fold must be 0 to folds-1 ({self.folds - 1}); received {self.fold}")
        if self.other_classes is not None:
            if not self.classes:
                raise ValueError("dataset.other_classes needs dataset.classes (the known classes)")
            if not self.other_classes:
                raise ValueError("dataset.other_classes: list at least one class; received []")
            both = [c for c in self.other_classes if str(c) in {str(k) for k in self.classes}]
            if both:
                raise ValueError(f"dataset.other_classes: class {both[0]!r} is also in dataset.classes; "
                                 f"a class is known or other, not both")
        rules: dict = SOURCE_RULES.get(str(self.source), {})
        for key in rules.get("requires", ()):
            if not getattr(self, key):
                raise ValueError(f"dataset.{key}{KEY_HINTS.get(key, '')} is required for source '{self.source}'")
        npy = bool(rules.get("npy_labels")) and str(self.path).lower().endswith(".npy")
        if npy and not self.labels:
            raise ValueError("dataset.labels (the .npy file of labels) is required when dataset.path is a .npy file")
        if self.labels and not npy:
            raise ValueError(f"dataset.labels is only for source sequences with a .npy path (a .npz holds its "
                             f"labels as y, a CSV line starts with its label); received source {self.source} and "
                             f"path {shorten(str(self.path))}")
        for key, why in rules.get("refuses", {}).items():
            if getattr(self, key):
                raise ValueError(f"dataset.{key}: {why}")
        if self.validation == "test" and self.split.val > 0:
            raise ValueError(f"validation: test validates on the test split, so split.val must be 0 "
                             f"(its samples would go unused); received split.val={self.split.val:g}")
        return self


# ---------------------------------------------------------------------- models
class OutputConfig(Section):
    units: Optional[int] = Field(None, gt=0, le=MAX_UNITS, description="Output units; default follows the task: 1 for two classes (sigmoid), one per class otherwise, one per target for multilabel / regression.")
    activation: Optional[Activation] = Field(None, description="Output activation; default sigmoid (one unit, multilabel), softmax (one unit per class), linear (regression).")

    _v = field_validator("activation")(classmethod(lambda cls, v: _activation(v)))


OUTPUT_LOSSES = ("mse", "mae", "masked_mse", "masked_euclidean", "binary_crossentropy", "categorical_crossentropy")


class NamedOutputConfig(Section):
    targets: List[str] = Field(..., min_length=1, description="The target columns this output predicts, in order, required (columns of dataset.target).")
    units: Optional[int] = Field(None, gt=0, le=MAX_UNITS, description="Output units; default (and it must be) one per target column.")
    activation: Activation = Field("linear", description="Output activation, e.g. linear (coordinates), sigmoid (0..1 coordinates, present / absent).")
    loss: LossName = Field(..., description="This output's loss, required: mse, mae, masked_mse or masked_euclidean (both ignore missing target cells), binary_crossentropy, categorical_crossentropy.")
    loss_weight: float = Field(1.0, ge=0, le=MAX_FLOAT, description="Weight of this output's loss in the total loss (>= 0).")

    _v = field_validator("activation")(classmethod(lambda cls, v: _activation(v)))

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        return _check_name(v, OUTPUT_LOSSES, "output loss")  # type: ignore[return-value]


def _output_names(v: Optional[dict]) -> Optional[dict]:
    """model.outputs: names become layer and metric names (coords_loss, val_coords_loss)."""
    import re

    if v is None:
        return v
    if not v:
        raise ValueError("give at least one output, or remove outputs")
    for name in v:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", str(name)) or str(name) == "val" \
                or str(name).startswith("val_"):
            raise ValueError(f"output name {shorten(str(name))} must be a letter then letters, digits or _ "
                             f"(and not start with val_: metric names would clash)")
    return v


OUTPUTS = "Several named outputs (task: regression), each with its own targets, units, activation, loss and loss weight; replaces output and training.loss."


class DenseLayerConfig(Section):
    units: int = Field(..., gt=0, le=MAX_UNITS, description="Number of units (neurons), required.")
    activation: Activation = Field("relu", description="Activation function of the layer.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout rate after the layer (0 to < 1; 0: none).")
    batch_norm: bool = Field(False, description="BatchNormalization after the dense layer.")

    _v = field_validator("activation")(classmethod(lambda cls, v: _activation(v)))


MODEL_TYPE = "The network: mlp (dense layers), cnn (2-D convolution blocks), cnn1d (1-D convolution blocks over (steps, channels) sequences) or backbone (a pretrained keras.applications network and a head)."


class MLPModel(Section):
    type: Literal["mlp"] = Field("mlp", description=MODEL_TYPE)
    layers: List[DenseLayerConfig] = Field(default_factory=lambda: [DenseLayerConfig(units=128)], description="Hidden layers, input to output (default one of 128 units).")
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer of every dense kernel, e.g. random_uniform, he_normal.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="The output layer.")
    outputs: Optional[Dict[str, NamedOutputConfig]] = Field(None, description=OUTPUTS)
    init_from: Optional[str] = Field(None, description="Start from an earlier run folder's weights.")

    _o = field_validator("outputs")(classmethod(lambda cls, v: _output_names(v)))

    @field_validator("kernel_initializer")
    @classmethod
    def _init(cls, v: str) -> str:
        return _check_name(v, INITIALIZERS, "initializer")  # type: ignore[return-value]


BLOCK_TYPE = "Block kind: conv (a Conv2D; a Conv1D in cnn1d) or inception (four parallel branches, GoogLeNet style)."


class ConvBlock(Section):
    type: Literal["conv"] = Field("conv", description=BLOCK_TYPE)
    filters: int = Field(..., gt=0, le=MAX_FILTERS, description="Number of filters, required.")
    kernel: int = Field(3, gt=0, le=MAX_KERNEL, description="Kernel size: square side in pixels (cnn), length in steps (cnn1d).")
    activation: Activation = Field("relu", description="Activation after the convolution.")
    padding: Literal["same", "valid"] = Field("same", description="Convolution padding.")
    batch_norm: bool = Field(False, description="BatchNormalization after the convolution.")
    order: Literal["conv_bn_act", "conv_act_bn"] = Field("conv_bn_act", description="With batch_norm: conv -> BatchNorm -> activation, or conv -> activation -> BatchNorm (S3's Conv2D(relu) then BatchNorm).")
    pool: Optional[int] = Field(None, gt=0, le=MAX_KERNEL, description="Max-pool size (and stride) after the block, pixels (steps in cnn1d); omit for no pooling.")
    pool_padding: Literal["valid", "same"] = Field("valid", description="Max-pool padding: valid (an incomplete last window is dropped: the size rounds down) or same (kept: it rounds up).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout rate after the block (0 to < 1; 0: none).")

    _v = field_validator("activation")(classmethod(lambda cls, v: _activation(v)))


class InceptionBlock(Section):
    type: Literal["inception"] = Field("inception", description=BLOCK_TYPE)
    b1: int = Field(..., gt=0, le=MAX_FILTERS, description="Filters of the 1x1 branch.")
    b3_reduce: int = Field(..., gt=0, le=MAX_FILTERS, description="1x1 filters before the 3x3 branch.")
    b3: int = Field(..., gt=0, le=MAX_FILTERS, description="Filters of the 3x3 branch.")
    b5_reduce: int = Field(..., gt=0, le=MAX_FILTERS, description="1x1 filters before the 5x5 branch.")
    b5: int = Field(..., gt=0, le=MAX_FILTERS, description="Filters of the 5x5 branch.")
    pool_proj: int = Field(..., gt=0, le=MAX_FILTERS, description="1x1 filters after the 3x3 max-pool branch.")
    batch_norm: bool = Field(True, description="BatchNormalization in every branch.")
    order: Literal["conv_bn_act", "conv_act_bn"] = Field("conv_bn_act", description="With batch_norm, in each branch: conv -> BatchNorm -> ReLU, or conv -> ReLU -> BatchNorm (S3's block).")
    use_bias: Optional[bool] = Field(None, description="Bias in the branch convolutions; default: only without batch_norm (S3's block: true).")
    pool: Optional[int] = Field(None, gt=0, le=MAX_KERNEL, description="Max-pool size (and stride) after the block, pixels; omit for no pooling.")


CNNBlockConfig = Annotated[Union[ConvBlock, InceptionBlock], Field(discriminator="type")]


class CNNModel(Section):
    type: Literal["cnn"] = Field("cnn", description=MODEL_TYPE)
    api: Literal["sequential", "functional"] = Field("functional", description="Keras API that builds the network: sequential or functional (same graph, same parameter count).")
    rescale: Optional[float] = Field(None, ge=-MAX_FLOAT, le=MAX_FLOAT, description="Multiply inputs by this first (1/255 for raw pixels).")
    blocks: List[CNNBlockConfig] = Field(..., min_length=1, description="Convolution and inception blocks, input to output (at least one), each with its type.")
    global_pool: Literal["flatten", "avg", "max"] = Field("flatten", description="How the last feature maps become a vector: flatten, avg or max (global pooling).")
    dense: List[DenseLayerConfig] = Field(default_factory=list, description="Dense layers after the convolutions.")
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer of conv and dense kernels.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="The output layer.")
    outputs: Optional[Dict[str, NamedOutputConfig]] = Field(None, description=OUTPUTS)
    init_from: Optional[str] = Field(None, description="Start from an earlier run folder's weights.")

    _o = field_validator("outputs")(classmethod(lambda cls, v: _output_names(v)))

    @field_validator("kernel_initializer")
    @classmethod
    def _init(cls, v: str) -> str:
        return _check_name(v, INITIALIZERS, "initializer")  # type: ignore[return-value]


class CNN1DModel(Section):
    type: Literal["cnn1d"] = Field("cnn1d", description=MODEL_TYPE)
    api: Literal["sequential", "functional"] = Field("functional", description="Keras API that builds the network: sequential or functional (same graph, same parameter count).")
    blocks: List[ConvBlock] = Field(..., min_length=1, description="Conv1D blocks, input to output (at least one): filters, kernel (steps), padding, batch_norm, pool, pool_padding, dropout.")
    global_pool: Literal["flatten", "avg", "max"] = Field("flatten", description="How the last feature sequence becomes a vector: flatten, avg or max (global pooling over the steps).")
    dense: List[DenseLayerConfig] = Field(default_factory=list, description="Dense layers after the convolutions.")
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer of conv and dense kernels.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="The output layer.")
    outputs: Optional[Dict[str, NamedOutputConfig]] = Field(None, description=OUTPUTS)
    init_from: Optional[str] = Field(None, description="Start from an earlier run folder's weights.")

    @field_validator("kernel_initializer")
    @classmethod
    def _init(cls, v: str) -> str:
        return _check_name(v, INITIALIZERS, "initializer")  # type: ignore[return-value]

    _o = field_validator("outputs")(classmethod(lambda cls, v: _output_names(v)))


class BackboneSpec(Section):
    name: BackboneName = Field(..., description="A keras.applications backbone, required; `dlhw list backbones` shows each one's input size and blocks.")
    weights: Optional[str] = Field("imagenet", description="imagenet, null (random) or a path to a .weights.h5 / .h5 file.")
    pooling: Literal["flatten", "avg", "max"] = Field("avg", description="How the last feature map becomes a vector: flatten, avg or max (global pooling).")
    trainable: bool = Field(False, description="Train the backbone's weights too (false: frozen feature extractor).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, BACKBONES, "backbone")  # type: ignore[return-value]


class HeadLayerConfig(Section):
    type: Literal["dense", "batch_norm", "dropout"] = Field("dense", description="Layer kind: dense, batch_norm or dropout.")
    units: Optional[int] = Field(None, gt=0, le=MAX_UNITS, description="dense: number of units, required for dense.")
    activation: Optional[Activation] = Field(None, description="dense: activation (default none: linear, as in Keras).")
    use_bias: bool = Field(True, description="dense: use a bias vector.")
    rate: float = Field(0.5, ge=0, lt=1, description="dropout: the rate (0 to < 1).")

    _v = field_validator("activation")(classmethod(lambda cls, v: _activation(v)))

    @model_validator(mode="after")
    def _units(self) -> "HeadLayerConfig":
        if self.type == "dense" and self.units is None:
            raise ValueError("a dense head layer needs units")
        return self


class UnfreezeConfig(Section):
    from_layer: Optional[int] = Field(None, ge=0, le=MAX_LAYER_INDEX, description="Unfreeze backbone layers from this layer index on (0-based). Give exactly one of from_layer, last_layers, from_block.")
    last_layers: Optional[int] = Field(None, gt=0, le=MAX_LAYER_INDEX, description="Unfreeze the last N backbone layers. Give exactly one of from_layer, last_layers, from_block.")
    from_block: Optional[str] = Field(None, description="Unfreeze from the first layer whose name starts with this (e.g. conv5; `dlhw list backbones` shows the blocks). Give exactly one of from_layer, last_layers, from_block.")
    batch_norm: Literal["frozen", "trainable"] = Field("frozen", description="BatchNormalization in the unfrozen part: frozen (inference mode, Keras's advice for small data) or trainable (batch statistics and gamma/beta updated, as the studies' code did).")

    @model_validator(mode="after")
    def _one(self) -> "UnfreezeConfig":
        given = [k for k in ("from_layer", "last_layers", "from_block") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of from_layer, last_layers, from_block; received {given or 'none'}")
        return self


class ClassifierConfig(Section):
    type: Literal["svm", "logistic", "sgd"] = Field("svm", description="scikit-learn classifier fitted on backbone features: svm, logistic (both fit the whole training matrix in memory) or sgd (a logistic regression fitted by SGDClassifier.partial_fit chunk by chunk, for features larger than memory).")
    kernel: Literal["linear", "poly", "rbf", "sigmoid"] = Field("rbf", description="svm: kernel.")
    C: float = Field(1.0, gt=0, le=MAX_FLOAT, description="Inverse regularisation strength (> 0; smaller: stronger regularisation; sgd: alpha = 1 / (C * training samples)).")
    degree: int = Field(3, gt=0, le=100, description="svm poly: degree.")
    gamma: Union[float, Literal["scale", "auto"]] = Field("scale", description="svm (rbf, poly, sigmoid): kernel coefficient, a number > 0 or scale / auto (scikit-learn's meanings).")
    max_iter: int = Field(1000, gt=0, le=MAX_STEPS, description="logistic: maximum iterations.")
    epochs: int = Field(5, gt=0, le=MAX_EPOCHS, description="sgd: passes over the training features, chunk by chunk in a seeded order.")

    @field_validator("gamma")
    @classmethod
    def _gamma(cls, v: Union[float, str]) -> Union[float, str]:
        if isinstance(v, float) and not 0 < v <= MAX_FLOAT:
            raise ValueError(f"a numeric gamma must be greater than 0 and at most {MAX_FLOAT:g}")
        return v


class BackboneModel(Section):
    type: Literal["backbone"] = Field("backbone", description=MODEL_TYPE)
    backbone: BackboneSpec = Field(..., description="The pretrained feature extractor, required.")
    head: List[HeadLayerConfig] = Field(default_factory=list, description="Layers between the backbone and the output, in order (default none).")
    output: OutputConfig = Field(default_factory=OutputConfig, description="The output layer.")
    outputs: Optional[Dict[str, NamedOutputConfig]] = Field(None, description=OUTPUTS)
    classifier: Optional[ClassifierConfig] = Field(None, description="Fit a scikit-learn classifier on the frozen features instead of a Keras head and output (S2 c).")
    init_from: Optional[str] = Field(None, description="Start from an earlier run folder's weights (S2 d).")

    _o = field_validator("outputs")(classmethod(lambda cls, v: _output_names(v)))


ModelConfig = Annotated[Union[MLPModel, CNNModel, CNN1DModel, BackboneModel], Field(discriminator="type")]


# -------------------------------------------------------------------- training
class ScheduleConfig(Section):
    type: Literal["exponential", "cosine", "reduce_on_plateau", "step"] = Field(..., description="Learning-rate schedule, required: exponential, cosine (decay), reduce_on_plateau or step (PyTorch's StepLR).")
    decay_steps: int = Field(1000, gt=0, le=MAX_STEPS, description="exponential / cosine: training steps (batches) per decay period.")
    decay_rate: float = Field(0.96, gt=0, le=MAX_FLOAT, description="exponential: factor per decay period.")
    alpha: float = Field(0.0, ge=0, le=1, description="cosine: final learning rate as a fraction of the initial one.")
    factor: float = Field(0.5, gt=0, lt=1, description="reduce_on_plateau: multiply the rate by this on a plateau (0 to 1).")
    patience: int = Field(3, ge=0, le=MAX_EPOCHS, description="reduce_on_plateau: epochs without improvement.")
    monitor: str = Field("val_loss", description="reduce_on_plateau: the quantity watched, e.g. val_loss or val_accuracy.")
    min_lr: float = Field(0.0, ge=0, le=MAX_FLOAT, description="reduce_on_plateau: the rate never goes below this.")
    step_size: int = Field(10, gt=0, le=MAX_EPOCHS, description="step: epochs between two decays (counted from the stage's start).")
    gamma: float = Field(0.1, gt=0, le=1, description="step: factor applied to the rate every step_size epochs (0 to 1).")


class OptimizerConfig(Section):
    type: OptimizerName = Field("adam", description="The Keras optimizer: sgd, adam, adamw, rmsprop or adagrad.")
    learning_rate: float = Field(0.001, gt=0, le=MAX_FLOAT, description="Initial learning rate (> 0).")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd / rmsprop: momentum (0 to < 1).")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum.")
    weight_decay: Optional[float] = Field(None, ge=0, le=MAX_FLOAT, description="Decoupled weight decay (>= 0); default none (adamw: 0.004).")
    clipnorm: Optional[float] = Field(None, gt=0, le=MAX_FLOAT, description="Clip each gradient to this norm (> 0); default no clipping.")
    schedule: Optional[ScheduleConfig] = Field(None, description="A learning-rate schedule, starting from learning_rate; default a constant rate.")

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        return _check_name(v, OPTIMIZERS, "optimizer")  # type: ignore[return-value]


class EarlyStoppingConfig(Section):
    monitor: str = Field("val_loss", description="Quantity to watch, e.g. val_loss or val_accuracy.")
    patience: int = Field(5, ge=0, le=MAX_EPOCHS, description="Epochs without improvement before stopping (>= 0).")
    min_delta: float = Field(0.0, ge=0, le=MAX_FLOAT, description="Smallest change that counts as an improvement.")
    restore_best_weights: bool = Field(True, description="Go back to the best epoch's weights when stopping.")


class StageConfig(Section):
    name: str = Field(..., description="Stage name, required and unique, shown in history.csv and on the curves.")
    epochs: int = Field(..., gt=0, le=MAX_EPOCHS, description="Epochs in this stage, required (> 0).")
    optimizer: Optional[OptimizerConfig] = Field(None, description="Optimizer for this stage; default training.optimizer.")
    early_stopping: Optional[EarlyStoppingConfig] = Field(None, description="Early stopping for this stage; default none.")
    unfreeze: Optional[UnfreezeConfig] = Field(None, description="Backbone layers to make trainable from this stage on; default none.")


class CheckpointEvery(Section):
    every_seconds: float = Field(..., gt=0, le=10 ** 7, description="Write a checkpoint when this many seconds "
                                                                    "of training passed since the last one.")


def _true_false_too(schema: dict[str, Any]) -> None:
    """JSON Schema of training.checkpoint: its validator takes true / false (the old spelling) too."""
    schema["anyOf"].append({"type": "boolean"})


class TensorBoardConfig(Section):
    histograms: int = Field(0, ge=0, le=MAX_EPOCHS, description="Weight histograms every N epochs (Keras' histogram_freq); 0: scalars only.")


class TrainingConfig(Section):
    epochs: int = Field(20, gt=0, le=MAX_EPOCHS, description="Passes over the training split (when no stages are given).")
    batch_size: Union[Annotated[int, Field(gt=0, le=MAX_BATCH)], Literal["full"]] = Field(32, description="Mini-batch size, or full: the whole training split in one batch (batch gradient descent).")
    loss: Optional[LossName] = Field(None, description="Loss; inferred from the task and the output when omitted (binary or sparse categorical cross-entropy, MSE for regression).")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="The optimizer (and its learning rate) of every stage that names none.")
    early_stopping: Optional[EarlyStoppingConfig] = Field(None, description="Stop when the monitored value stops improving; default none: train every epoch.")
    stages: Optional[List[StageConfig]] = Field(None, description="Training stages in order, each with its own epochs, optimizer, early stopping and unfreezing; replaces epochs (default one stage called train).")
    shuffle: bool = Field(True, description="Shuffle the training set every epoch.")
    tensorboard: Union[bool, TensorBoardConfig] = Field(
        True, description="Write TensorBoard logs to tb/ (epoch scalars); {histograms: N} adds weight histograms every N epochs.")
    log_steps: bool = Field(False, description="Also record every training batch: history_steps.csv and steps_curves.png.")
    checkpoint: Union[Literal["auto", "every_epoch", "off"], CheckpointEvery] = Field(
        "auto", json_schema_extra=_true_false_too,
        description="Resume checkpoints: auto (cost-bounded: every 30 s at most, and at stage ends, "
                    "Ctrl-C and the end), every_epoch, off, or {every_seconds: S}; true = auto, false = off.")
    class_weight: Optional[Union[Literal["balanced"], Dict[Union[int, str], Annotated[float, Field(gt=0, le=MAX_FLOAT)]]]] = Field(
        None, description="Weigh each class's loss: balanced (n_samples / (n_classes * count), scikit-learn's rule) "
                          "or {class: weight} (labels or names; classes not listed weigh 1). Default none.")
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field("float32", description="Keras dtype policy of the run: float32, mixed_float16 (GPU tensor cores; loss scaling as Keras does it) or mixed_bfloat16; the output layer stays float32.")
    jit_compile: Union[Literal["auto"], bool] = Field("auto", description="XLA compilation of the training step: auto (on on a GPU when every layer allows it, off on CPU), true or false.")
    distribute: Literal["none", "mirrored"] = Field("none", description="none (one device) or mirrored (tf.distribute.MirroredStrategy over the visible GPUs; each batch is split over them).")
    batch_size_per: Literal["global", "replica"] = Field("global", description="distribute: mirrored: batch_size is the global batch (split over the replicas: the same curves as one device) or per replica (global = batch_size x replicas).")
    keep_checkpoints: bool = Field(False, description="Keep checkpoints/ once the run completes (default: removed; "
                                                      "model.keras holds the evaluated weights). Failed, diverged "
                                                      "and interrupted runs always keep theirs, for --resume.")

    @field_validator("checkpoint", mode="before")
    @classmethod
    def _checkpoint(cls, v: Any) -> Any:
        if isinstance(v, bool):  # the old spelling: true / false
            return "auto" if v else "off"
        if isinstance(v, str):
            low = v.strip().lower()
            if low not in ("auto", "every_epoch", "off"):
                raise ValueError(f"training.checkpoint must be auto, every_epoch, off or {{every_seconds: S}}; "
                                 f"received '{v[:40]}'")
            return low
        return v

    @field_validator("jit_compile", mode="before")
    @classmethod
    def _jit(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in ("auto", "true", "false"):
            low = v.strip().lower()
            return low if low == "auto" else low == "true"
        if isinstance(v, bool):
            return v
        raise ValueError(f"must be auto, true or false; received {shorten(v)}")

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_size(cls, v: Any) -> Any:
        """A whole number of samples, or 'full' (resolved to the training split's size at run time)."""
        if isinstance(v, str) and v.strip().lower() == "full":
            return "full"
        if isinstance(v, str) and v.strip().isdigit() and len(v.strip()) <= 20:
            v = int(v.strip())
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"expected a whole number of samples (1 to {MAX_BATCH}) or 'full'")
        if not 0 < v <= MAX_BATCH:
            raise ValueError(f"must be between 1 and {MAX_BATCH} samples, or 'full'")
        return v

    @field_validator("tensorboard", mode="before")
    @classmethod
    def _tensorboard(cls, v: Any) -> Any:
        if isinstance(v, (bool, TensorBoardConfig)):
            return v
        if isinstance(v, str) and v.strip().lower() in ("true", "false"):
            return v.strip().lower() == "true"
        if isinstance(v, dict):
            from pydantic import ValidationError

            try:
                return TensorBoardConfig.model_validate(v)
            except ValidationError as exc:
                err = exc.errors()[0]
                key = ".".join(str(p) for p in err["loc"])
                if err["type"] == "extra_forbidden":
                    raise ValueError(f"unknown key '{key}'{did_you_mean(key, ['histograms'])}; "
                                     f"the keys are: histograms") from None
                from dlhw.errors import plain_words

                raise ValueError(f"{key}: {plain_words(err['msg'])}; received {err.get('input')!r}") from None
        raise ValueError(f"must be true, false or {{histograms: N}}; received {str(v)[:40]!r}")

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: Optional[str]) -> Optional[str]:
        return _check_name(v, LOSSES, "loss")

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_weight(cls, v: Any) -> Any:
        """balanced, or {class: weight} with every weight a finite number > 0."""
        if v is None:
            return v
        if isinstance(v, str):
            if v.strip().lower() == "balanced":
                return "balanced"
            raise ValueError(f"must be balanced or a mapping {{class: weight}}; received {shorten(v)}")
        if not isinstance(v, dict) or not v:
            raise ValueError(f"must be balanced or a mapping {{class: weight}}; received {shorten(v)}")
        for k, w in v.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < float(w) <= MAX_FLOAT:
                raise ValueError(f"the weight of class {shorten(k)} must be a number > 0 (at most {MAX_FLOAT:g}); "
                                 f"received {shorten(w)}")
        return v

    @model_validator(mode="after")
    def _stages(self) -> "TrainingConfig":
        if self.stages is not None:
            if not self.stages:
                raise ValueError("training.stages must list at least one stage")
            names = [s.name for s in self.stages]
            if len(set(names)) != len(names):
                raise ValueError(f"stage names must be unique; received {names}")
        return self


class OpenSetConfig(Section):
    method: Literal["distance", "max_prob", "other"] = Field("distance", description="How an input is called unseen: distance (to the nearest known class centre), max_prob (the top probability) or other (the extra class trained on dataset.other_classes).")
    percentile: float = Field(95.0, gt=0, le=100, description="Threshold percentile (0 to 100) fitted on validation data of the known classes.")


class EvaluationConfig(Section):
    open_set: Optional[OpenSetConfig] = Field(None, description="Reject unseen-class inputs (needs dataset.classes).")
    top_k: Optional[int] = Field(None, ge=0, le=MAX_UNITS, description="Report top-k accuracy (the true class among the k most probable) per split; default 5 when there are more than 10 classes; 0: off.")
    samples: int = Field(16, ge=0, le=1000, description="Images shown in samples.png (image data only; 0: none).")
    weights: Literal["last", "best"] = Field("last", description="Evaluate (and save as model.keras) the last epoch's weights or the best epoch's by evaluation.monitor.")
    monitor: Optional[MonitorName] = Field(None, description="weights: best: the quantity that picks the epoch, e.g. val_accuracy; default the last stage's early-stopping monitor, else val_loss.")

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        return _check_name(v, MONITORS, "monitor")


class MLflowConfig(Section):
    uri: Optional[str] = Field(None, description="MLflow tracking URI: http://host:5000, sqlite:///mlflow.db, file:./mlruns; default MLFLOW_TRACKING_URI, else MLflow's own default.")
    experiment: Optional[str] = Field(None, description="MLflow experiment name (created when missing); default MLFLOW_EXPERIMENT_NAME, else dlhw.")
    log_model: bool = Field(True, description="Also log the trained model as an MLflow Keras model (artifact model/, loadable with mlflow.keras.load_model).")


class WandbConfig(Section):
    project: Optional[str] = Field(None, description="W&B project; default WANDB_PROJECT, else dlhw.")
    entity: Optional[str] = Field(None, description="W&B entity (user or team); default WANDB_ENTITY, else the account's default.")
    group: Optional[str] = Field(None, description="W&B group of a single run (a sweep's trials are grouped by the sweep's name); default WANDB_RUN_GROUP.")
    tags: List[str] = Field(default_factory=list, description="W&B tags of the run; default WANDB_TAGS (comma-separated).")
    mode: Optional[Literal["online", "offline", "disabled"]] = Field(None, description="online, offline (files under the run folder's wandb/, upload later with wandb sync) or disabled; default WANDB_MODE, else online with an API key and a reachable server, otherwise offline.")
    log_model: bool = Field(False, description="Also log model.keras as a W&B artifact of type model.")


class TrackingConfig(Section):
    mlflow: Optional[MLflowConfig] = Field(None, json_schema_extra=_true_false_too, description="Copy the run to MLflow (optional extra dlhw[mlflow]): params, epoch metrics, final metrics, tags, files; true: the defaults.")
    wandb: Optional[WandbConfig] = Field(None, json_schema_extra=_true_false_too, description="Copy the run to Weights & Biases (optional extra dlhw[wandb]): config, epoch metrics, final metrics, plots, files; true: the defaults.")

    @field_validator("mlflow", "wandb", mode="before")
    @classmethod
    def _mlflow(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in ("true", "false"):
            v = v.strip().lower() == "true"
        if v is True:
            return {}
        return None if v is False else v


class ExperimentConfig(Section):
    name: str = Field("experiment", min_length=1, description="Run-name prefix: the run folder is OUT/<name> (a suffix is added, never an overwrite).")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seeds Python, NumPy and TensorFlow, and the split; same seed, same results (0 to 2^32-1).")
    task: Literal["classification", "multilabel", "regression"] = Field("classification", description="What the output predicts: classification (one class), multilabel (several labels) or regression (numbers).")
    dataset: DatasetConfig = Field(..., description="The data: where it comes from and how it is split. Required.")
    model: ModelConfig = Field(default_factory=MLPModel, description="The network; its type (mlp, cnn, cnn1d, backbone) chooses the other keys.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="The training plan: epochs or stages, batch size, loss, optimizer, early stopping, checkpoints.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="Extra evaluation: which epoch is measured, open-set rejection, sample images.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Copies of the run kept elsewhere (MLflow, Weights & Biases); the run folder stays the record.")
    cache: Literal["auto", "off"] = Field("auto", description="auto: frozen-backbone features and decoded images are computed once and cached; off: every epoch.")
    slurm: SlurmConfig = Field(default_factory=SlurmConfig, description="What each trial asks of a Slurm cluster (dlhw sweep --executor slurm): partition, time, CPUs, memory, GPUs; ignored elsewhere.")
    _source: Optional[str] = PrivateAttr(None)  # the file it was read from, for data errors (not part of the dump)

    @model_validator(mode="before")
    @classmethod
    def _targets_from_outputs(cls, data: Any) -> Any:
        """model.outputs without dataset.target: the outputs' target columns, in order, once each."""
        model, dataset = (data.get("model"), data.get("dataset")) if isinstance(data, dict) else (None, None)
        outs = model.get("outputs") if isinstance(model, dict) else None
        if isinstance(outs, dict) and isinstance(dataset, dict) and dataset.get("target") is None:
            cols = [c for o in outs.values() if isinstance(o, dict) and isinstance(o.get("targets"), list)
                    for c in o["targets"]]
            if cols:
                data = {**data, "dataset": {**dataset, "target": list(dict.fromkeys(cols))}}
        return data

    @model_validator(mode="after")
    def _cross(self) -> "ExperimentConfig":
        if self.evaluation.open_set is not None and not self.dataset.classes:
            raise ValueError("evaluation.open_set needs dataset.classes (the known classes)")
        if getattr(self.model, "outputs", None):
            check_outputs(self)
        if self.evaluation.open_set is not None and self.evaluation.open_set.method == "other" \
                and not self.dataset.other_classes:
            raise ValueError("evaluation.open_set.method: other needs dataset.other_classes (the classes trained as 'other')")
        if self.training.class_weight is not None and self.task != "classification":
            raise ValueError(f"training.class_weight: only for classification; received task={self.task}")
        return self

    def stages(self) -> List[StageConfig]:
        """The training plan as stages; a config without stages is one stage called 'train'."""
        if self.training.stages:
            return list(self.training.stages)
        return [
            StageConfig(
                name="train",
                epochs=self.training.epochs,
                optimizer=self.training.optimizer,
                early_stopping=self.training.early_stopping,
            )
        ]

    def dump(self) -> dict[str, Any]:
        """The resolved config as plain data (every default filled)."""
        return self.model_dump(mode="json")


def check_outputs(cfg: ExperimentConfig) -> None:
    """model.outputs against the rest of the config (one ConfigError naming the key)."""
    outs = cfg.model.outputs
    if not outs:
        return
    if cfg.task != "regression":
        raise ConfigError(f"model.outputs: named outputs predict numeric target columns; use task: regression "
                          f"(a 0/1 column with binary_crossentropy works there too); received task={cfg.task}")
    if cfg.training.loss is not None:
        raise ConfigError(f"training.loss: with model.outputs each output has its own loss; remove training.loss "
                          f"(received {cfg.training.loss})")
    if cfg.model.output.units is not None or cfg.model.output.activation is not None:
        raise ConfigError("model.output: with model.outputs give units and activation per output; remove model.output")
    if getattr(cfg.model, "classifier", None) is not None:
        raise ConfigError("model.outputs: a scikit-learn classifier has one output; remove classifier or outputs")
    columns = [cfg.dataset.target] if isinstance(cfg.dataset.target, str) else list(cfg.dataset.target or [])
    used: set[str] = set()
    for name, o in outs.items():
        key = f"model.outputs.{name}"
        for c in o.targets:
            if c not in columns:
                raise ConfigError(f"{key}.targets: column '{c}' is not in dataset.target{did_you_mean(c, columns)}; "
                                  f"dataset.target: {', '.join(columns)}")
        twice = next((c for i, c in enumerate(o.targets) if c in o.targets[:i]), None)
        if twice is not None:
            raise ConfigError(f"{key}.targets: column '{twice}' is listed twice")
        used.update(o.targets)
        if o.units is not None and o.units != len(o.targets):
            raise ConfigError(f"{key}.units: {o.units} does not match its {len(o.targets)} target column(s); "
                              f"omit units or list one target per unit")
        if o.loss == "masked_euclidean" and len(o.targets) % 2:
            raise ConfigError(f"{key}.loss: masked_euclidean needs (x, y) pairs, an even number of targets; "
                              f"received {len(o.targets)}")
    spare = [c for c in columns if c not in used]
    if spare:
        raise ConfigError(f"dataset.target: column '{spare[0]}' is predicted by no output of model.outputs; "
                          f"add it to an output's targets or remove it")


def check_classifier(cfg: ExperimentConfig) -> None:
    """Refuse a ``model.classifier`` config that cannot work (before a run folder exists): it
    needs classification and a backbone frozen in every stage."""
    if cfg.task != "classification":
        raise ConfigError(f"model.classifier: fits class labels; received task={cfg.task}")
    model = cfg.model
    assert isinstance(model, BackboneModel), "model.classifier exists on backbone models only"
    if model.backbone.trainable:
        raise ConfigError("model.backbone.trainable: a classifier is fitted on frozen features; received true")
    if cfg.training.stages and any(s.unfreeze is not None for s in cfg.training.stages):
        raise ConfigError("training.stages: a classifier is fitted once on frozen features; remove unfreeze")
