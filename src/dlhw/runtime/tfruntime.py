"""Importing and configuring TensorFlow: quiet start, device choice, threads, seeds."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Optional


def import_tensorflow(debug: bool = False):
    """Import TensorFlow with its C++ start-up chatter hidden (shown again if the import fails)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if debug else "3")
    if debug:
        import tensorflow as tf

        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tf


def setup_runtime(device: str = "auto", seed: int = 0, threads: Optional[int] = None, debug: bool = False) -> str:
    """Pick the device (auto, cpu, gpu, gpu:N), limit TensorFlow's CPU threads to ``threads`` (None:
    as TensorFlow chooses), seed everything; returns 'gpu' or 'cpu'."""
    from dlhw.runtime.devices import parse_device

    parse_device(device)
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    tf = import_tensorflow(debug)
    if not debug:  # "N out of the last M calls ... triggered tf.function retracing": every trial of a
        # sweep builds a new model, so its functions are traced anew by design; --debug shows them
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
        except RuntimeError:  # already initialised in this process
            pass
    from dlhw.runtime.devices import select_devices

    used = select_devices(tf, device)  # --device gpu:N, memory growth (dlhw.runtime.devices)
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return used
