"""Optimizer registry: ``training.optimizer.type`` -> a Keras optimizer, with schedules."""

from __future__ import annotations

from dlhw.registry import Registry

OPTIMIZERS: Registry = Registry("training.optimizer.type")


def _lr(cfg):
    """A float or a LearningRateSchedule (exponential / cosine); plateau is a callback."""
    import keras

    s = cfg.schedule
    if s is None or s.type == "reduce_on_plateau":
        return cfg.learning_rate
    if s.type == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(cfg.learning_rate, s.decay_steps, s.decay_rate)
    return keras.optimizers.schedules.CosineDecay(cfg.learning_rate, s.decay_steps, alpha=s.alpha)


def _common(cfg) -> dict:
    out = {"learning_rate": _lr(cfg)}
    if cfg.clipnorm:
        out["clipnorm"] = cfg.clipnorm
    return out


@OPTIMIZERS.register("sgd")
def sgd(cfg):
    import keras

    return keras.optimizers.SGD(momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay, **_common(cfg))


@OPTIMIZERS.register("adam")
def adam(cfg):
    import keras

    return keras.optimizers.Adam(weight_decay=cfg.weight_decay, **_common(cfg))


@OPTIMIZERS.register("adamw")
def adamw(cfg):
    import keras

    wd = 0.004 if cfg.weight_decay is None else cfg.weight_decay
    return keras.optimizers.AdamW(weight_decay=wd, **_common(cfg))


@OPTIMIZERS.register("rmsprop")
def rmsprop(cfg):
    import keras

    return keras.optimizers.RMSprop(momentum=cfg.momentum, weight_decay=cfg.weight_decay, **_common(cfg))


@OPTIMIZERS.register("adagrad")
def adagrad(cfg):
    import keras

    return keras.optimizers.Adagrad(weight_decay=cfg.weight_decay, **_common(cfg))


def build_optimizer(cfg):
    """The Keras optimizer for an OptimizerConfig."""
    return OPTIMIZERS.get(cfg.type, "training.optimizer.type")(cfg)
