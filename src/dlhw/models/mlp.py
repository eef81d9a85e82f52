"""The multi-layer perceptron (S4, S5): Dense layers with dropout / batch norm."""

from __future__ import annotations


def dense_stack(x, layer_cfgs, kernel_initializer: str, prefix: str = "dense"):
    """Apply Dense (-> BatchNorm -> Activation) -> Dropout for each layer config."""
    from keras import layers

    for i, lc in enumerate(layer_cfgs, start=1):
        if lc.batch_norm:
            x = layers.Dense(lc.units, kernel_initializer=kernel_initializer, name=f"{prefix}_{i}")(x)
            x = layers.BatchNormalization(name=f"{prefix}_{i}_bn")(x)
            x = layers.Activation(lc.activation, name=f"{prefix}_{i}_{lc.activation}")(x)
        else:
            x = layers.Dense(lc.units, activation=lc.activation, kernel_initializer=kernel_initializer,
                             name=f"{prefix}_{i}")(x)
        if lc.dropout:
            x = layers.Dropout(lc.dropout, name=f"{prefix}_{i}_dropout")(x)
    return x


def build_mlp(model_cfg, input_shape, out, *, augment: bool = False):
    """Input -> (Flatten) -> hidden Dense layers -> output Dense."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = inputs
    if len(input_shape) > 1:
        x = layers.Flatten(name="flatten")(x)
    x = dense_stack(x, model_cfg.layers, model_cfg.kernel_initializer)
    outputs = layers.Dense(out.units, activation=out.activation, kernel_initializer=model_cfg.kernel_initializer,
                           dtype="float32", name="output")(x)  # float32 under mixed precision too
    return keras.Model(inputs, outputs, name="mlp")
