"""Custom Keras layers and losses, registered so model.keras loads in safe mode."""

from __future__ import annotations

import keras
from keras import layers, ops

# Several named outputs (model.outputs) and the masked losses; importing registers them with Keras.
from dlhw.models.multi_output import (
    HeadMetric,
    MultiHead,
    MultiOutputLoss,
    masked_euclidean_values,
    masked_mae_values,
    masked_mse_values,
)

__all__ = ["InceptionBlock", "MaskedEuclideanLoss", "MaskedMSELoss", "ImagePreprocess", "masked_mae",
           "HeadMetric", "MultiHead", "MultiOutputLoss"]  # the last three: defined in multi_output


@keras.saving.register_keras_serializable(package="dlhw")
class InceptionBlock(layers.Layer):
    """GoogLeNet-style block (S3): parallel 1x1, 1x1->3x3, 1x1->5x5 and 3x3 pool->1x1
    branches, each conv followed by BatchNormalization and ReLU (``order``: conv_bn_act,
    or conv_act_bn as S3's block: Conv2D(relu) then BatchNorm), concatenated on channels.
    ``use_bias``: bias in the branch convolutions (None: only without batch_norm; S3's are biased).

    One layer, so a Sequential and a Functional model that use it have the same
    layers, shapes and parameter counts.
    """

    def __init__(self, b1, b3_reduce, b3, b5_reduce, b5, pool_proj, batch_norm=True,
                 kernel_initializer="glorot_uniform", order="conv_bn_act", use_bias=None, **kwargs):
        super().__init__(**kwargs)
        if order not in ("conv_bn_act", "conv_act_bn"):
            raise ValueError(f"InceptionBlock order must be conv_bn_act or conv_act_bn; received {order!r}")
        self.config_ = dict(b1=b1, b3_reduce=b3_reduce, b3=b3, b5_reduce=b5_reduce, b5=b5,
                            pool_proj=pool_proj, batch_norm=batch_norm,
                            kernel_initializer=kernel_initializer, order=order, use_bias=use_bias)
        bias = (not batch_norm) if use_bias is None else bool(use_bias)

        def conv(filters, size, name):
            seq = [layers.Conv2D(filters, size, padding="same", use_bias=bias,
                                 kernel_initializer=kernel_initializer, name=f"{name}_conv")]
            relu = layers.Activation("relu", name=f"{name}_relu")
            if batch_norm and order == "conv_act_bn":
                return seq + [relu, layers.BatchNormalization(name=f"{name}_bn")]
            if batch_norm:
                seq.append(layers.BatchNormalization(name=f"{name}_bn"))
            seq.append(relu)
            return seq

        self.branch1 = conv(b1, 1, "b1")
        self.branch3 = conv(b3_reduce, 1, "b3r") + conv(b3, 3, "b3")
        self.branch5 = conv(b5_reduce, 1, "b5r") + conv(b5, 5, "b5")
        self.branch_pool = [layers.MaxPooling2D(3, strides=1, padding="same", name="pool")] + conv(pool_proj, 1, "pp")
        self.concat = layers.Concatenate(axis=-1)

    def build(self, input_shape):
        for branch in (self.branch1, self.branch3, self.branch5, self.branch_pool):
            shape = input_shape
            for layer in branch:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, x, training=None):
        outs = []
        for branch in (self.branch1, self.branch3, self.branch5, self.branch_pool):
            y = x
            for layer in branch:
                y = layer(y, training=training) if isinstance(layer, layers.BatchNormalization) else layer(y)
            outs.append(y)
        return self.concat(outs)

    def compute_output_shape(self, input_shape):
        c = self.config_
        return tuple(input_shape[:-1]) + (c["b1"] + c["b3"] + c["b5"] + c["pool_proj"],)

    def get_config(self):
        return {**super().get_config(), **self.config_}


@keras.saving.register_keras_serializable(package="dlhw")
class MaskedEuclideanLoss(keras.losses.Loss):
    """Mean Euclidean distance between predicted and true 2-D points, ignoring
    points whose true coordinates are NaN (missing landmarks, S4).

    Targets are rows of 2*K values (x1, y1, x2, y2, ...).
    """

    def __init__(self, name="masked_euclidean", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return masked_euclidean_values(y_true, y_pred)


@keras.saving.register_keras_serializable(package="dlhw")
class MaskedMSELoss(keras.losses.Loss):
    """Mean squared error over the target cells that are present, ignoring NaN cells
    (missing landmarks, S4); a row with no target present adds 0."""

    def __init__(self, name="masked_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return masked_mse_values(y_true, y_pred)


_IMAGENET_MEAN = {"caffe": (103.939, 116.779, 123.68), "torch": (0.485, 0.456, 0.406)}
_IMAGENET_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="dlhw")
class ImagePreprocess(layers.Layer):
    """A backbone's own input preprocessing, as ``keras.applications.*.preprocess_input``
    does it, for float pixels in 0..255 (channels last):

    - ``caffe`` (ResNet v1, VGG): RGB -> BGR, minus the ImageNet channel means, no scaling;
    - ``torch`` (DenseNet): /255, minus mean, divided by std per channel;
    - ``tf`` (ResNet v2, MobileNetV2): scaled to -1..1;
    - ``none`` (EfficientNet: the model rescales itself).

    Grayscale input (1 channel) is repeated to 3 channels first. A real layer, not a
    Lambda, so model.keras loads with ``safe_mode=True``.
    """

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "torch", "tf", "none"):
            raise ValueError(f"ImagePreprocess mode must be caffe, torch, tf or none; received {mode!r}")
        self.mode = mode

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if x.shape[-1] == 1:
            x = ops.concatenate([x, x, x], axis=-1)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_IMAGENET_MEAN["torch"], dtype=x.dtype)
            std = ops.convert_to_tensor(_IMAGENET_STD, dtype=x.dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)  # RGB -> BGR
            return x - ops.convert_to_tensor(_IMAGENET_MEAN["caffe"], dtype=x.dtype)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (3,)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="dlhw")
def masked_mae(y_true, y_pred):
    """Mean absolute error over the targets that are present (NaN targets ignored)."""
    return masked_mae_values(y_true, y_pred)
