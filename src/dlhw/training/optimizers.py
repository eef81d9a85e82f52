"""Optimizer registry: ``training.optimizer.type`` -> a Keras optimizer, with schedules."""

from __future__ import annotations

from dlhw.registry import Registry

OPTIMIZERS: Registry = Registry("training.optimizer.type")


def _lr(cfg):
    """A float or a LearningRateSchedule (exponential / cosine); plateau and step are callbacks."""
    import keras

    s = cfg.schedule
    if s is None or s.type in ("reduce_on_plateau", "step"):  # callbacks set the rate each epoch
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


def step_decay(schedule, learning_rate: float, stage_start: int):
    """``schedule.type: step`` (PyTorch's StepLR): a callback that sets the rate to
    ``learning_rate * gamma ** ((epoch - stage_start) // step_size)`` at the start of every
    epoch. Epochs count from the stage's first one (each stage has its own optimizer); the
    rate is a function of the epoch number alone, so a resumed run gets the same rates."""
    import keras

    class StepDecay(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            steps = max(0, int(epoch) - stage_start) // schedule.step_size
            self.model.optimizer.learning_rate.assign(learning_rate * schedule.gamma ** steps)

    return StepDecay()
