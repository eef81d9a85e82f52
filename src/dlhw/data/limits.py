"""Resource budgets for data files, checked from their headers before anything is decoded.

``dataset.limits`` (dlhw.config.schema.LimitsConfig) sets them:

- ``max_image_pixels``: width x height x frames of one image (TensorFlow decodes every frame of a
  GIF even when it keeps only the first), so a 13,000 x 13,000 picture or a GIF of thousands of
  frames is refused before it is decoded, and PIL's own DecompressionBombWarning never shows;
- ``max_frames``: frames of one animated image (GIF frames are counted by walking the file's
  blocks, nothing decoded, stopping one past the budget);
- ``max_array_bytes``: bytes of one .npy array (alone or inside a .npz), from its header's shape
  and dtype, so a header declaring a huge shape is a DataError, not a MemoryError.

An image over budget is skipped with one warning line in an image folder (like any unreadable
file) and refused in an image CSV or ``dlhw predict``; an array over budget is refused. Each
message names the file, what it holds and the budget's key.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Optional, Tuple

import numpy as np

from dlhw.errors import DataError


def limits_of(dcfg: Any = None) -> Any:
    """``dataset.limits`` of a dataset section, or the defaults."""
    limits = getattr(dcfg, "limits", None)
    if limits is not None:
        return limits
    from dlhw.config.schema import LimitsConfig

    return LimitsConfig()


def gif_frames(path: Path, cap: int) -> Tuple[Tuple[int, int], int]:
    """((width, height) of the GIF's canvas, its frame count up to ``cap + 1``), by walking its
    blocks without decoding any (LZW data is skipped sub-block by sub-block)."""
    with open(path, "rb") as f:
        head = f.read(13)
        if len(head) < 13 or head[:3] != b"GIF":
            return (0, 0), 0
        width, height, packed = struct.unpack("<HHB", head[6:11])
        if packed & 0x80:
            f.seek(3 * 2 ** ((packed & 7) + 1), 1)
        frames = 0
        while frames <= cap:
            b = f.read(1)
            if b == b"\x21":  # extension: label, then sub-blocks
                f.read(1)
                _skip_blocks(f)
            elif b == b"\x2c":  # image descriptor: a frame
                frames += 1
                desc = f.read(9)
                if len(desc) < 9:
                    break
                if desc[8] & 0x80:
                    f.seek(3 * 2 ** ((desc[8] & 7) + 1), 1)
                f.read(1)  # LZW minimum code size
                _skip_blocks(f)
            else:  # trailer (0x3B), end of file or garbage
                break
    return (width, height), frames


def _skip_blocks(f) -> None:
    while True:
        n = f.read(1)
        if not n or n[0] == 0:
            return
        f.seek(n[0], 1)


def image_over_budget(path: Path, size: Tuple[int, int], fmt: str, limits: Any) -> Optional[str]:
    """Why the image at ``path`` (``size`` from its header) is over ``limits``, else None."""
    w, h = int(size[0]), int(size[1])
    frames = 1
    if fmt == "GIF":
        canvas, frames = gif_frames(path, int(limits.max_frames))
        w, h = max(w, canvas[0]), max(h, canvas[1])
        if frames > limits.max_frames:
            return (f"an animation of more than {limits.max_frames} frames, over the budget "
                    f"dataset.limits.max_frames ({limits.max_frames})")
    pixels = w * h * max(frames, 1)
    if pixels > limits.max_image_pixels:
        shown = f"{w} x {h}" + (f" x {frames} frames" if frames > 1 else "")
        return (f"{shown} = {pixels:,} pixels, over the budget dataset.limits.max_image_pixels "
                f"({limits.max_image_pixels:,}); skip it, shrink it or raise the budget")
    return None


def array_budget(where: str, shape: Tuple[int, ...], dtype: np.dtype, limits: Any,
                 stored: Optional[int] = None) -> None:
    """A DataError when an array of ``shape`` and ``dtype`` (from its header) is over
    ``max_array_bytes``, or larger than the ``stored`` bytes that hold it (a lying header)."""
    if dtype.hasobject:
        raise DataError(f"{where}: an array of Python objects (dtype {dtype}); dlhw reads number or "
                        f"text arrays only (no pickles): save it with a numeric or string dtype")
    size = int(np.prod([int(v) for v in shape], dtype=object)) * int(dtype.itemsize)
    if size > limits.max_array_bytes:
        raise DataError(f"{where}: its header declares shape {list(shape)} of {dtype} = {size:,} bytes, over "
                        f"the budget dataset.limits.max_array_bytes ({limits.max_array_bytes:,}); "
                        f"use a smaller array or raise the budget")
    if stored is not None and size > stored:
        raise DataError(f"{where}: its header declares shape {list(shape)} of {dtype} = {size:,} bytes, but "
                        f"only {stored:,} bytes follow; the file is truncated or its header is wrong")


def read_array_header(f) -> Tuple[Tuple[int, ...], np.dtype]:
    """(shape, dtype) from an open .npy stream positioned at its start (left after the header)."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
    if reader is None:
        reader = fmt._read_array_header
        shape, _, dtype = reader(f, version)
    else:
        shape, _, dtype = reader(f)
    return tuple(int(v) for v in shape), np.dtype(dtype)
