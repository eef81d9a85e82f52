"""Scale (issue 19): ratios and growth, not absolute times.

(a) A completed run folder's size vs its model.keras plus its figures (*.png): the quickstart
    (configs/quickstart.yaml, --epochs 3). Target <= 1.3x.
(b) `dlhw report` at 100 vs 1,000 run folders, each a whole `dlhw report` process: the folders are
    copies of (a)'s real run folder (what the report reads: status.json, config.yaml, metrics.json,
    history.csv, confusion_matrix.png; not model.keras, which it never opens), in one sweep folder
    with a sweep.json, their val/test accuracies and curves varied per copy. Targets: time ratio
    <= 12x, report.html <= 25 MB at 1,000.
(c) A tiny sweep (digits, 300 samples, 1 epoch; --trials, default 200) run in this process: the time
    spent in sweep.json bookkeeping per finished trial (Manifest.update from the trial's result),
    first 20 vs last 20 trials: flat means the ratio stays near 1.
(d) benchmarks/scale_features.py (part A: peak RSS of the feature pass), when it exists, run as a
    subprocess and its output printed.

    python benchmarks/scale.py [--trials 200] [--skip a,b,c,d]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DLHW = [str(BIN / "dlhw")] if (BIN / "dlhw").exists() else [sys.executable, "-m", "dlhw.cli"]
ENV = dict(os.environ, DLHW_THREADS=os.environ.get("DLHW_THREADS", "2"))
TINY = {"name": "tiny", "seed": 0, "dataset": {"source": "sklearn", "name": "digits", "max_samples": 300},
        "model": {"type": "mlp", "layers": [{"units": 16}]},
        "training": {"epochs": 1, "batch_size": 64}}
REPORT_READS = ("status.json", "config.yaml", "metrics.json", "history.csv", "confusion_matrix.png")


def mb(n: float) -> str:
    return f"{n / 2 ** 20:.2f} MB"


def tree_bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


# ------------------------------------------------------------------ (a)
def run_folder_size(work: Path) -> Path:
    subprocess.run([*DLHW, "run", str(ROOT / "configs" / "quickstart.yaml"), "--out", str(work), "--name", "qs",
                    "--quiet", "--set", "training.epochs=3"], check=True, env=ENV, cwd=ROOT)
    run = work / "qs"
    total, model = tree_bytes(run), (run / "model.keras").stat().st_size
    figures = tree_bytes(run, "*.png")
    ratio = total / (model + figures)
    print(f"(a) completed quickstart run folder: {mb(total)}; model.keras {mb(model)} + figures {mb(figures)}; "
          f"ratio {ratio:.2f}x (target <= 1.3x) {'OK' if ratio <= 1.3 else 'MISSED'}")
    print(f"    files: {', '.join(sorted(p.relative_to(run).as_posix() for p in run.rglob('*') if p.is_file()))}")
    return run


# ------------------------------------------------------------------ (b)
def fake_sweep(real: Path, dest: Path, n: int, seed: int = 0) -> Path:
    """``n`` copies of ``real`` (the files a report reads) with varied metrics and curves."""
    rng = random.Random(seed)
    base_metrics = json.loads((real / "metrics.json").read_text())
    history = (real / "history.csv").read_text().splitlines()
    head, rows = history[0].split(","), [r.split(",") for r in history[1:]]
    trials = []
    for i in range(n):
        name = f"lr-{i:04d}"
        run = dest / name
        run.mkdir(parents=True)
        for f in ("status.json", "config.yaml", "confusion_matrix.png"):
            if (real / f).exists():
                shutil.copy2(real / f, run / f)
        shift = rng.uniform(-0.2, 0.05)
        m = json.loads(json.dumps(base_metrics))
        for split in ("val", "test"):
            if isinstance(m.get(split), dict) and "accuracy" in m[split]:
                m[split]["accuracy"] = max(0.0, min(1.0, m[split]["accuracy"] + shift))
        (run / "metrics.json").write_text(json.dumps(m))
        out_rows = [",".join(head)]
        for r in rows:
            r = list(r)
            for j, col in enumerate(head):
                if col in ("val_accuracy", "accuracy"):
                    r[j] = str(max(0.0, min(1.0, float(r[j]) + shift)))
            out_rows.append(",".join(r))
        (run / "history.csv").write_text("\n".join(out_rows) + "\n")
        trials.append({"name": name, "group": name, "varied": {"training.optimizer.learning_rate": i},
                       "label": f"learning_rate={i}", "status": "completed", "run_dir": name})
    (dest / "sweep.json").write_text(json.dumps({"name": dest.name, "varied_keys": ["training.optimizer.learning_rate"],
                                                 "trials": trials}))
    return dest


def report_scaling(real: Path, work: Path) -> None:
    results = {}
    for n in (100, 1000):
        sweep = fake_sweep(real, work / f"sweep{n}", n)
        out = work / f"report{n}"
        start = time.perf_counter()
        subprocess.run([*DLHW, "report", str(sweep), "--out", str(out)], check=True, env=ENV, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        results[n] = (time.perf_counter() - start, (out / "report.html").stat().st_size)
        print(f"(b) dlhw report on {n} run folders: {results[n][0]:.1f} s, report.html {mb(results[n][1])}")
    ratio = results[1000][0] / results[100][0]
    size = results[1000][1]
    print(f"    time 1,000 / 100: {ratio:.1f}x (target <= 12x) {'OK' if ratio <= 12 else 'MISSED'}; "
          f"report.html at 1,000: {mb(size)} (target <= 25 MB) {'OK' if size <= 25 * 2 ** 20 else 'MISSED'}")


# ------------------------------------------------------------------ (c)
def sweep_bookkeeping(work: Path, trials: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from dlhw.sweeps import build_plan
    from dlhw.sweeps.engine import run_sweep
    from dlhw.sweeps.manifest import Manifest

    (work / "base.yaml").write_text(yaml.safe_dump(TINY))
    seeds = list(range(trials))
    (work / "grid.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"seed": seeds}}))
    plan = build_plan(work / "grid.yaml")
    spent = []
    update = Manifest.update

    def timed(self, name, **fields):
        start = time.perf_counter()
        update(self, name, **fields)
        if "train_seconds" in fields:  # a finished trial's result (not the queued / interrupted marks)
            spent.append(time.perf_counter() - start)

    Manifest.update = timed
    try:
        start = time.perf_counter()
        outcome = run_sweep(plan, work / "runs", workers=1, device="cpu", echo=lambda s: None)
    finally:
        Manifest.update = update
    took = time.perf_counter() - start
    first, last = statistics.mean(spent[:20]) * 1e3, statistics.mean(spent[-20:]) * 1e3
    print(f"(c) {trials}-trial tiny sweep ({took:.0f} s, {len(outcome.failed)} failed): sweep.json bookkeeping per "
          f"finished trial: first 20 {first:.3f} ms, last 20 {last:.3f} ms, ratio {last / first:.2f} "
          f"(flat: near 1); sweep folder {mb(outcome.disk_bytes)} on disk")


# ------------------------------------------------------------------ (d)
def features_hook() -> None:
    script = Path(__file__).with_name("scale_features.py")
    if not script.exists():
        print("(d) benchmarks/scale_features.py not there yet (part A): no RSS figure")
        return
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=ENV, cwd=ROOT)
    print(f"(d) {script.name} (exit {res.returncode}):\n{res.stdout}{res.stderr[-2000:] if res.returncode else ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200, help="trials of (c)'s sweep (default 200)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c,d")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="dlhw-scale-") as tmp:
        work = Path(tmp)
        real = run_folder_size(work / "a") if not ({"a", "b"} <= skip) else None
        if "b" not in skip:
            report_scaling(real, work / "b")
        if "c" not in skip:
            (work / "c").mkdir()
            sweep_bookkeeping(work / "c", args.trials)
        if "d" not in skip:
            features_hook()


if __name__ == "__main__":
    main()
