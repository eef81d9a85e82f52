"""dlhw's overhead: `dlhw run configs/quickstart.yaml` vs the same experiment as a plain Keras script.

Both run as whole processes (TensorFlow start-up included), alternating, each
--repeats times; prints the medians and the ratio (target <= 1.05, never above
1.15). Also times `dlhw --help` (target < 0.2 s).

    python benchmarks/overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    dlhw = str(BIN / "dlhw")
    work = Path(tempfile.mkdtemp(prefix="dlhw-overhead-"))
    try:
        help_times = [timed([dlhw, "--help"]) for _ in range(7)]
        dl, plain = [], []
        for i in range(args.repeats):
            pair = [
                ("dlhw", [dlhw, "run", "configs/quickstart.yaml", "--out", str(work / f"d{i}"), "--quiet"]),
                ("plain", [sys.executable, "benchmarks/plain_quickstart.py", str(work / f"p{i}")]),
            ]
            if i % 2:
                pair.reverse()
            for name, cmd in pair:
                (dl if name == "dlhw" else plain).append(timed(cmd))
            print(f"round {i + 1}: dlhw {dl[-1]:.2f}s  plain keras {plain[-1]:.2f}s", flush=True)
        d, p = statistics.median(dl), statistics.median(plain)
        print(f"\nquickstart, whole process, median of {args.repeats}:")
        print(f"  dlhw run     {d:.2f} s")
        print(f"  plain keras  {p:.2f} s")
        print(f"  ratio        {d / p:.3f}  (target <= 1.05, never above 1.15)")
        print(f"dlhw --help    {statistics.median(help_times) * 1000:.0f} ms median of 7 (target < 200 ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
