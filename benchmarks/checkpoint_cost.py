"""What checkpoints and TensorBoard logs cost with the shipped defaults vs switched off.

Two runs a user makes, each as a whole `dlhw run` process, the two settings alternating, --repeats
rounds; medians of the training time (metrics.json's train_seconds) and of the whole process:

- S1's largest head on cached features: 128 generated images at 64 px, DenseNet121 (weights null,
  frozen, Flatten: 4096 features) -> Dense(1024) -> Dense(256, relu) -> Dense(1, sigmoid), 50 epochs:
  a 4.5 M-parameter head whose epochs take tens of milliseconds (the worst case: a large state
  written after very short epochs). The feature cache is warmed first, so both sides train only.
- the quickstart (configs/quickstart.yaml as shipped).

Variants: the defaults (checkpoint auto, TensorBoard on); checkpoint off; TensorBoard off; and,
labelled, `checkpoint: every_epoch` (the old default). Targets in training time: defaults /
checkpoint off <= 1.05; defaults / TensorBoard off <= 1.03.

    python benchmarks/checkpoint_cost.py [--repeats 5] [--variants ckpt_off,tb_off] [--cases s1_head]
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

VARIANTS = {  # name: (label, --set overrides)
    "defaults": ("HEADLINE: the shipped defaults (checkpoint auto, TensorBoard on)", []),
    "ckpt_off": ("baseline, not a default: checkpoint off", ["training.checkpoint=off"]),
    "tb_off": ("baseline, not a default: TensorBoard off", ["training.tensorboard=false"]),
    "every_epoch": ("variant, not a default: checkpoint every_epoch (the old default)",
                    ["training.checkpoint=every_epoch"]),
}


def run(config: Path, out: Path, variant: str, env: dict) -> tuple:
    start = time.perf_counter()
    sets = VARIANTS[variant][1]
    subprocess.run([str(BIN / "dlhw"), "run", str(config), "--out", str(out), "--quiet", "--name", "r",
                    *(["--set", *sets] if sets else [])], check=True, cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    metrics = json.loads((out / "r" / "metrics.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return metrics["train_seconds"], seconds


def measure(name: str, config: Path, work: Path, repeats: int, env: dict, names: list) -> None:
    results = {v: [] for v in names}
    for i in range(repeats):
        for variant in (names if i % 2 == 0 else list(reversed(names))):
            results[variant].append(run(config, work / f"{variant}{i}", variant, env))
    med = {v: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for v, rs in results.items()}
    print(f"\n{name}: median of {repeats} (training seconds / whole process seconds)")
    for v in names:
        print(f"  {VARIANTS[v][0]:66s} {med[v][0]:7.2f} s / {med[v][1]:6.2f} s")
    d = med["defaults"]
    if "ckpt_off" in med:
        print(f"  checkpoints: defaults / checkpoint off = {d[0] / med['ckpt_off'][0]:.3f} in training time "
              f"(target <= 1.05), {d[1] / med['ckpt_off'][1]:.3f} whole process")
    if "tb_off" in med:
        print(f"  TensorBoard: defaults / TensorBoard off = {d[0] / med['tb_off'][0]:.3f} in training time "
              f"(target <= 1.03), {d[1] / med['tb_off'][1]:.3f} whole process")
    if "every_epoch" in med and "ckpt_off" in med:
        print(f"  (the old default, every_epoch / checkpoint off = "
              f"{med['every_epoch'][0] / med['ckpt_off'][0]:.3f})")
    print(flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"Comma-separated, 'defaults' always included (of: {', '.join(VARIANTS)}).")
    ap.add_argument("--cases", default="s1_head,quickstart", help="Comma-separated: s1_head, quickstart.")
    args = ap.parse_args()
    names = ["defaults"] + [v for v in args.variants.split(",") if v in VARIANTS and v != "defaults"]
    cases = args.cases.split(",")
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
        if "s1_head" in cases:
            run(config, work / "warm", "ckpt_off", env)  # features computed once, then read by every measured run
            measure("S1 head (4.5 M parameters, 50 epochs on cached features)", config, work, args.repeats, env,
                    names)
        if "quickstart" in cases:
            measure("quickstart", ROOT / "configs" / "quickstart.yaml", work, args.repeats, env, names)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
