"""Features larger than memory: peak RSS of a frozen-backbone run at 2,000 vs 16,000 images.

Each case is one whole ``dlhw run`` process (a child of this script); its peak resident
memory is ``ru_maxrss`` from ``os.wait4`` (the child's own rusage). The images are
generated: two classes, 64x64 PNGs in one folder per class (dlhw splits them 70/15/15).
Model: MobileNetV2 with random weights (weights: null), frozen, ``pooling: flatten``:
2x2x1280 = 5,120 floats (20 KB) per image at 64x64, then a Dense(16) head, 2 epochs,
batch 64, a cold feature cache per case.

Memory budget: ``DLHW_CACHE_MEMORY=64MB`` (both caches). 2,000 images' features are
40 MB (train 28 MB): under the budget, they are held in memory and trained with
training.array_fit. 16,000 images' features are 320 MB: over the budget, they are
streamed to the cache during the backbone pass and read from disk through tf.data
(their decoded images, 196 MB, also go to the disk image cache). Before this change
the 16,000-image features were concatenated, saved, and copied into a tf.constant:
several copies of 320 MB. Target: the 16,000-image peak at most 1.3x the 2,000-image one.

Measured on the shared 2-core VM (one round each): 2,000 images 1,337 MB, 16,000 images
1,390 MB: 1.04x (the code before this change: 1,390 MB vs 2,144 MB, 1.54x). At --scale 0.25:
1,301 vs 1,344 MB, 1.03x (before: 1.13x).

``--scale 0.25`` runs 500 vs 4,000 images with the budget scaled the same way (16 MB),
for a shared machine: the ratio is what is compared.

    python benchmarks/scale_features.py [--scale 1.0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SIZE = 64


def make_images(root: Path, total: int, seed: int = 0) -> Path:
    """Two class folders of ``total`` 64x64 PNGs with different colour and stripes."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(2):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(total // 2):
            img = rng.integers(0, 90, size=(SIZE, SIZE, 3)).astype(np.uint8)
            img[..., c] += 120
            if c:
                img[::3] = 255 - img[::3]
            else:
                img[:, ::3] = 255 - img[:, ::3]
            Image.fromarray(img).save(folder / f"{i:05d}.png")
    return root


def config(data: Path) -> dict:
    return {
        "name": "scale", "seed": 0,
        "dataset": {"source": "image_folder", "path": str(data), "image_size": [SIZE, SIZE]},
        "model": {"type": "backbone",
                  "backbone": {"name": "mobilenet_v2", "weights": None, "pooling": "flatten"},
                  "head": [{"type": "dense", "units": 16, "activation": "relu"}]},
        "training": {"epochs": 2, "batch_size": 64},
        "evaluation": {"samples": 0},
    }


def peak_rss(work: Path, images: int, budget_mb: int) -> dict:
    """Generate the images, run dlhw in a child process, return its peak RSS and what it did."""
    import yaml

    data = make_images(work / f"img{images}", images)
    cfg = work / f"scale{images}.yaml"
    cfg.write_text(yaml.safe_dump(config(data)))
    env = {**os.environ, "DLHW_CACHE_DIR": str(work / f"cache{images}"), "DLHW_CACHE_MEMORY": f"{budget_mb}MB",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "dlhw"), "run", str(cfg), "--out", str(work / f"runs{images}"), "-q",
                             "--device", "cpu"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"dlhw run failed on {images} images:\n{err.decode()[-3000:]}")
    metrics = json.loads((work / f"runs{images}" / "scale" / "metrics.json").read_text())
    return {"images": images, "peak_rss_mb": usage.ru_maxrss / 1024, "seconds": time.perf_counter() - start,
            "on_disk": metrics["feature_cache"].get("on_disk", []), "test_accuracy": metrics["test"]["accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of 2,000 / 16,000 images and of the budget")
    ap.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one, removed)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="dlhw-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    small, large = int(2000 * args.scale), int(16000 * args.scale)
    budget = max(1, round(64 * args.scale))
    try:
        rows = [peak_rss(work, n, budget) for n in (small, large)]
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"frozen MobileNetV2, flatten pooling, {SIZE}x{SIZE}, DLHW_CACHE_MEMORY={budget}MB (scale {args.scale:g})")
    for r in rows:
        print(f"  {r['images']:>6} images: peak RSS {r['peak_rss_mb']:7.0f} MB, {r['seconds']:6.1f}s, "
              f"features on disk: {', '.join(r['on_disk']) or 'none'}, test accuracy {r['test_accuracy']:.3f}")
    ratio = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    print(f"peak RSS ratio {large} / {small} images: {ratio:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
