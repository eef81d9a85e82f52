"""The small CNN of S3, built with either Keras API from one layer list.

``cnn_layers`` returns the layers once; the Sequential build stacks them, the
Functional build calls them in a chain. Same layers, same names, same shapes,
same parameter count: a test compares the two summaries.
"""

from __future__ import annotations


def cnn_layers(cfg, out, augment=None, input_shape=None) -> list:
    """The CNN's layers in order, input excluded; ``augment``: dataset.augment's AugmentConfig
    (True: horizontal flips), its layers first (dlhw.models.augment)."""
    from keras import layers

    from dlhw.models.augment import augment_layers, augment_spec
    from dlhw.models.layers import InceptionBlock

    seq = augment_layers(augment_spec(augment) if augment is True else (augment or None), input_shape)
    if cfg.rescale is not None:
        seq.append(layers.Rescaling(cfg.rescale, name="rescale"))
    init = cfg.kernel_initializer
    for i, b in enumerate(cfg.blocks, start=1):
        if b.type == "conv":
            seq += conv_layers(b, i, init, dims=2)
        else:
            seq.append(InceptionBlock(b.b1, b.b3_reduce, b.b3, b.b5_reduce, b.b5, b.pool_proj,
                                      batch_norm=b.batch_norm, kernel_initializer=init, order=b.order,
                                      use_bias=b.use_bias, name=f"inception_{i}"))
            if b.pool:
                seq.append(layers.MaxPooling2D(b.pool, padding=getattr(b, "pool_padding", "valid"), name=f"pool_{i}"))
            if getattr(b, "dropout", 0):
                seq.append(layers.Dropout(b.dropout, name=f"block_{i}_dropout"))
    return seq + conv_tail(cfg, out, dims=2)


def conv_layers(b, i: int, init: str, dims: int) -> list:
    """Conv block ``i`` of a 2-D (``dims`` 2) or 1-D CNN: the convolution, BatchNorm in the block's
    order (conv_act_bn, S3: Conv(activation) -> BatchNorm; conv_bn_act: Conv -> BatchNorm ->
    Activation), max-pooling, dropout."""
    from keras import layers

    conv, pool = {1: (layers.Conv1D, layers.MaxPooling1D), 2: (layers.Conv2D, layers.MaxPooling2D)}[dims]
    act_inside = not b.batch_norm or b.order == "conv_act_bn"
    seq = [conv(b.filters, b.kernel, padding=b.padding, kernel_initializer=init,
                activation=b.activation if act_inside else None, name=f"conv_{i}")]
    if b.batch_norm:
        seq.append(layers.BatchNormalization(name=f"conv_{i}_bn"))
        if not act_inside:
            seq.append(layers.Activation(b.activation, name=f"conv_{i}_{b.activation}"))
    if b.pool:
        seq.append(pool(b.pool, padding=getattr(b, "pool_padding", "valid"), name=f"pool_{i}"))
    if getattr(b, "dropout", 0):
        seq.append(layers.Dropout(b.dropout, name=f"block_{i}_dropout"))
    return seq


def conv_tail(cfg, out, dims: int) -> list:
    """What follows the convolutions of a 2-D (``dims`` 2) or 1-D CNN: the vector (flatten or
    global pooling), the dense layers, the output layer (Dense, or one per named output)."""
    from keras import layers

    from dlhw.models.heads import output_layer

    init = cfg.kernel_initializer
    pools = {1: (layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D),
             2: (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)}[dims]
    seq = [{"flatten": lambda: layers.Flatten(name="flatten"),
            "avg": lambda: pools[0](name="global_avg_pool"),
            "max": lambda: pools[1](name="global_max_pool")}[cfg.global_pool]()]
    for j, d in enumerate(cfg.dense, start=1):
        seq.append(layers.Dense(d.units, activation=None if d.batch_norm else d.activation,
                                kernel_initializer=init, name=f"dense_{j}"))
        if d.batch_norm:
            seq.append(layers.BatchNormalization(name=f"dense_{j}_bn"))
            seq.append(layers.Activation(d.activation, name=f"dense_{j}_{d.activation}"))
        if d.dropout:
            seq.append(layers.Dropout(d.dropout, name=f"dense_{j}_dropout"))
    seq.append(output_layer(out, init))
    return seq


def build_cnn(model_cfg, input_shape, out, *, augment=None):
    """The CNN with ``model_cfg.api``: sequential or functional."""
    import keras

    if len(input_shape) != 3:
        from dlhw.errors import ConfigError

        raise ConfigError(
            f"model.type: cnn needs image input (height, width, channels); the data has shape {tuple(input_shape)}"
        )
    seq = cnn_layers(model_cfg, out, augment, input_shape)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    if model_cfg.api == "sequential":
        return keras.Sequential([inputs] + seq, name="cnn_sequential")
    x = inputs
    for layer in seq:
        x = layer(x)
    return keras.Model(inputs, x, name="cnn_functional")
