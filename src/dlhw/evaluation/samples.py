"""samples.png: a grid of random training images, each titled with its label (S3).

Written by every image run, scikit-learn's 8x8 digits included (``evaluation.samples``
images, default 16; 0 turns it off) and by ``dlhw data preview``. Images are decoded and resized exactly as
the model sees them (before its own rescaling).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Optional

import numpy as np


def sample_images(dataset, n: int, seed: int, split: str = "train"):
    """(images HxWxC in 0..1, labels) of ``n`` random samples of ``split``; None if not image data."""
    s = dataset.splits[split]
    if len(s) == 0 or n <= 0:
        return None
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(s), size=min(n, len(s)), replace=False))
    if not dataset.in_memory(s):
        images = np.concatenate([np.asarray(b) for b in dataset.batches(s.take(idx), len(idx))]) / 255.0
    elif s.x.ndim == 4:  # Keras image arrays, already 0..1
        images = s.x[idx].astype(np.float32)
    elif dataset.meta.get("name") == "digits" and s.x.shape[1] == 64:
        st = dataset.meta["standardize"]  # scikit-learn's 8x8 digits: undo the scaling, pixels are 0..16
        pixels = s.x[idx] * np.array(st["std"]) + np.array(st["mean"])
        images = (pixels / 16.0).reshape(-1, 8, 8, 1).astype(np.float32)
    else:
        return None
    return np.clip(images, 0, 1), s.y[idx]


def plot_samples(images: np.ndarray, titles, path: Path, title: str) -> Optional[bytes]:
    """A near-square grid of images with one title each; the PNG's bytes (None: not drawn)."""
    from dlhw.evaluation.figure import figure as _figure
    from dlhw.evaluation.figure import save as _save

    n = len(images)
    cols = min(n, max(1, math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    h = 2.0 * rows + 0.4
    fig = _figure(1.9 * cols, h, left=0.02, right=0.98, bottom=0.02, top=1 - 0.75 / h, wspace=0.1, hspace=0.3)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, img, label in zip(axes, images, titles):
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img)
        ax.set_title(str(label), fontsize=9)
    fig.suptitle(title)
    return _save(fig, path)


def _values(v) -> str:
    """A target row as a short title (image_csv: the first few of its numbers)."""
    row = np.asarray(v, dtype=float).ravel()
    if row.size == 1:
        return f"{row[0]:.3g}"
    shown = " ".join("-" if np.isnan(x) else f"{x:.2f}" for x in row[:4])
    return shown + (" ..." if row.size > 4 else "")


def _key(images: np.ndarray, titles, title: str) -> str:
    h = hashlib.sha1(np.ascontiguousarray(images).tobytes())
    h.update(repr((images.shape, str(images.dtype), list(titles), title)).encode())
    return h.hexdigest()


def write_samples(dataset, path: Path, n: int, seed: int, title: str) -> Optional[Path]:
    """samples.png for an image dataset; returns its path, or None for non-image data."""
    from dlhw.runtime.files import write_bytes
    from dlhw.runtime.memo import LastUsed, held

    got = sample_images(dataset, n, seed)
    if got is None:
        return None
    images, y = got
    names = dataset.class_names
    titles = [names[int(v)] if names and dataset.task == "classification" else _values(v) for v in y]
    # The PNGs this process drew, by what they show (dlhw.runtime.memo): a sweep's trials share their
    # data and seed, so a worker draws the grid once (~0.5 s of matplotlib) and writes its bytes again.
    drawn = held("samples_png", lambda: LastUsed(4))
    path, key = Path(path), _key(images, titles, title)
    png = drawn.take(key)
    if png is None:
        png = plot_samples(images, titles, path, title)
    else:
        write_bytes(path, png)
    if png is not None:
        drawn.put(key, png)
    return path
