"""Check everything before writing anything: every trial a sweep can produce gets its data.

The configs themselves are validated where they are made (each trial of a plan by
``build_plan``; a search's base, each category and both extremes of each range by
``build_search``). Here each distinct dataset section among them is checked as ``dlhw validate``
checks it (the CSV file, the image folder and its class folders exist), and a Keras dataset is in
the Keras cache or can be downloaded now. The first problem stops the sweep before its folder is
made: one line naming the trial, exit 2. No TensorFlow is imported.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

from dlhw.errors import DataError, DlhwError

PROBE_TIMEOUT = 5.0  # seconds to reach a download host before a dataset counts as unreachable
_KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FASHION = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz")
# keras.datasets.<name>: (what its load_data reads from the Keras cache, relative to it; where it downloads from)
KERAS_CACHE: Dict[str, Tuple[List[str], str]] = {
    "mnist": (["mnist.npz"], _KERAS_BASE + "mnist.npz"),
    "fashion_mnist": ([f"fashion-mnist/{f}" for f in _FASHION], _KERAS_BASE + "fashion-mnist/"),
    "cifar10": (["cifar-10-batches-py-target"], "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": (["cifar-100-python-target"], "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    "reuters": (["reuters.npz"], _KERAS_BASE + "reuters.npz"),
    "imdb": (["imdb.npz"], _KERAS_BASE + "imdb.npz"),
}


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> Optional[str]:
    """None when the host of ``url`` accepts a connection now, else why not."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "", parts.port or 443), timeout=timeout).close()
    except OSError as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def keras_problem(name: str) -> Optional[str]:
    """Why keras dataset ``name`` cannot be had now (not cached, and its host out of reach), or None."""
    from dlhw.data.sources import keras_cache_dir

    files, origin = KERAS_CACHE.get(name, ([], ""))
    cache = keras_cache_dir()
    missing = [f for f in files if not (cache / f).exists()]
    if not missing:
        return None
    why = reachable(origin)
    if why is None:
        return None  # Keras downloads it when the trial starts
    return (f"dataset.name: keras dataset '{name}' is not in the Keras cache ({cache / missing[0]} is missing) "
            f"and could not be downloaded ({why}); offline, fetch {origin} on a machine with internet and save it "
            f"in {cache}, see data/README.md")


def data_problem(cfg: Any, label: str) -> Optional[str]:
    """Why ``cfg``'s data cannot be had (as ``dlhw validate`` checks paths, plus the Keras cache), or None."""
    from dlhw.data.paths import check_data_paths

    try:
        check_data_paths(cfg.dataset, label)
    except DlhwError as exc:
        return str(exc)
    if cfg.dataset.source == "keras" and cfg.dataset.name:
        why = keras_problem(str(cfg.dataset.name))
        return f"{label}: {why}" if why else None
    return None


def check_trials(configs: Iterable[Tuple[str, Any]], source: str) -> None:
    """DataError (exit 2) for the first trial whose data cannot be had; each dataset section once."""
    seen: Dict[str, Optional[str]] = {}
    total = bad = 0
    first: Optional[str] = None
    for label, cfg in configs:
        total += 1
        key = json.dumps(cfg.dataset.model_dump(), sort_keys=True, default=str)
        if key not in seen:
            seen[key] = data_problem(cfg, label)
        if seen[key] is not None:
            bad += 1
            first = first or seen[key]
    if first is not None:
        what = "" if total == 1 else f"{bad} of {total} trial configs cannot get their data (nothing written): "
        raise DataError(f"{what}{first}")
