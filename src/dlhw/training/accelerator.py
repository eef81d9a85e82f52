"""GPU options of a run: ``training.precision``, ``training.jit_compile``, ``training.distribute``.

One :class:`Accelerator` per run, entered once TensorFlow picked the devices
(:func:`dlhw.runtime.tfruntime.setup_runtime`) and before the model is built:

- precision: the Keras dtype policy (``mixed_float16``, ``mixed_bfloat16``) is set
  for the run and the previous one restored after it, so the next run of a sweep
  worker or a notebook starts from its own. Variables stay float32; the output
  layer is built with ``dtype="float32"`` (dlhw.models) so the loss and the
  probabilities are float32. Under ``mixed_float16`` Keras wraps the optimizer in a
  ``LossScaleOptimizer`` at compile time (dynamic loss scaling); its scale and
  counter are optimizer variables, so checkpoints carry them.
- distribute: ``mirrored`` builds, compiles and trains inside a
  ``tf.distribute.MirroredStrategy`` over the visible GPUs (logical CPUs when a
  process made several and has no GPU: the tests); each batch is split over the
  replicas and the gradients summed, so with ``batch_size_per: global`` (default)
  the curves are one device's within float tolerance. ``replica`` makes the
  global batch ``batch_size x replicas``. env.json states which.
- jit_compile: ``auto`` is XLA on a GPU when every layer supports it and the run
  is not distributed (Keras' own rule, minus its determinism exception); ``true``
  turns it on wherever the layers allow it, ``false`` off. An XLA run turns
  TensorFlow's op determinism off (Keras refuses XLA under it: some XLA ops, e.g.
  max-pool gradients on a GPU, have no deterministic kernel); env.json's
  ``deterministic`` says so. Every other run stays deterministic.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from dlhw.runtime.log import get_logger

log = get_logger(__name__)

POLICIES = {"float32": "float32", "mixed_float16": "mixed_float16", "mixed_bfloat16": "mixed_bfloat16"}


def distributed() -> bool:
    """True inside a tf.distribute strategy's scope (``training.distribute: mirrored``)."""
    import tensorflow as tf

    return tf.distribute.has_strategy()


def layers_support_jit(model) -> bool:
    from dlhw.runtime.keras_internals import flat_layers

    return all(getattr(layer, "supports_jit", True) for layer in flat_layers(model))


def jit_setting(setting: Any, model) -> bool:
    """The resolved ``training.jit_compile`` for ``model``: false; true when every layer is
    XLA-capable; auto: that, on a GPU, not distributed."""
    if setting is False:
        return False
    if setting != "auto":
        return layers_support_jit(model)
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU") or distributed():
        return False
    return layers_support_jit(model)


def _replica_devices(tf) -> List[str]:
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


class Accelerator:
    """The precision policy and distribution strategy of one run (a context manager)."""

    def __init__(self, training, used: str):
        self.t = training
        self.used = used
        self.strategy = None
        self.jit: Optional[bool] = None
        self.deterministic = True
        self._before = None
        self._scope = None

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync) if self.strategy is not None else 1

    def __enter__(self) -> "Accelerator":
        import keras
        import tensorflow as tf

        self._before = keras.config.dtype_policy()
        keras.config.set_dtype_policy(POLICIES[self.t.precision])
        if self.t.distribute == "mirrored":
            devices = _replica_devices(tf)
            if len(devices) < 2:
                log.warning(f"training.distribute: mirrored: one device visible ({devices[0]}); training on one replica")
            self.strategy = tf.distribute.MirroredStrategy(devices=devices)
            self._scope = self.strategy.scope()
            self._scope.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        import keras

        try:
            if self._scope is not None:
                self._scope.__exit__(*exc)
                self._scope = None
        finally:
            keras.config.set_dtype_policy(self._before)

    def global_batch(self, cfg, run_cfg):
        """``run_cfg`` with batch_size the global batch: x replicas for ``batch_size_per: replica``
        (not for ``batch_size: full``, the whole split already)."""
        t = run_cfg.training
        if self.replicas == 1 or t.batch_size_per != "replica" or cfg.training.batch_size == "full":
            return run_cfg
        out = run_cfg.model_copy(deep=True) if run_cfg is cfg else run_cfg
        out.training.batch_size = int(t.batch_size) * self.replicas
        return out

    def resolve(self, model, run_cfg) -> Dict[str, Any]:
        """Resolve XLA for the built model (an XLA run on a GPU turns op determinism off) and
        return what env.json records: precision, XLA, replicas, batch sizes, device names."""
        import tensorflow as tf

        from dlhw.runtime.devices import device_record

        self.jit = jit_setting(self.t.jit_compile, model)
        if self.t.jit_compile is True and not self.jit:
            log.warning("training.jit_compile: true, but a layer of this model does not support XLA; compiled without it")
        if self.jit:  # Keras refuses XLA under op determinism (not every XLA op has a deterministic kernel)
            from tensorflow.python.framework import config as tf_config

            tf_config.disable_op_determinism()  # setup_runtime turns it on again for the next run
            self.deterministic = False
        policy = POLICIES[self.t.precision]
        batch = int(run_cfg.training.batch_size)
        return {
            "precision": self.t.precision,
            "compute_dtype": model.dtype_policy.compute_dtype,
            "variable_dtype": model.dtype_policy.variable_dtype,
            "loss_scaling": "dynamic (keras LossScaleOptimizer)" if policy == "mixed_float16" else None,
            "xla": {"jit_compile": self.t.jit_compile, "used": self.jit},
            "deterministic": self.deterministic,
            "distribute": self.t.distribute,
            "replicas": self.replicas,
            "replica_devices": list(self.strategy.extended.worker_devices) if self.strategy is not None
            else [d.name for d in tf.config.list_logical_devices("GPU" if self.used == "gpu" else "CPU")][:1],
            "batch_size": {"per": self.t.batch_size_per, "global": batch,
                           "per_replica": batch / self.replicas if batch % self.replicas else batch // self.replicas},
            **device_record(tf),
        }
