"""Generate data/landmarks.csv: a tiny synthetic landmark-regression table (S4's regression heads).

Each row describes a made-up face by 12 measurements (f0..f11); the targets are
the (x, y) positions of 3 landmarks (left eye, right eye, mouth), scaled to
0..1 like image coordinates divided by the image size. About 10 % of the
landmarks are missing (both coordinates empty), as when a point is occluded:
`masked_euclidean` ignores them, MSE cannot train on them.

    python data/make_landmarks.py          # writes data/landmarks.csv (400 rows, seed 0)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

POINTS = ("left_eye", "right_eye", "mouth")


def make(n: int = 400, seed: int = 0, missing: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(0.35, 0.65, n), rng.uniform(0.35, 0.6, n)  # face centre
    scale = rng.uniform(0.15, 0.3, n)  # face size
    tilt = rng.uniform(-0.3, 0.3, n)  # radians
    offsets = {"left_eye": (-0.5, -0.35), "right_eye": (0.5, -0.35), "mouth": (0.0, 0.55)}
    cols = {}
    for p, (dx, dy) in offsets.items():
        x = cx + scale * (dx * np.cos(tilt) - dy * np.sin(tilt))
        y = cy + scale * (dx * np.sin(tilt) + dy * np.cos(tilt))
        gone = rng.random(n) < missing
        cols[f"{p}_x"] = np.where(gone, np.nan, np.round(x, 4))
        cols[f"{p}_y"] = np.where(gone, np.nan, np.round(y, 4))
    latent = np.stack([cx, cy, scale, np.sin(tilt), np.cos(tilt)], axis=1)
    mix = rng.normal(size=(5, 12))
    feats = np.tanh(latent @ mix) + rng.normal(0, 0.02, (n, 12))
    df = pd.DataFrame(np.round(feats, 4), columns=[f"f{i}" for i in range(12)])
    for k, v in cols.items():
        df[k] = v
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("landmarks.csv"))
    a = ap.parse_args()
    df = make(a.rows, a.seed)
    df.to_csv(a.out, index=False)
    print(f"wrote {a.out}: {len(df)} rows, {int(df.isna().any(axis=1).sum())} with a missing landmark")


if __name__ == "__main__":
    main()
