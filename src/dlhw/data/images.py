"""Image folders: one sub-folder per class, or train/ val/ test/ already split.

Files are listed and checked (unreadable ones are skipped with a warning naming
each), split by class with the run's seed, and streamed through tf.data in
batches: the folder is never loaded into memory whole.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import List, Tuple

import numpy as np

from dlhw.data.dataset import SPLITS, Dataset, Split, split_arrays, subsample
from dlhw.errors import ConfigError, DataError
from dlhw.runtime.log import get_logger

log = get_logger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
SPLIT_DIRS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


TF_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "GIF": "GIF", "BMP": "BMP"}  # what TensorFlow decodes


def _readable(path: Path, limits=None) -> str | None:
    """None when the file is an image TensorFlow's decoder (the one training uses) can read
    within ``dataset.limits`` (dlhw.data.limits), else the reason it cannot. Cheap: PIL reads
    the header and checks the structure (PNG chunk checksums, a JPEG's end-of-image marker)
    without decoding the pixels; the pixel and frame budget is checked first, from the header."""
    from PIL import Image

    from dlhw.data.limits import image_over_budget, limits_of

    bomb_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # dlhw's own budget applies, with a message naming it
    try:
        with Image.open(path) as im:
            fmt = im.format or "?"
            if fmt not in TF_FORMATS:
                return f"a {fmt} file; TensorFlow decodes only JPEG, PNG, GIF and BMP"
            over = image_over_budget(path, im.size, fmt, limits_of() if limits is None else limits)
            if over:
                return over
            im.verify()
        if TF_FORMATS[fmt] == "JPEG" and not _jpeg_complete(path):
            return "truncated JPEG (no end-of-image marker)"
        if fmt == "BMP":
            return _bmp_problem(path)
        return None
    except Exception as exc:  # PIL raises many kinds for broken files
        return f"{type(exc).__name__}: {str(exc)[:80]}"
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit


def _bmp_problem(path: Path) -> str | None:
    """TensorFlow's BMP decoder takes 8, 24 or 32 bits per pixel only (bytes 28-29 of the header)."""
    with open(path, "rb") as fh:
        head = fh.read(30)
    bits = int.from_bytes(head[28:30], "little") if len(head) >= 30 else 0
    return None if bits in (8, 24, 32) else f"a {bits}-bit BMP; TensorFlow decodes 8, 24 and 32-bit BMP only"


def _jpeg_complete(path: Path) -> bool:
    """A complete JPEG has its EOI marker FFD9 near the end (after it, cameras may append
    trailers); in entropy-coded data a 0xFF byte is always stuffed, so a cut file has none."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    return b"\xff\xd9" in tail


def list_class_folder(root: Path, class_names: List[str] | None = None,
                      limits=None) -> Tuple[List[str], List[int], List[str]]:
    """(files, labels, class_names) of a folder with one sub-folder per class; files that are not
    readable images, or are over ``dataset.limits``, are skipped with one warning each."""
    subdirs = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if class_names is None:
        if not subdirs:
            raise DataError(f"{root}: no class sub-folders found; expected one folder per class (e.g. {root}/cats/*.jpg)")
        class_names = subdirs
    else:
        extra = [d for d in subdirs if d not in class_names]
        if extra:
            raise DataError(f"{root}: class folder '{extra[0]}' does not exist in the train split")
    files: List[str] = []
    labels: List[int] = []
    skipped = 0
    for label, name in enumerate(class_names):
        folder = root / name
        if not folder.is_dir():
            continue
        found = 0
        for entry in sorted(folder.rglob("*")):
            if entry.is_dir() or entry.name.startswith("."):
                continue
            if entry.suffix.lower() not in IMAGE_EXTENSIONS:
                log.warning(f"skipping {entry}: not an image file (expected {', '.join(IMAGE_EXTENSIONS)})")
                skipped += 1
                continue
            reason = _readable(entry, limits)
            if reason:
                log.warning(f"skipping {entry}: {'over budget' if 'dataset.limits' in reason else 'unreadable image'} "
                            f"({reason})")
                skipped += 1
                continue
            files.append(str(entry))
            labels.append(label)
            found += 1
        if found == 0:
            raise DataError(f"{folder}: class folder has no readable images")
    return files, labels, class_names


def _folder_fingerprint(files: List[str], extra: tuple) -> str:
    h = hashlib.sha1(repr(extra).encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_image_folder(cfg, task: str, seed: int) -> Dataset:
    from dlhw.data.dataset import select_classes

    root = Path(cfg.path)
    if not root.exists():
        from dlhw.data.paths import missing_path

        raise missing_path("dataset.path", root, "image folder")
    if not root.is_dir():
        raise DataError(f"dataset.path: {root} is a file; source 'image_folder' needs a folder of class sub-folders")
    if task != "classification":
        raise ConfigError(f"task: image folders hold classes; received task={task}")
    present = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    presplit = "train" in present
    if presplit:
        from dlhw.data.folds import refuse_folds

        refuse_folds(cfg, f"{root} is already split into train/ val/ test/ folders")
        files, labels, names = list_class_folder(present["train"], limits=getattr(cfg, "limits", None))
        splits = {"train": Split(y=np.array(labels, dtype=np.int64), files=files)}
        for split in ("val", "test"):
            folder = next((present[n] for n in SPLIT_DIRS[split] if n in present), None)
            if folder is None:
                splits[split] = Split(y=np.zeros(0, dtype=np.int64), files=[])
                continue
            f, lab, _ = list_class_folder(folder, names, getattr(cfg, "limits", None))
            splits[split] = Split(y=np.array(lab, dtype=np.int64), files=f)
        if len(splits["val"]) == 0:  # carve validation out of train
            frac = cfg.split.val / max(cfg.split.train + cfg.split.val, 1e-9)
            parts = split_arrays(splits["train"], {"train": 1 - frac, "val": frac, "test": 0.0}, seed, True)
            splits["train"], splits["val"] = parts["train"], parts["val"]
        all_files = [f for s in splits.values() for f in s.files]
    else:
        files, labels, names = list_class_folder(root, limits=getattr(cfg, "limits", None))
        whole = Split(y=np.array(labels, dtype=np.int64), files=files)
        if cfg.max_samples:
            whole = subsample(whole, cfg.max_samples, seed, True)
        from dlhw.data.folds import make_splits

        splits = make_splits(whole, cfg, seed, True, names)
        all_files = whole.files
    if len(names) < 2:
        raise DataError(f"{root}: found a single class folder ('{names[0]}'); classification needs at least 2")
    unseen, unseen_names = None, []
    if cfg.classes:
        splits, names, unseen, unseen_names = select_classes(splits, names, cfg.classes, other=cfg.other_classes)
    for name in SPLITS:
        if len(splits[name]) == 0 and name != "test" and not (name == "val" and cfg.validation == "test"):
            raise DataError(f"{root}: the {name} split is empty; add images or change dataset.split")
    channels = 3 if cfg.color_mode == "rgb" else 1
    h, w = cfg.image_size
    return Dataset(
        splits=splits,
        class_names=names,
        input_shape=(h, w, channels),
        task=task,
        fingerprint=_folder_fingerprint(sorted(all_files), (h, w, channels, cfg.classes, cfg.max_samples, seed)
                                 + ((cfg.other_classes, cfg.folds, cfg.fold) if cfg.other_classes or cfg.folds else ())),
        unseen=unseen,
        unseen_names=unseen_names,
        meta={"source": "image_folder", "path": str(root), "image_size": [h, w], "channels": channels},
    )


