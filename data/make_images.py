"""Generate a two-class image folder (S1 / S3 stand-in): circles vs squares on noisy backgrounds.

    python data/make_images.py                              # data/cnn_images/{circle,square}/*.png, 150 each, 128x128
    python data/make_images.py --out data/two_class --names 0 1 --per-class 200 --size 128

Every image has a random background colour with noise and one filled shape of a
random colour, size and position; the class is the shape. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def draw(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    bg = rng.integers(0, 256, 3)
    img = np.clip(bg + rng.normal(0, 25, (size, size, 3)), 0, 255)
    r = rng.uniform(0.15, 0.3) * size
    cy, cx = rng.uniform(r, size - r, 2)
    yy, xx = np.mgrid[0:size, 0:size]
    if kind == "circle":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    else:
        mask = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    colour = (bg + rng.integers(80, 176, 3)) % 256  # always differs from the background
    img[mask] = colour
    return img.astype(np.uint8)


def make(out: Path, names=("circle", "square"), per_class: int = 150, size: int = 128, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(names):
        folder = Path(out) / str(name)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(draw("circle" if c % 2 == 0 else "square", size, rng)).save(folder / f"{name}_{i:04d}.png")
    return Path(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("cnn_images"))
    ap.add_argument("--names", nargs=2, default=["circle", "square"], help="the two class folder names")
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    make(a.out, a.names, a.per_class, a.size, a.seed)
    print(f"wrote {a.out}: {2 * a.per_class} images ({a.names[0]}, {a.names[1]}), {a.size}x{a.size}")


if __name__ == "__main__":
    main()
