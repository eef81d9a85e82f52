"""Draw a synthetic landmark set: face-like shapes with 5 known keypoints, and a CSV of them.

Stand-in for S4's face landmarks (faces are not available offline). Each image is
a light ellipse ("face") on a noisy background, at a random place, size and tilt,
with 5 keypoints drawn on it: left_eye, right_eye, nose (dark dots) and
mouth_left, mouth_right (the ends of a dark line). About ``--missing`` of the
keypoints are occluded: covered by a grey patch, their x / y cells left empty and
their ``<point>_present`` column 0 (S4: "is this point present?").

Coordinates are divided by the image width / height, so they lie in 0..1 like
S4's 152 sigmoid outputs. The CSV (``--out``) has the columns

    image, left_eye_x, left_eye_y, ..., mouth_right_y, left_eye_present, ..., mouth_right_present

with image paths relative to the CSV file: the images go into ``images/`` beside it.

    python data/make_landmark_images.py        # data/landmark_images/landmarks.csv: 600 images, 64 px
    python data/make_landmark_images.py --out data/landmark_images_small/landmarks.csv --count 240 --size 32
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
OFFSETS = {"left_eye": (-0.4, -0.3), "right_eye": (0.4, -0.3), "nose": (0.0, 0.08),
           "mouth_left": (-0.32, 0.45), "mouth_right": (0.32, 0.45)}  # on a unit face, y down


def coordinate_columns() -> list:
    return [f"{p}_{a}" for p in POINTS for a in ("x", "y")]


def present_columns() -> list:
    return [f"{p}_present" for p in POINTS]


def draw(rng: np.random.Generator, size: int, missing: float):
    """(PIL image, {point: (x, y) in pixels}, {point: visible})."""
    from PIL import Image, ImageDraw

    bg = rng.integers(20, 90, size=(size, size, 3)).astype(np.uint8)
    img = Image.fromarray(bg)
    d = ImageDraw.Draw(img)
    cx, cy = rng.uniform(0.38, 0.62) * size, rng.uniform(0.38, 0.62) * size
    s = rng.uniform(0.26, 0.36) * size  # face half-width
    tilt = rng.uniform(-0.35, 0.35)
    c, sn = math.cos(tilt), math.sin(tilt)

    def at(dx: float, dy: float):
        return (cx + s * (dx * c - dy * sn), cy + s * (dx * sn + dy * c))

    skin = tuple(int(v) for v in rng.integers(170, 240, size=3))
    d.polygon([at(0.8 * math.cos(a), 1.0 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 40)], fill=skin)
    pts = {p: at(*OFFSETS[p]) for p in POINTS}
    ink = tuple(int(v) for v in rng.integers(0, 60, size=3))
    r = max(1.0, 0.09 * s)
    d.line([pts["mouth_left"], pts["mouth_right"]], fill=ink, width=max(1, int(round(0.06 * s))))
    for p in POINTS:
        x, y = pts[p]
        d.ellipse([x - r, y - r, x + r, y + r], fill=ink)
    visible = {p: bool(rng.random() >= missing) for p in POINTS}
    for p, seen in visible.items():
        if not seen:  # occluded: a grey patch hides the point
            x, y = pts[p]
            h = 0.22 * s
            d.rectangle([x - h, y - h, x + h, y + h], fill=(128, 128, 128))
    return img, pts, visible


def make(path: Path, count: int = 600, size: int = 64, seed: int = 0, missing: float = 0.12) -> Path:
    """Write the CSV ``path`` and ``count`` images in ``images/`` beside it; returns ``path``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    path = Path(path)
    out = path.parent
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        img, pts, visible = draw(rng, size, missing)
        name = f"images/face_{i:04d}.png"
        img.save(out / name)
        row = {"image": name}
        for p in POINTS:
            x, y = pts[p]
            row[f"{p}_x"] = round(x / size, 4) if visible[p] else np.nan
            row[f"{p}_y"] = round(y / size, 4) if visible[p] else np.nan
        for p in POINTS:
            row[f"{p}_present"] = int(visible[p])
        rows.append(row)
    df = pd.DataFrame(rows, columns=["image"] + coordinate_columns() + present_columns())
    df.to_csv(path, index=False)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "landmark_images" / "landmarks.csv",
                    help="the CSV file to write; the images go into images/ beside it")
    ap.add_argument("--count", type=int, default=600)
    ap.add_argument("--size", type=int, default=64, help="image side, pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--missing", type=float, default=0.12, help="fraction of keypoints occluded")
    a = ap.parse_args()
    path = make(a.out, a.count, a.size, a.seed, a.missing)
    import pandas as pd

    df = pd.read_csv(path)
    gone = int((df[present_columns()] == 0).to_numpy().sum())
    print(f"wrote {path}: {len(df)} images of {a.size}x{a.size}, {gone} of {len(df) * len(POINTS)} keypoints occluded")


if __name__ == "__main__":
    main()
