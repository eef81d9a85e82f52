"""Generate data/sequences.npz: a synthetic stand-in for S3 question 3's 1-D CNN input.

Sequences of 500 steps with 3 channels (think of a 3-axis motion sensor), five classes
told apart by the rhythm of the signal: still (noise only), walk and run (sine waves of a
slow and a fast period, the channels shifted in phase), stairs (a slow wave with a drift)
and jump (short bursts). Values are rounded to 1/32 and stored as float16 to keep the file
small; dlhw reads them as float32.

    python data/make_sequences.py                       # data/sequences.npz: 40 sequences, seed 0
    python data/make_sequences.py --per-class 200 --out data/seq_big.npz
    python data/make_sequences.py --csv data/sequences.csv   # the same as a CSV, one line each

The .npz holds x (N, 500, 3) and y (N class names); the CSV holds one sequence per line:
the label, then the 1500 values step by step, channels interleaved.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CLASSES = ("still", "walk", "run", "stairs", "jump")


def make(per_class: int = 8, steps: int = 500, channels: int = 3, seed: int = 0):
    """(x: N x steps x channels float16, y: N class names), classes in turn."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float64)
    xs, ys = [], []
    for _ in range(per_class):
        for name in CLASSES:
            phase = rng.uniform(0, 2 * np.pi)
            shifts = np.arange(channels) * 2 * np.pi / channels
            if name == "still":
                signal = np.zeros((steps, channels))
            elif name in ("walk", "run", "stairs"):
                period = {"walk": rng.uniform(45, 55), "run": rng.uniform(18, 24), "stairs": rng.uniform(60, 75)}[name]
                signal = np.sin(2 * np.pi * t[:, None] / period + phase + shifts[None, :])
                if name == "stairs":
                    signal += np.linspace(0, rng.uniform(1.0, 1.5), steps)[:, None]
            else:  # jump: a burst every ~100 steps
                signal = np.zeros((steps, channels))
                for start in range(int(rng.integers(0, 60)), steps - 12, int(rng.integers(90, 110))):
                    signal[start:start + 12] += 2.0 * np.hanning(12)[:, None]
            x = signal + rng.normal(0, 0.3, size=(steps, channels))
            xs.append(np.round(x * 32) / 32)
            ys.append(name)
    return np.stack(xs).astype(np.float16), np.array(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("sequences.npz"))
    ap.add_argument("--per-class", type=int, default=8)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, default=None, help="write this CSV instead of the .npz")
    args = ap.parse_args()
    x, y = make(args.per_class, args.steps, seed=args.seed)
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", encoding="utf-8") as f:
            for label, seq in zip(y, x.astype(np.float32)):
                f.write(label + "," + ",".join(f"{v:g}" for v in seq.reshape(-1)) + "\n")
        print(f"wrote {args.csv}: {len(y)} sequences of {x.shape[1]} steps x {x.shape[2]} channels")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, x=x, y=y)
    print(f"wrote {args.out}: x {list(x.shape)}, y {len(y)} labels ({', '.join(CLASSES)})")


if __name__ == "__main__":
    main()
