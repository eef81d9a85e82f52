"""Backbone features larger than memory: written batch by batch, read back row by row.

The feature pass (training.feature_cache) streams each batch of features into its
cache entry as it is computed: a ``.npy`` file (NumPy's own format, so ``np.load``
reads it) whose header is written first and whose rows are appended shard by
shard, with the CRC32 kept up to date as it goes. No split's whole matrix is ever
held in memory for the write. The entry is written to a temporary name and
renamed when complete (runtime.files); on a write error (a full disk) the partial
files are removed and a one-line WriteError names the cache folder.

Reading: a split whose features fit in the memory budget ($DLHW_CACHE_MEMORY, the
budget of the decoded-image cache: data.image_cache.memory_budget) is loaded as an
array and trained on with training.array_fit, as before. Larger ones stay on disk
as a :class:`FeatureFile`: rows are read with ``pread`` for each batch (like the
image cache's disk store; a memory map would leave every page it touched in the
process' resident memory), through a tf.data pipeline that yields exactly the
batches array_fit would: the (seed, epoch) permutation of training.epoch_data,
then the validation split in order. So cached equals uncached and a resumed run
replays the same batches on either path.
"""

from __future__ import annotations

import os
import zlib
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

from dlhw.errors import DlhwError
from dlhw.runtime.log import get_logger

log = get_logger(__name__)

READ_CHUNK = 16 * 1024 ** 2  # bytes per read while checking an entry's CRC32


class FeatureFile:
    """(N, ...) float32 features in a .npy file, read row by row (``take``) or in runs (``rows``)."""

    def __init__(self, path: Path, offset: int, shape: Tuple[int, ...]):
        self.path, self.offset, self.shape = Path(path), int(offset), tuple(int(v) for v in shape)
        self.row = int(np.prod(self.shape[1:])) * 4
        self.nbytes = self.shape[0] * self.row  # on disk; nothing of it is held in memory
        self.fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx),) + self.shape[1:], dtype=np.float32)
        flat = out.reshape(len(idx), -1)
        for j, i in enumerate(idx):
            flat[j] = np.frombuffer(self._pread(self.row, self.offset + int(i) * self.row), dtype=np.float32)
        return out

    def rows(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.shape[0])
        data = self._pread((stop - start) * self.row, self.offset + start * self.row)
        return np.frombuffer(data, dtype=np.float32).reshape((stop - start,) + self.shape[1:])

    def _pread(self, size: int, at: int) -> bytes:
        data = os.pread(self.fd, size, at)
        if len(data) != size:
            from dlhw.errors import DataError

            raise DataError(f"{self.path}: feature cache entry truncated while in use; delete it and rerun")
        return data

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass

    def __del__(self):
        self.close()


class ArrayRows:
    """An in-memory array with FeatureFile's ``take`` (train in the budget, val over it)."""

    def __init__(self, array: np.ndarray):
        self.array, self.shape = array, array.shape

    def __len__(self) -> int:
        return len(self.array)

    def take(self, idx) -> np.ndarray:
        return self.array[np.asarray(idx, dtype=np.int64)]


def chunks(feats, size: int = 1024, target: int = 64 * 1024 ** 2) -> Iterable[np.ndarray]:
    """Consecutive row blocks of an array or a FeatureFile: ``size`` rows, fewer when that would
    be more than ``target`` bytes (ResNet50 with flatten pooling: 400 KB a row)."""
    size = max(1, min(size, target // max(1, int(np.prod(feats.shape[1:])) * 4)))
    for i in range(0, len(feats), size):
        yield feats.rows(i, i + size) if isinstance(feats, FeatureFile) else feats[i:i + size]


# ------------------------------------------------------------------ writing
class EntryWriter:
    """Writes one split's features into ``path`` batch by batch (inside an ExitStack: the
    temporary file is removed if anything fails). ``keep``: also fill an in-memory array."""

    def __init__(self, stack: ExitStack, path: Path, shape: Tuple[int, ...], keep: bool):
        from dlhw.runtime.files import replacing

        self.path, self.shape = path, tuple(shape)
        tmp = stack.enter_context(replacing(path))
        self.fh = stack.enter_context(open(tmp, "wb"))
        np.lib.format.write_array_header_2_0(self.fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                       "fortran_order": False, "shape": self.shape})
        self.crc, self.at = 0, 0
        self.array = np.empty(self.shape, dtype=np.float32) if keep else None

    def add(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32)
        data = memoryview(block).cast("B")
        self.fh.write(data)
        self.crc = zlib.crc32(data, self.crc)
        if self.array is not None:
            self.array[self.at:self.at + len(block)] = block
        self.at += len(block)


def write_entries(targets: Dict[str, Tuple[Path, Tuple[int, ...], bool]], blocks, meta_of) -> Dict[str, tuple]:
    """Stream ``blocks`` ((split, rows) pairs, in order) into one entry per split of ``targets``
    (split -> (path, shape, keep in memory)); then write each entry's .json (``meta_of(split,
    shape, crc)``). Returns split -> (in-memory array or None, crc). On any error every file
    this call wrote (temporary or renamed) is removed and the error raised."""
    from dlhw.runtime.files import write_json

    written = []
    try:
        with ExitStack() as stack:
            writers = {s: EntryWriter(stack, p, shape, keep) for s, (p, shape, keep) in targets.items()}
            for split, block in blocks:
                writers[split].add(block)
            for w in writers.values():
                if w.at != w.shape[0]:
                    raise RuntimeError(f"feature pass wrote {w.at} rows of {w.shape[0]} into {w.path}")
            written = [w.path for w in writers.values()]
        for split, w in writers.items():
            write_json(w.path.with_suffix(".json"), meta_of(split, w.shape, w.crc), indent=1)
            written.append(w.path.with_suffix(".json"))
    except BaseException:
        for p in written:
            try:
                p.unlink()
            except OSError:
                pass
        raise
    return {s: (w.array, w.crc) for s, w in writers.items()}


# ------------------------------------------------------------------ reading
@contextmanager
def computing_lock(folder: Path, name: str):
    """An exclusive OS lock (``folder/.name.lock``) while this process computes features
    (released by the OS if it dies): concurrent sweep workers compute them once, the others
    wait and read them. Without fcntl, or a folder that cannot be written: no lock."""
    fh = None
    try:
        import fcntl

        from dlhw.runtime.files import ensure_dir, open_append

        ensure_dir(folder)
        fh = open_append(folder / f".{name}.lock")
        fcntl.flock(fh, fcntl.LOCK_EX)
    except (ImportError, OSError, DlhwError):
        if fh is not None:
            fh.close()
        fh = None
    try:
        yield
    finally:
        if fh is not None:
            fh.close()  # closing releases the lock


def read_entry(path: Path, n: int, in_memory: bool = True):
    """A cached entry with n rows (an array, or a FeatureFile when not ``in_memory``), or None:
    absent, truncated, unreadable or damaged (its CRC32 differs from the one recorded in its
    .json when it was written; warned about): recomputed."""
    import json

    if not path.exists():
        return None
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return open_entry(path, n, meta.get("crc32", -1), in_memory)


def open_entry(path: Path, n: int, crc: Optional[int], in_memory: bool):
    """The entry's features with n rows (an array when ``in_memory``, else a FeatureFile), or
    None when the file is absent, truncated, unreadable or its CRC32 differs from ``crc``
    (read in chunks: checking never holds the whole entry)."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                return None
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(fh)
            offset = fh.tell()
            if fortran or dtype != np.float32 or len(shape) < 2 or shape[0] != n:
                return None
            size = int(np.prod(shape)) * 4
            if os.fstat(fh.fileno()).st_size != offset + size:
                return None
            if in_memory:
                feats = np.empty(shape, dtype=np.float32)
                view = memoryview(feats).cast("B")
                if fh.readinto(view) != size:
                    return None
                if crc is not None and zlib.crc32(view) != crc:
                    return _damaged(path)
                return feats
            running = 0
            while crc is not None:
                block = fh.read(READ_CHUNK)
                if not block:
                    break
                running = zlib.crc32(block, running)
            if crc is not None and running != crc:
                return _damaged(path)
    except (OSError, ValueError):
        return None
    return FeatureFile(path, offset, shape)


def _damaged(path: Path) -> None:
    log.warning(f"feature cache: damaged entry {path} (checksum mismatch); recomputing it")
    return None


# ------------------------------------------------------------------ tf.data
def _gather_map(store, labels):
    import tensorflow as tf

    shape = (None,) + store.shape[1:]
    y = None if labels is None else tf.constant(labels)

    def gather(idx):
        x = tf.ensure_shape(tf.numpy_function(store.take, [idx], tf.float32, stateful=False), shape)
        return x if y is None else (x, tf.gather(y, idx))

    return gather


def training_batches(store: FeatureFile, y: np.ndarray, batch_size: int, seed: int, first: int, last: int,
                     shuffle: bool):
    """Epochs ``first`` .. ``last - 1`` of training batches from disk, in array_fit's order."""
    import tensorflow as tf

    from dlhw.training.epoch_data import EpochData, _epochs_of

    if isinstance(store, np.ndarray):
        store = ArrayRows(store)
    n = len(store)
    index = _epochs_of(n, seed, first, last, shuffle,
                       lambda perm: tf.data.Dataset.from_tensor_slices(perm).batch(batch_size))
    ds = index.map(_gather_map(store, y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return EpochData(ds.prefetch(tf.data.AUTOTUNE), -(-n // batch_size))


def ordered_batches(feats, y: np.ndarray, batch_size: int):
    """The validation batches, in order (an array or a FeatureFile), or None when empty."""
    import tensorflow as tf

    if len(feats) == 0:
        return None
    if not isinstance(feats, FeatureFile):
        return tf.data.Dataset.from_tensor_slices((feats, y)).batch(batch_size)
    index = tf.data.Dataset.range(len(feats)).batch(batch_size)
    return index.map(_gather_map(feats, y)).prefetch(tf.data.AUTOTUNE)
