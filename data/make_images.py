"""Generate an image folder of shapes on noisy backgrounds (S1 / S2 / S3 stand-ins).

    python data/make_images.py                              # data/cnn_images/{circle,square}/*.png, 1500 each (S3: 3000 files), 64x64
    python data/make_images.py --out data/two_class --names 0 1 --per-class 200 --size 128
    python data/make_images.py --out data/cars196 --names a b c d e --per-class 60 --size 64

Every image has a random background colour with noise and one filled shape of a
random colour, size and position; the class is the shape (class i draws shape
i mod 5: circle, square, triangle, cross, ring). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def draw(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    bg = rng.integers(0, 256, 3)
    img = np.clip(bg + rng.normal(0, 15, (size, size, 3)), 0, 255)
    r = rng.uniform(0.22, 0.38) * size
    cy, cx = rng.uniform(r, size - r, 2)
    yy, xx = np.mgrid[0:size, 0:size]
    dy, dx = yy - cy, xx - cx
    if kind == "circle":
        mask = dy ** 2 + dx ** 2 <= r ** 2
    elif kind == "square":
        mask = (np.abs(dy) <= r * 0.85) & (np.abs(dx) <= r * 0.85)
    elif kind == "triangle":
        mask = (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.55)
    elif kind == "cross":
        mask = ((np.abs(dy) <= r * 0.25) & (np.abs(dx) <= r)) | ((np.abs(dx) <= r * 0.25) & (np.abs(dy) <= r))
    else:  # ring
        mask = (dy ** 2 + dx ** 2 <= r ** 2) & (dy ** 2 + dx ** 2 >= (0.55 * r) ** 2)
    colour = (bg + rng.integers(80, 176, 3)) % 256  # always differs from the background
    img[mask] = colour
    return img.astype(np.uint8)


KINDS = ("circle", "square", "triangle", "cross", "ring")


def make(out: Path, names=("circle", "square"), per_class: int = 150, size: int = 128, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(names):
        folder = Path(out) / str(name)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(draw(KINDS[c % len(KINDS)], size, rng)).save(folder / f"{name}_{i:04d}.png")
    return Path(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("cnn_images"))
    ap.add_argument("--names", nargs="+", default=["circle", "square"], help="class folder names (2 or more)")
    ap.add_argument("--per-class", type=int, default=1500)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if len(a.names) < 2:
        ap.error("--names: give at least 2 class names")
    make(a.out, a.names, a.per_class, a.size, a.seed)
    print(f"wrote {a.out}: {len(a.names) * a.per_class} images ({', '.join(a.names)}), {a.size}x{a.size}")


if __name__ == "__main__":
    main()
