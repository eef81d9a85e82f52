"""``source: keras``: keras.datasets sets, downloaded once into the Keras cache (one bounded
attempt; offline, the message names the file and the folder to put it in)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.data.dataset import Dataset, Split, split_arrays, subsample
from dlhw.data.sources.base import SOURCES, Count, Shape, Source
from dlhw.errors import ConfigError, DataError, did_you_mean

KERAS_SETS = ("cifar10", "cifar100", "fashion_mnist", "imdb", "mnist", "reuters")
KERAS_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3), "cifar100": (32, 32, 3)}
KERAS_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "reuters": 46, "imdb": 2}
# What the Keras cache holds once a set is there (a file, or the folder an archive unpacks to).
# (Keras 3 unpacks cifar into <name>-target/; older releases into <name>/.)
KERAS_PRESENT = {"mnist": ("mnist.npz",), "fashion_mnist": ("fashion-mnist",),
                 "cifar10": ("cifar-10-batches-py-target", "cifar-10-batches-py"),
                 "cifar100": ("cifar-100-python-target", "cifar-100-python"),
                 "reuters": ("reuters.npz",), "imdb": ("imdb.npz",)}
_KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_ORIGINS = {"mnist": _KERAS_BASE + "mnist.npz", "fashion_mnist": _KERAS_BASE + "fashion-mnist/",
                 "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                 "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "reuters": _KERAS_BASE + "reuters.npz", "imdb": _KERAS_BASE + "imdb.npz"}
PROBE_TIMEOUT = 5.0  # seconds to reach a download host before a set counts as unreachable


KERAS_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist/ (train-images-idx3-ubyte.gz and 3 more)",
    "cifar10": "cifar-10-batches-py/ (from cifar-10-python.tar.gz)",
    "cifar100": "cifar-100-python/ (from cifar-100-python.tar.gz)",
    "reuters": "reuters.npz",
    "imdb": "imdb.npz",
}
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DOWNLOAD_TIMEOUT = 30  # seconds a stalled download waits before it fails (Keras itself tries once, with no limit)


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> Optional[str]:
    """None when the host of ``url`` accepts a connection now, else why not."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "", parts.port or 443), timeout=timeout).close()
    except OSError as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded datasets (KERAS_HOME or ~/.keras)."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets"


def keras_download_target(fname, origin: str, cache_dir: str | None = None, cache_subdir: str = "datasets",
                          extract: bool = False, untar: bool = False, **_: Any) -> Path:
    """The file keras.utils.get_file reads from its cache, or saves a download to (Keras 3's rule)."""
    from urllib.parse import urlsplit

    fname = str(fname or os.path.basename(urlsplit(origin).path))
    if (extract or untar) and "." not in fname:
        fname = f"{fname}_archive"  # an archive is kept under <name>_archive and unpacked into <name>/
    return Path(cache_dir or keras_cache_dir().parent) / cache_subdir / fname


def _reason(exc: BaseException) -> str:
    """Why a Keras download failed, whole: the URL error's reason without the URL Keras repeats."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "URL fetch failure" in text and " -- " in text:
        text = text.split(" -- ", 1)[1]
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " ..."


def _load_keras_arrays(cfg, module):
    """module.load_data() with one bounded download attempt; a failure names the file Keras wanted."""
    import socket
    import sys

    source = sys.modules.get(getattr(module.load_data, "__module__", ""), None)
    original = getattr(source, "get_file", None)
    wanted: List[Dict[str, Any]] = []

    def recording_get_file(fname=None, origin=None, **kwargs):
        kwargs.setdefault("cache_dir", str(keras_cache_dir().parent))  # $KERAS_HOME as it is now
        wanted.append({"fname": fname, "origin": origin, **kwargs})
        return original(fname, origin=origin, **kwargs)

    timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # urlretrieve has no timeout of its own
    if original is not None:
        source.get_file = recording_get_file
    try:
        if cfg.name in ("reuters", "imdb"):
            return module.load_data(num_words=cfg.num_words)
        return module.load_data()
    except Exception as exc:
        if not wanted:
            raise DataError(f"dataset.name: could not load keras dataset '{cfg.name}' ({type(exc).__name__}: "
                            f"{_reason(exc)}); {SOURCE.offline(cfg)}") from None
        last = wanted[-1]
        target = keras_download_target(**last)
        if "URL fetch failure" not in str(exc) and not isinstance(exc, (TimeoutError, ConnectionError)):
            raise DataError(f"dataset.name: keras dataset '{cfg.name}': cannot read {target} ({type(exc).__name__}: "
                            f"{_reason(exc)}); delete it and Keras downloads it again") from None
        left = 4 - len(wanted) if cfg.name == "fashion_mnist" else 0  # four files, fetched one by one
        more = f" (and the {left} other .gz files fashion_mnist needs, from the same address)" if left > 0 else ""
        raise DataError(f"dataset.name: keras dataset '{cfg.name}' is not in the Keras cache and could not be "
                        f"downloaded ({_reason(exc)}); offline, fetch {last['origin']} on a machine with "
                        f"internet and save it as {target}{more}, see data/README.md") from None
    finally:
        socket.setdefaulttimeout(timeout)
        if original is not None:
            source.get_file = original


def multi_hot(sequences, num_words: int) -> np.ndarray:
    out = np.zeros((len(sequences), num_words), dtype=np.float32)
    for i, seq in enumerate(sequences):
        idx = np.asarray(seq, dtype=np.int64)
        out[i, idx[idx < num_words]] = 1.0
    return out


def load_keras(cfg, task: str, seed: int) -> Dataset:
    if cfg.name not in KERAS_SETS:
        raise ConfigError(
            f"dataset.name: unknown keras dataset '{cfg.name}'{did_you_mean(cfg.name, KERAS_SETS)}; "
            f"choose one of: {', '.join(KERAS_SETS)}"
        )
    from dlhw.data.folds import refuse_folds

    refuse_folds(cfg, f"keras dataset '{cfg.name}' keeps its official test set")
    import keras

    (xtr, ytr), (xte, yte) = _load_keras_arrays(cfg, getattr(keras.datasets, cfg.name))
    if cfg.name in ("reuters", "imdb"):
        xtr, xte = multi_hot(xtr, cfg.num_words), multi_hot(xte, cfg.num_words)
    else:
        xtr = xtr.astype(np.float32) / 255.0
        xte = xte.astype(np.float32) / 255.0
        if xtr.ndim == 3:
            xtr, xte = xtr[..., None], xte[..., None]
    ytr, yte = np.asarray(ytr).ravel().astype(np.int64), np.asarray(yte).ravel().astype(np.int64)
    n = int(max(ytr.max(), yte.max())) + 1
    names = {"fashion_mnist": FASHION, "cifar10": CIFAR10, "imdb": ["negative", "positive"]}.get(
        cfg.name, [str(i) for i in range(n)]
    )
    stratify = True
    train_whole = Split(y=ytr, x=xtr)
    if cfg.max_samples:
        train_whole = subsample(train_whole, cfg.max_samples, seed, stratify)
        test_n = max(1, int(round(cfg.max_samples * cfg.split.test / max(cfg.split.train + cfg.split.val, 1e-9))))
        test = subsample(Split(y=yte, x=xte), test_n, seed, stratify)
    else:
        test = Split(y=yte, x=xte)
    # The official test set stays the test set; validation comes out of the training set.
    val_frac = cfg.split.val / max(cfg.split.train + cfg.split.val, 1e-9)
    parts = split_arrays(train_whole, {"train": 1 - val_frac, "val": val_frac, "test": 0.0}, seed, stratify)
    splits = {"train": parts["train"], "val": parts["val"], "test": test}
    meta = {"source": "keras", "name": cfg.name, "split_note": "test is the dataset's official test set"}
    whole = Split(y=np.concatenate([train_whole.y, test.y]), x=train_whole.x[:1])
    from dlhw.data.sources.arrays import build

    return build(splits, names, cfg, task, meta, False, whole)


class KerasSource(Source):
    name = "keras"

    def load(self, cfg, task: str, seed: int) -> Dataset:
        return load_keras(cfg, task, seed)

    def present(self, dcfg) -> bool:
        """Whether the set is in the Keras cache already (no TensorFlow imported)."""
        return any((keras_cache_dir() / f).exists() for f in KERAS_PRESENT.get(dcfg.name, ()))

    def fetch_problem(self, dcfg) -> Optional[str]:
        """Why the set cannot be had now: not in the Keras cache and its download host out of reach."""
        if not dcfg.name or self.present(dcfg):
            return None
        why = reachable(KERAS_ORIGINS.get(dcfg.name, ""))
        if why is None:
            return None  # Keras downloads it when the run starts
        return (f"dataset.name: keras dataset '{dcfg.name}' is not in the Keras cache and could not be downloaded "
                f"({why}); offline, {self.offline(dcfg)}")

    def offline(self, dcfg) -> str:
        wanted = KERAS_FILES.get(dcfg.name, f"the files of '{dcfg.name}'")
        return f"place {wanted} in {keras_cache_dir()} (see data/README.md)"

    def config_shape(self, dcfg) -> Optional[Shape]:
        if dcfg.name in ("reuters", "imdb"):
            return (dcfg.num_words,), "dataset.num_words"
        if dcfg.name in KERAS_SHAPES:
            return KERAS_SHAPES[dcfg.name], f"the known shape of keras {dcfg.name}"
        return None

    def output_count(self, cfg) -> Optional[Count]:
        d = cfg.dataset
        if cfg.task == "classification" and d.name in KERAS_CLASSES:
            return KERAS_CLASSES[d.name], f"the known classes of keras {d.name}", "nothing"
        return None

    def describe(self, dataset) -> Dict[str, Any]:
        shape = [int(v) for v in dataset.input_shape]
        if len(shape) == 3:  # image arrays (mnist, cifar...): scaled to 0..1 by the loader
            return {"image_size": shape[:2], "channels": shape[2], "pixel_scale": 1 / 255.0}
        return {}

    def preview(self, dataset) -> List[str]:
        note = dataset.meta.get("split_note")
        return [note] if note else []


SOURCE = SOURCES.register("keras", KerasSource())
