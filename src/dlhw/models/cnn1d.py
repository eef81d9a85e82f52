"""1-D convolutions over (steps, channels) sequences (S3, question 3), with either Keras API.

The same block keys as the 2-D CNN (dlhw.models.cnn): ``filters``, ``kernel`` (now a
length in steps), ``padding``, ``batch_norm`` and ``order``, ``pool`` and ``pool_padding``,
``dropout``. ``cnn1d_layers`` returns the layers once; the Sequential build stacks them,
the Functional build calls them in a chain: same layers, names, shapes and parameter count.
"""

from __future__ import annotations


def cnn1d_layers(cfg, out) -> list:
    """The network's layers in order, input excluded."""
    from dlhw.models.cnn import conv_layers, conv_tail

    seq = []
    for i, b in enumerate(cfg.blocks, start=1):
        seq += conv_layers(b, i, cfg.kernel_initializer, dims=1)
    return seq + conv_tail(cfg, out, dims=1)


def check_lengths(model_cfg, input_shape) -> None:
    """Refuse blocks that shrink the sequence to nothing, naming the block and the lengths
    (Keras would fail later with a negative dimension deep inside the graph)."""
    from dlhw.errors import ConfigError

    steps = int(input_shape[0])
    for i, b in enumerate(model_cfg.blocks):
        if b.padding == "valid":
            if steps < b.kernel:
                raise ConfigError(f"model.blocks.{i}.kernel: {b.kernel} is longer than the {steps} steps that reach "
                                  f"block {i + 1} (input length {input_shape[0]}); use padding: same, a shorter "
                                  f"kernel or longer sequences")
            steps = steps - b.kernel + 1
        if b.pool:
            if b.pool_padding == "valid" and steps < b.pool:
                raise ConfigError(f"model.blocks.{i}.pool: {b.pool} is longer than the {steps} steps that reach "
                                  f"it (input length {input_shape[0]}); use pool_padding: same, a smaller pool "
                                  f"or longer sequences")
            steps = -(-steps // b.pool) if b.pool_padding == "same" else steps // b.pool


def build_cnn1d(model_cfg, input_shape, out, *, augment: bool = False):
    """The 1-D CNN with ``model_cfg.api``: sequential or functional."""
    import keras

    if len(input_shape) != 2:
        from dlhw.errors import ConfigError

        raise ConfigError(f"model.type: cnn1d needs sequence input (steps, channels); the data has shape "
                          f"{tuple(input_shape)} (a sequences source gives [steps, channels]; set "
                          f"dataset.input_shape to say it)")
    check_lengths(model_cfg, input_shape)
    seq = cnn1d_layers(model_cfg, out)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    if model_cfg.api == "sequential":
        return keras.Sequential([inputs] + seq, name="cnn1d_sequential")
    x = inputs
    for layer in seq:
        x = layer(x)
    return keras.Model(inputs, x, name="cnn1d_functional")
