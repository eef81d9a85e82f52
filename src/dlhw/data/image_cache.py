"""Decoded images: each image file is decoded and resized once per run, not once per epoch.

An image folder used for training goes through ``decode_image`` (the decoder and
bilinear resize every path uses, rounded to whole 0..255 values) once; the uint8
result is kept

- in memory while all such arrays of the process fit in the memory budget
  (``$DLHW_CACHE_MEMORY``: ``2GB``, ``512MB``, ``25%`` of RAM or ``0``; default
  the smaller of 2 GiB and 10% of RAM), or
- on disk under the cache folder (``<cache>/images/``: the same folder as the
  feature cache, keyed the same way: the files, their sizes and modification
  times, the image size and channels), read back row by row with ``pread`` so
  peak memory does not grow with the dataset. Each row carries a CRC32: a damaged
  entry is detected, re-decoded from its file, repaired and warned about.

Training batches are gathered from the store in the (seed, epoch) order of
:mod:`dlhw.training.epoch_data`; augmentation layers live in the model, so they
run after the cache, on every epoch's batches. ``cache: off`` decodes every epoch
as before; a cache folder that cannot be written costs one warning and the run
goes on decoding every epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from dlhw.runtime.log import get_logger

log = get_logger(__name__)

FORMAT = 1


class Held:
    """What this process holds (dlhw.runtime.memo keeps it between runs): the stores, and the
    settings of the run now going on."""

    def __init__(self) -> None:
        self.stores: "OrderedDict[str, object]" = OrderedDict()  # key -> MemoryStore | DiskStore, oldest first
        self.enabled, self.cache_dir, self.run = True, None, 0


def _held() -> Held:
    from dlhw.runtime.memo import held

    return held("decoded_images", Held)


def stores() -> list:
    """The stores this process holds, oldest first."""
    return list(_held().stores.values())


def configure(enabled: bool = True, cache_dir: Optional[Path] = None) -> None:
    """Set by each run (``cache: auto|off``, ``--cache-dir``). Stores of earlier runs of this
    process (a sweep worker) stay while the budget allows: the next trial reuses them; only
    they are ever evicted, never a store the current run is reading."""
    now = _held()
    now.enabled = bool(enabled)
    now.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
    now.run += 1


def clear() -> None:
    held = _held().stores
    for store in held.values():
        store.close()
    held.clear()


def share_memory(workers: int) -> None:
    """This process is one of ``workers`` sweep workers: its default budget is 1/workers of the
    machine's ($DLHW_CACHE_MEMORY, when set, is each worker's own)."""
    from dlhw.runtime.memo import held

    held("image_memory_share", dict)["workers"] = max(1, int(workers))


def memory_budget() -> int:
    """Bytes of decoded images kept in memory ($DLHW_CACHE_MEMORY; see the module doc)."""
    from dlhw.runtime.memo import held

    total = _physical_memory()
    raw = os.environ.get("DLHW_CACHE_MEMORY", "").strip().lower()
    if not raw:
        return int(min(2 * 1024 ** 3, 0.10 * total)) // held("image_memory_share", dict).get("workers", 1)
    units = {"kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "b": 1}
    try:
        if raw.endswith("%"):
            return int(float(raw[:-1]) / 100 * total)
        for suffix, mult in units.items():
            if raw.endswith(suffix):
                return int(float(raw[: -len(suffix)]) * mult)
        return int(float(raw))
    except ValueError:
        from dlhw.errors import ConfigError

        raise ConfigError(f"DLHW_CACHE_MEMORY: expected a size such as 2GB, 512MB or 25%; received '{raw[:40]}'") from None


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 1024 ** 3


def store_key(files: Sequence[str], image_size, channels: int) -> str:
    h = hashlib.sha256(json.dumps({"format": FORMAT, "size": [int(v) for v in image_size],
                                   "channels": int(channels)}).encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.abspath(f)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


# ------------------------------------------------------------------ stores
class MemoryStore:
    kind = "memory"

    def __init__(self, array: np.ndarray):
        self.array = array
        self.nbytes = array.nbytes

    def take(self, idx: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(idx, dtype=np.int64)]

    def close(self) -> None:
        self.array = None


class DiskStore:
    """Rows of H*W*C uint8 in one file, read with pread (no memory map: nothing stays resident)."""

    kind = "disk"
    nbytes = 0  # in memory

    def __init__(self, path: Path, shape: tuple, crc: np.ndarray, files: Sequence[str], image_size, channels: int):
        self.path, self.shape, self.crc = path, tuple(shape), crc
        self.row = int(np.prod(shape))
        self.files, self.image_size, self.channels = list(files), image_size, channels
        self.fd = os.open(path, (os.O_RDWR if os.access(path, os.W_OK) else os.O_RDONLY)
                          | getattr(os, "O_NOFOLLOW", 0))  # repairs never write through a link

    def take(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx),) + self.shape, dtype=np.uint8)
        for j, i in enumerate(np.asarray(idx, dtype=np.int64)):
            data = os.pread(self.fd, self.row, int(i) * self.row)
            if len(data) != self.row or zlib.crc32(data) != int(self.crc[i]):
                data = self._repair(int(i))
            out[j] = np.frombuffer(data, dtype=np.uint8).reshape(self.shape)
        return out

    def _repair(self, i: int) -> bytes:
        log.warning(f"image cache: damaged entry for {self.files[i]} in {self.path} (checksum mismatch); re-decoded it")
        row = _decode_files([self.files[i]], self.image_size, self.channels)[0].tobytes()
        try:
            os.pwrite(self.fd, row, i * self.row)
        except OSError:
            pass
        return row

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


# ------------------------------------------------------------------ decoding
def decode_image(path, image_size: Tuple[int, int], channels: int):
    """A float32 HxWxC tensor of whole values in 0..255 from an image file path tensor.

    Resized bilinearly, then rounded: exactly what the stores here hold as uint8, so
    cached and uncached inputs are the same (every path decodes with it)."""
    import tensorflow as tf

    raw = tf.io.read_file(path)
    img = tf.io.decode_image(raw, channels=channels, expand_animations=False)
    img = tf.clip_by_value(tf.round(tf.image.resize(img, image_size)), 0.0, 255.0)
    img.set_shape((image_size[0], image_size[1], channels))
    return img


def _decode_batches(files: Sequence[str], image_size, channels: int, batch: int = 64):
    """uint8 (B, H, W, C) batches of ``files`` in order, decoded in parallel by tf.data."""
    import tensorflow as tf

    size = tuple(int(v) for v in image_size)
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(files), dtype=tf.string))
    ds = ds.map(lambda p: tf.cast(decode_image(p, size, channels), tf.uint8),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    done = 0
    try:
        for b in ds.batch(batch).prefetch(2):
            arr = b.numpy()
            yield arr
            done += len(arr)
    except tf.errors.OpError as exc:
        from dlhw.errors import DataError

        bad = _first_undecodable(files[done:done + batch], size, channels)
        raise DataError(f"{bad or files[done]}: TensorFlow cannot decode this image "
                        f"({type(exc).__name__}); remove or replace the file") from None


def _first_undecodable(files: Sequence[str], size, channels: int) -> Optional[str]:
    import tensorflow as tf

    for f in files:
        try:
            decode_image(tf.constant(f), size, channels)
        except tf.errors.OpError:
            return f
    return None


def _decode_files(files: Sequence[str], image_size, channels: int) -> np.ndarray:
    return np.concatenate(list(_decode_batches(files, image_size, channels)))


def _make_room(nbytes: int, budget: int) -> bool:
    """Evict the oldest in-memory stores until ``nbytes`` more fit in the budget."""
    if nbytes > budget:
        return False
    now = _held()
    while sum(s.nbytes for s in now.stores.values()) + nbytes > budget:
        oldest = next((k for k, s in now.stores.items() if s.kind == "memory" and s.run != now.run), None)
        if oldest is None:
            return False
        now.stores.pop(oldest).close()
    return True


def store_for(files: List[str], image_size, channels: int):
    """The decoded images of ``files`` (a MemoryStore or DiskStore), or None: cache off, or
    no memory budget left and no writable cache folder (decode every epoch)."""
    now = _held()
    if not now.enabled or not files:
        return None
    h, w = (int(v) for v in image_size)
    key = store_key(files, (h, w), channels)
    if key in now.stores:
        now.stores.move_to_end(key)
        now.stores[key].run = now.run  # in use by this run: never evicted while it lasts
        return now.stores[key]
    nbytes = len(files) * h * w * channels
    if _make_room(nbytes, memory_budget()):
        import time

        start = time.perf_counter()
        array = np.empty((len(files), h, w, channels), dtype=np.uint8)
        at = 0
        for b in _decode_batches(files, (h, w), channels):
            array[at:at + len(b)] = b
            at += len(b)
        store = MemoryStore(array)
        log.info(f"decoded {len(files)} images once ({nbytes / 2 ** 20:.0f} MB in memory) "
                 f"in {time.perf_counter() - start:.1f}s")
    else:
        store = _disk_store(key, files, (h, w), channels)
        if store is None:
            return None
    store.run = now.run
    now.stores[key] = store
    return store


def default_cache_dir() -> Path:
    """The cache folder of both caches: $DLHW_CACHE_DIR, else $XDG_CACHE_HOME/dlhw or ~/.cache/dlhw."""
    if os.environ.get("DLHW_CACHE_DIR"):
        return Path(os.environ["DLHW_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "dlhw"


def _cache_root() -> Path:
    return _held().cache_dir or default_cache_dir()


def _disk_store(key: str, files: List[str], image_size, channels: int) -> Optional[DiskStore]:
    import time

    folder = _cache_root() / "images" / key[:2]
    path, meta_path = folder / f"{key}.u8", folder / f"{key}.json"
    shape = (image_size[0], image_size[1], channels)
    meta = _read_meta(meta_path, len(files), shape)
    if meta is not None and path.exists() and path.stat().st_size == len(files) * int(np.prod(shape)):
        log.info(f"decoded images of {len(files)} files read from the disk cache ({path})")
        return DiskStore(path, shape, np.asarray(meta["crc"], dtype=np.uint32), files, image_size, channels)
    from dlhw.errors import WriteError
    from dlhw.runtime.files import replacing, write_json

    start = time.perf_counter()
    try:
        from dlhw.runtime.files import ensure_dir

        ensure_dir(folder)  # never a link planted as the cache folder
        crc = []
        with replacing(path) as tmp, open(tmp, "wb") as fh:
            for b in _decode_batches(files, image_size, channels):
                for row in b:
                    data = row.tobytes()
                    crc.append(zlib.crc32(data))
                    fh.write(data)
        write_json(meta_path, {"format": FORMAT, "samples": len(files), "shape": list(shape),
                               "first": files[0], "crc": crc}, indent=None)
    except (OSError, WriteError) as exc:
        log.warning(f"image cache: cannot write {folder} ({getattr(exc, 'reason', None) or exc.strerror or exc}); "
                    f"images are decoded every epoch")
        return None
    log.info(f"decoded {len(files)} images once into the disk cache ({path}, "
             f"{len(files) * int(np.prod(shape)) / 2 ** 20:.0f} MB) in {time.perf_counter() - start:.1f}s")
    return DiskStore(path, shape, np.asarray(crc, dtype=np.uint32), files, image_size, channels)


def _read_meta(path: Path, n: int, shape: tuple) -> Optional[dict]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (meta.get("format") != FORMAT or meta.get("samples") != n or tuple(meta.get("shape", ())) != tuple(shape)
            or len(meta.get("crc", ())) != n):
        return None
    return meta


# ------------------------------------------------------------------ tf.data
def store_batches(store, index_batches, y=None):
    """A tf.data pipeline of float32 image batches (and labels) gathered from ``store`` for each
    int64 index batch of ``index_batches``."""
    import tensorflow as tf

    shape = (None,) + tuple(store.array.shape[1:] if store.kind == "memory" else store.shape)
    labels = None if y is None else tf.constant(y)

    def gather(idx):
        imgs = tf.numpy_function(store.take, [idx], tf.uint8, stateful=False)
        imgs = tf.cast(tf.ensure_shape(imgs, shape), tf.float32)
        return imgs if labels is None else (imgs, tf.gather(labels, idx))

    return index_batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def tf_images(files: List[str], y: np.ndarray | None, image_size, channels: int, batch_size: int,
              shuffle: bool = False, seed: int = 0, cache: bool = False):
    """A batched, prefetched tf.data pipeline over image files (labels optional).

    ``cache``: read the images decoded once (dlhw.data.image_cache) when the run's cache allows."""
    import tensorflow as tf

    size = tuple(int(v) for v in image_size)
    if cache and not shuffle:
        store = store_for(files, size, channels)
        if store is not None:
            index = tf.data.Dataset.range(len(files)).batch(batch_size)
            return store_batches(store, index, y).prefetch(tf.data.AUTOTUNE)
    paths = tf.constant(list(files), dtype=tf.string)
    ds = tf.data.Dataset.from_tensor_slices(paths if y is None else (paths, y))
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if y is None:
        ds = ds.map(lambda p: decode_image(p, size, channels), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda p, t: (decode_image(p, size, channels), t), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
