"""Generate data/phones.csv: a synthetic stand-in for S4's phone-price table.

The columns follow the public "mobile price classification" layout (20
features, `price_range` 0-3), but every value is drawn here from simple
distributions; the price class is a noisy function of RAM, battery, screen
resolution and a few more columns, cut into four equal-sized classes.

    python data/make_phones.py            # writes data/phones.csv (2000 rows, seed 0)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def make(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "battery_power": rng.integers(500, 2000, n),
        "blue": rng.integers(0, 2, n),
        "clock_speed": np.round(rng.uniform(0.5, 3.0, n), 1),
        "dual_sim": rng.integers(0, 2, n),
        "fc": rng.integers(0, 20, n),
        "four_g": rng.integers(0, 2, n),
        "int_memory": rng.integers(2, 65, n),
        "m_dep": np.round(rng.uniform(0.1, 1.0, n), 1),
        "mobile_wt": rng.integers(80, 201, n),
        "n_cores": rng.integers(1, 9, n),
        "pc": rng.integers(0, 21, n),
        "px_height": rng.integers(0, 1961, n),
        "px_width": rng.integers(500, 2000, n),
        "ram": rng.integers(256, 4000, n),
        "sc_h": rng.integers(5, 20, n),
        "sc_w": rng.integers(0, 19, n),
        "talk_time": rng.integers(2, 21, n),
        "three_g": rng.integers(0, 2, n),
        "touch_screen": rng.integers(0, 2, n),
        "wifi": rng.integers(0, 2, n),
    })
    score = (2.0 * (df.ram - 256) / 3744 + 0.35 * (df.battery_power - 500) / 1500
             + 0.25 * df.px_height / 1960 + 0.2 * (df.px_width - 500) / 1500
             + 0.1 * df.four_g + 0.05 * (df.n_cores - 1) / 7 + rng.normal(0, 0.12, n))
    df["price_range"] = np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75]))
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("phones.csv"))
    a = ap.parse_args()
    df = make(a.rows, a.seed)
    df.to_csv(a.out, index=False)
    print(f"wrote {a.out}: {len(df)} rows, classes {df.price_range.value_counts().sort_index().tolist()}")


if __name__ == "__main__":
    main()
