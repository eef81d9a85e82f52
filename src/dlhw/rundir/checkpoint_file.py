"""The resume checkpoint file, ``checkpoints/last.ckpt.npz``: where it is, its arrays, and
reading it back (one ``.npz``: a JSON ``state`` and the weight, optimizer and callback
arrays). What goes into it, and when, is training's business (dlhw.training.checkpoint);
``dlhw run --resume`` reads it here before TensorFlow is imported (dlhw.rundir.resume).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from dlhw.errors import ConfigError
from dlhw.rundir import layout

FORMAT = 1


def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / layout.CHECKPOINTS / layout.CHECKPOINT


def checkpoint_arrays(state: Dict[str, Any], weights: List[np.ndarray], optimizer: List[np.ndarray],
                      extra: Dict[str, List[np.ndarray]]) -> Dict[str, np.ndarray]:
    arrays: Dict[str, np.ndarray] = {"state": np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)}
    arrays.update({f"w{i:05d}": np.asarray(a) for i, a in enumerate(weights)})
    arrays.update({f"o{i:05d}": np.asarray(a) for i, a in enumerate(optimizer)})
    for key, values in extra.items():
        arrays.update({f"x{key}/{i:05d}": np.asarray(a) for i, a in enumerate(values)})
    return arrays


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """The checkpoint's state dict, with 'weights', 'optimizer' and 'extra' arrays added."""
    try:
        with np.load(path, allow_pickle=False) as z:
            state = json.loads(bytes(z["state"]).decode())
            weights = [z[k] for k in sorted(k for k in z.files if k.startswith("w"))]
            opt = [z[k] for k in sorted(k for k in z.files if k.startswith("o"))]
            extra: Dict[str, List[np.ndarray]] = {}
            for k in sorted(k for k in z.files if k.startswith("x")):
                extra.setdefault(k[1:].rsplit("/", 1)[0], []).append(z[k])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); "
                          f"start a new run instead of --resume") from None
    if state.get("format") != FORMAT:
        raise ConfigError(f"{path}: checkpoint format {state.get('format')} is not supported (expected {FORMAT})")
    state.update(weights=weights, optimizer=opt, extra=extra)
    return state
