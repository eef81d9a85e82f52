"""dlhw sweep with the defaults (--workers auto: one worker per core) vs --workers 1: S5's
MLP layers sweep (configs/mlp_layers/, 8 trials) on scikit-learn digits.

Both sides run the same `dlhw sweep` command line (a fresh process each time,
so TensorFlow's import is paid on both sides), alternating;
each prints its wall time; the median of each side and the ratio come last.
Target on a 2-core machine: >= 1.7x.

    python benchmarks/sweep_parallel.py [--repeats 3] [--epochs 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SWEEP = """\
base: {base}
training:
  epochs: {epochs}
grid:
  training.optimizer.learning_rate: [0.002, 0.0015, 0.001, 0.0008, 0.0006, 0.0005, 0.0004, 0.0003]
"""


def dlhw() -> list[str]:
    exe = Path(sys.executable).with_name("dlhw")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dlhw.cli"]


def one(sweep: Path, out: Path, workers: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree) of one sweep; workers 'auto': no flag."""
    shutil.rmtree(out, ignore_errors=True)
    cpu0 = _children_cpu()
    start = time.perf_counter()
    flag = [] if workers == "auto" else ["--workers", workers]
    res = subprocess.run(dlhw() + ["sweep", str(sweep), "--out", str(out), *flag, "--quiet",
                                   "--device", "cpu"], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"dlhw sweep --workers {workers} failed:\n{res.stdout}\n{res.stderr}")
    return elapsed, _children_cpu() - cpu0


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per side (median reported)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs per trial of --lr-sweep")
    ap.add_argument("--lr-sweep", action="store_true",
                    help="instead of S5's layers sweep: 8 learning rates of the quickstart MLP, --epochs each, "
                         "shipped defaults otherwise (the shortest trials: start-up weighs most)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.lr_sweep:
            sweep = tmp / "bench.yaml"
            sweep.write_text(SWEEP.format(base=REPO / "configs" / "quickstart.yaml", epochs=args.epochs))
            what = f"8 learning rates x {args.epochs} epochs of the quickstart's digits MLP (defaults otherwise)"
        else:
            sweep = REPO / "configs" / "mlp_layers" / "mlp_layers.yaml"
            what = "configs/mlp_layers/ as shipped (S5: 3 to 10 hidden layers of 256, 20 epochs each, digits)"
        from dlhw.sweeps.executors.resources import auto_workers

        n = auto_workers(8, [])
        times: dict[str, list[float]] = {"1": [], "auto": []}
        for i in range(args.repeats):
            for workers in (("1", "auto") if i % 2 == 0 else ("auto", "1")):
                t, cpu = one(sweep, tmp / f"runs{workers}", workers)
                times[workers].append(t)
                print(f"run {i + 1}: --workers {workers}: {t:6.1f} s wall, {cpu:6.1f} s CPU "
                      f"({cpu / t:.2f} cores busy; load average {os.getloadavg()[0]:.1f})", flush=True)
            print(f"run {i + 1}: speed-up {times['1'][-1] / times['auto'][-1]:.2f}x", flush=True)
    m1, m2 = statistics.median(times["1"]), statistics.median(times["auto"])
    rounds = [a / b for a, b in zip(times["1"], times["auto"])]
    print(f"\n{what}, median of {args.repeats}:")
    print(f"  defaults (--workers auto = {n}): {m2:6.1f} s")
    print(f"  --workers 1 (one after another): {m1:6.1f} s")
    print(f"  speed-up   : {m1 / m2:5.2f}x (target >= 1.7x on 2 cores)")
    print(f"  per round  : {', '.join(f'{r:.2f}' for r in rounds)} (median {statistics.median(rounds):.2f}x; "
          f"each round's two sweeps ran back to back, so a slow spell of the machine weighs on both)")
    print("The cores-busy figures show how much of the machine each side got: a load average above the core "
          "count means other processes shared it, and the speed-up is then not the one a quiet machine gives.")


if __name__ == "__main__":
    main()
