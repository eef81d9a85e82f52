"""What checkpoints cost with the shipped default (`training.checkpoint: auto`) vs `checkpoint: off`.

Two runs a user makes, each as a whole `dlhw run` process, the two settings alternating, --repeats
rounds; medians of the training time (metrics.json's train_seconds) and of the whole process:

- S1's largest head on cached features: 128 generated images at 64 px, DenseNet121 (weights null,
  frozen, Flatten: 4096 features) -> Dense(1024) -> Dense(256, relu) -> Dense(1, sigmoid), 50 epochs:
  a 4.5 M-parameter head whose epochs take tens of milliseconds (the worst case: a large state
  written after very short epochs). The feature cache is warmed first, so both sides train only.
- the quickstart (configs/quickstart.yaml as shipped).

Target: default / off <= 1.05 in training time. `every_epoch` (the old default) is printed beside
them, labelled, for comparison.

    python benchmarks/checkpoint_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
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
sys.path.insert(0, str(Path(__file__).parent))

POLICIES = ["auto", "off", "every_epoch"]


def run(config: Path, out: Path, policy: str, env: dict) -> tuple:
    start = time.perf_counter()
    subprocess.run([str(BIN / "dlhw"), "run", str(config), "--out", str(out), "--quiet", "--name", "r",
                    "--set", f"training.checkpoint={policy}"], check=True, cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    metrics = json.loads((out / "r" / "metrics.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return metrics["train_seconds"], seconds


def measure(name: str, config: Path, work: Path, repeats: int, env: dict) -> None:
    results = {p: [] for p in POLICIES}
    for i in range(repeats):
        order = POLICIES if i % 2 == 0 else list(reversed(POLICIES))
        for policy in order:
            results[policy].append(run(config, work / f"{name}_{policy}{i}", policy, env))
    med = {p: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for p, rs in results.items()}
    print(f"\n{name}: median of {repeats} (training seconds / whole process seconds)")
    for policy in POLICIES:
        label = {"auto": "auto (the default)", "off": "off", "every_epoch": "every_epoch (the old default)"}[policy]
        print(f"  checkpoint {label:32s} {med[policy][0]:7.2f} s / {med[policy][1]:6.2f} s")
    print(f"  ratio default / off: training {med['auto'][0] / med['off'][0]:.3f} (target <= 1.05), "
          f"whole process {med['auto'][1] / med['off'][1]:.3f}; every_epoch / off: training "
          f"{med['every_epoch'][0] / med['off'][0]:.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import feature_cache as fc

    work = Path(tempfile.mkdtemp(prefix="dlhw-ckpt-cost-"))
    env = dict(os.environ, DLHW_CACHE_DIR=str(work / "cache"))
    try:
        data = fc.make_images(work / "data", 128, 64)
        cfg = fc.base_config(data, "densenet121", 64, 50)
        cfg["model"]["head"] = fc.HEADS[1]
        cfg["name"] = "s1_head"
        config = work / "s1_head.yaml"
        config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        run(config, work / "warm", "off", env)  # features computed once, then read by every measured run
        measure("S1 head (4.5 M parameters, 50 epochs on cached features)", config, work, args.repeats, env)
        measure("quickstart", ROOT / "configs" / "quickstart.yaml", work, args.repeats, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
