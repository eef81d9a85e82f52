"""Which devices a run uses: ``--device auto | cpu | gpu | gpu:N`` and GPU memory growth.

``gpu:1`` (or ``gpu:0,2`` for ``training.distribute: mirrored`` over a subset) picks
GPUs by their index among those TensorFlow sees (after CUDA_VISIBLE_DEVICES); the
others are hidden from the run. A GPU that does not exist is refused (exit 2) with
the devices that do. Memory growth is on for every visible GPU unless
TF_FORCE_GPU_ALLOW_GROWTH says otherwise (TensorFlow's own switch), so two sweep
workers asked to share a GPU can. Everything here happens before TensorFlow starts
its runtime; a process that already started it keeps its devices (a second run
asking for others is refused with one line).

The syntax check (:func:`parse_device`) imports nothing heavy: the CLI runs it first.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from dlhw.errors import ConfigError, shorten

CHOICES = "auto, cpu or gpu (gpu:N: one GPU by index, e.g. gpu:1; gpu:0,1 for several)"


def parse_device(device: str) -> Tuple[str, Optional[List[int]]]:
    """('auto' | 'cpu' | 'gpu', GPU indices or None) for a --device value; ConfigError otherwise."""
    text = str(device).strip().lower()
    if text in ("auto", "cpu", "gpu"):
        return text, None
    if text.startswith("gpu:"):
        parts = [p.strip() for p in text[4:].split(",")]
        if parts and all(p.isdigit() and len(p) <= 4 for p in parts):
            indices = [int(p) for p in parts]
            if len(set(indices)) == len(indices):
                return "gpu", indices
    raise ConfigError(f"--device: expected {CHOICES}; received {shorten(device)}")


def _describe(tf, kind: str) -> str:
    """'gpu:0 (NVIDIA H100), gpu:1 (...)' or 'none' for the physical devices of ``kind``."""
    out = []
    for i, d in enumerate(tf.config.list_physical_devices(kind.upper())):
        name = gpu_name(tf, d) if kind == "gpu" else None
        out.append(f"{kind}:{i}" + (f" ({name})" if name else ""))
    return ", ".join(out) or "none"


def gpu_name(tf, device) -> Optional[str]:
    """A physical GPU's model name (e.g. 'NVIDIA A100-SXM4-40GB'), when TensorFlow knows it."""
    try:
        return tf.config.experimental.get_device_details(device).get("device_name")
    except Exception:  # noqa: BLE001 - details are informative only
        return None


def select_devices(tf, device: str) -> str:
    """Apply --device to a freshly imported TensorFlow: hide unselected GPUs, memory growth on.
    Returns 'gpu' or 'cpu' (what the run uses)."""
    kind, indices = parse_device(device)
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "gpu" and not gpus:
        raise ConfigError(f"--device {device}: TensorFlow sees no GPU on this machine (visible: "
                          f"{_describe(tf, 'cpu')}); use --device auto or cpu")
    if indices is not None:
        missing = [i for i in indices if i >= len(gpus)]
        if missing:
            raise ConfigError(f"--device {device}: there is no gpu:{missing[0]}; visible GPUs: "
                              f"{_describe(tf, 'gpu')}")
        wanted = [gpus[i] for i in indices]
        try:
            tf.config.set_visible_devices(wanted, "GPU")
        except RuntimeError:  # TensorFlow already started in this process (an earlier run)
            if [d.name for d in tf.config.get_visible_devices("GPU")] != [d.name for d in wanted]:
                raise ConfigError(f"--device {device}: this process already started TensorFlow on "
                                  f"{[d.name for d in tf.config.get_visible_devices('GPU')]}; "
                                  f"run it in a new process") from None
        gpus = wanted
    elif kind != "cpu":
        gpus = tf.config.get_visible_devices("GPU")
    if os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH") is None:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except (RuntimeError, ValueError):  # already started, or a virtual-device setup
                pass
    return "gpu" if gpus and kind != "cpu" else "cpu"


def device_record(tf) -> Dict[str, Any]:
    """What env.json records about the devices: logical devices, and each visible GPU's name."""
    visible = tf.config.get_visible_devices("GPU")
    return {
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "gpu_names": [gpu_name(tf, d) or d.name for d in visible],
        "memory_growth": [bool(tf.config.experimental.get_memory_growth(d)) for d in visible],
    }
