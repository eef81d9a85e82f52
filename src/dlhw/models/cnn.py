"""The small CNN of S3, built with either Keras API from one layer list.

``cnn_layers`` returns the layers once; the Sequential build stacks them, the
Functional build calls them in a chain. Same layers, same names, same shapes,
same parameter count: a test compares the two summaries.
"""

from __future__ import annotations


def cnn_layers(cfg, out, augment: bool = False) -> list:
    """The CNN's layers in order, input excluded."""
    from keras import layers

    from dlhw.models.layers import InceptionBlock

    seq = []
    if augment:
        seq.append(layers.RandomFlip("horizontal", name="augment_flip"))
    if cfg.rescale is not None:
        seq.append(layers.Rescaling(cfg.rescale, name="rescale"))
    init = cfg.kernel_initializer
    for i, b in enumerate(cfg.blocks, start=1):
        if b.type == "conv":
            # conv_act_bn (S3): Conv2D(activation) -> BatchNorm; conv_bn_act: Conv2D -> BatchNorm -> Activation
            act_inside = not b.batch_norm or b.order == "conv_act_bn"
            seq.append(layers.Conv2D(b.filters, b.kernel, padding=b.padding, kernel_initializer=init,
                                     activation=b.activation if act_inside else None, name=f"conv_{i}"))
            if b.batch_norm:
                seq.append(layers.BatchNormalization(name=f"conv_{i}_bn"))
                if not act_inside:
                    seq.append(layers.Activation(b.activation, name=f"conv_{i}_{b.activation}"))
        else:
            seq.append(InceptionBlock(b.b1, b.b3_reduce, b.b3, b.b5_reduce, b.b5, b.pool_proj,
                                      batch_norm=b.batch_norm, kernel_initializer=init, order=b.order,
                                      use_bias=b.use_bias, name=f"inception_{i}"))
        if b.pool:
            seq.append(layers.MaxPooling2D(b.pool, name=f"pool_{i}"))
        if getattr(b, "dropout", 0):
            seq.append(layers.Dropout(b.dropout, name=f"block_{i}_dropout"))
    seq.append({"flatten": layers.Flatten(name="flatten"),
                "avg": layers.GlobalAveragePooling2D(name="global_avg_pool"),
                "max": layers.GlobalMaxPooling2D(name="global_max_pool")}[cfg.global_pool])
    for j, d in enumerate(cfg.dense, start=1):
        seq.append(layers.Dense(d.units, activation=None if d.batch_norm else d.activation,
                                kernel_initializer=init, name=f"dense_{j}"))
        if d.batch_norm:
            seq.append(layers.BatchNormalization(name=f"dense_{j}_bn"))
            seq.append(layers.Activation(d.activation, name=f"dense_{j}_{d.activation}"))
        if d.dropout:
            seq.append(layers.Dropout(d.dropout, name=f"dense_{j}_dropout"))
    seq.append(layers.Dense(out.units, activation=out.activation, kernel_initializer=init, dtype="float32",
                            name="output"))  # float32 under mixed precision too (training.precision)
    return seq


def build_cnn(model_cfg, input_shape, out, *, augment: bool = False):
    """The CNN with ``model_cfg.api``: sequential or functional."""
    import keras

    if len(input_shape) != 3:
        from dlhw.errors import ConfigError

        raise ConfigError(
            f"model.type: cnn needs image input (height, width, channels); the data has shape {tuple(input_shape)}"
        )
    seq = cnn_layers(model_cfg, out, augment)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    if model_cfg.api == "sequential":
        return keras.Sequential([inputs] + seq, name="cnn_sequential")
    x = inputs
    for layer in seq:
        x = layer(x)
    return keras.Model(inputs, x, name="cnn_functional")
