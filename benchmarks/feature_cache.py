"""The feature cache: S1's five DenseNet heads with dlhw (a sweep, cache on) vs plain Keras.

Small case (measured): a generated two-class image folder of 128 images at 64x64 (already
split into train/ val/ test/ so both sides see the same split), DenseNet121 with random
weights (weights: null), frozen, Flatten, each head trained 50 epochs, batch 32, Adam 1e-3.

- dlhw: ``dlhw sweep`` over the five heads with a cold feature cache: the backbone's
  features are computed once (first trial) and read back by the other four; each head
  trains on them. Every trial still writes its complete run folder (model.keras is the
  full model) with the shipped defaults: checkpoints (auto), TensorBoard logs, and
  ``--workers auto`` (one worker process per core: two on the 2-core box). ``--also-workers 1``
  also times the trials one after another, printed apart as a variant.
- plain Keras: the frozen DenseNet121 inside each model, the five models trained one after
  another in one process (images preprocessed once into NumPy arrays).

Both sides run as whole processes (TensorFlow start-up included), alternating, --repeats
times; the medians and the ratio are printed (target >= 10x), with each side's test
accuracies. Then the study's real shape (--real-images 800 at 128x128, DenseNet201,
100 epochs): dlhw measured once in full (or, with --real-dlhw-epochs M, M epochs per head
extrapolated conservatively: every further epoch costs the average of the first M, tracing
included); the plain side extrapolated from 2 measured epochs per head (first epoch + 99 x
second epoch); extrapolated figures are labelled so.

    python benchmarks/feature_cache.py [--repeats 3] [--epochs 50] [--skip-real] [--real-dlhw-epochs 5]
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

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# S1's five DenseNet heads, in the study's order (Flatten first, Dense(1, sigmoid) last).
HEADS = [
    [{"type": "dense", "units": 256}],
    [{"type": "dense", "units": 1024}, {"type": "dense", "units": 256, "activation": "relu"}],
    [{"type": "dense", "units": 512}, {"type": "dense", "units": 128, "activation": "sigmoid"}],
    [{"type": "dense", "units": 512}],
    [{"type": "dense", "units": 256}, {"type": "batch_norm"}],
]


# ------------------------------------------------------------------- data
def make_images(root: Path, total: int, size: int, seed: int = 0) -> Path:
    """train/ val/ test/ folders (70/15/15) of two classes with different colour and stripes."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    per_class = total // 2
    n_val = n_test = round(per_class * 0.15)
    for c in range(2):
        for i in range(per_class):
            split = "val" if i < n_val else "test" if i < n_val + n_test else "train"
            folder = root / split / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            img = rng.integers(0, 90, size=(size, size, 3)).astype(np.uint8)
            img[..., c] += 120
            period = 2 + c * 2 + int(rng.integers(0, 2))
            if c:
                img[::period] = 255 - img[::period]
            else:
                img[:, ::period] = 255 - img[:, ::period]
            Image.fromarray(img).save(folder / f"{c}_{i:04d}.png")
    return root


def base_config(data: Path, backbone: str, size: int, epochs: int) -> dict:
    return {
        "name": "s1_heads", "seed": 0, "task": "classification",
        "dataset": {"source": "image_folder", "path": str(data), "image_size": [size, size]},
        "model": {"type": "backbone",
                  "backbone": {"name": backbone, "weights": None, "pooling": "flatten", "trainable": False},
                  "head": HEADS[0], "output": {"units": 1, "activation": "sigmoid"}},
        "training": {"epochs": epochs, "batch_size": 32, "optimizer": {"type": "adam", "learning_rate": 0.001}},
        "evaluation": {"samples": 0},
        "cache": "auto",
    }


# ------------------------------------------------------------------ sides
def side_dlhw(work: Path, data: Path, backbone: str, size: int, epochs: int, workers: int = 0) -> dict:
    """`dlhw sweep` over the five heads with a fresh (cold) feature cache; whole-process wall time."""
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    (work / "base.yaml").write_text(yaml.safe_dump(base_config(data, backbone, size, epochs), sort_keys=False))
    (work / "heads.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.head": HEADS}},
                                                    sort_keys=False))
    env = dict(os.environ, DLHW_CACHE_DIR=str(work / "cache"))
    start = time.perf_counter()
    extra = ["--workers", str(workers)] if workers else []  # 0: the default
    subprocess.run([str(BIN / "dlhw"), "sweep", str(work / "heads.yaml"), "--out", str(work / "runs"), "--quiet",
                    *extra], check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    acc, train, feats = [], [], []
    for m in sorted((work / "runs").rglob("metrics.json")):
        metrics = json.loads(m.read_text())
        acc.append(metrics["test"]["accuracy"])
        train.append(metrics["train_seconds"])  # includes the features computed or read by this trial
        feats.append(metrics["feature_cache"]["seconds"])
    cache = sum(feats)
    if len(acc) != len(HEADS):
        raise SystemExit(f"dlhw sweep wrote {len(acc)} metrics.json files, expected {len(HEADS)}")
    return {"seconds": seconds, "test_accuracy": acc, "train_seconds": train, "feature_seconds": cache,
            "trial_feature_seconds": feats}


def side_plain(data: Path, backbone: str, size: int, epochs: int, measure: int = 0) -> dict:
    """Plain Keras in a child process; ``measure`` > 0 trains that many epochs per head and
    extrapolates to ``epochs`` (first epoch + (epochs - 1) x the last measured one)."""
    cmd = [sys.executable, __file__, "--plain-child", str(data), backbone, str(size), str(epochs), str(measure)]
    start = time.perf_counter()
    res = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_seconds"] = seconds
    # measured: the whole process; extrapolated: the process with each head's epochs stretched
    out["seconds"] = seconds - out["inner_seconds"] + out["extrapolated_inner"] if measure else seconds
    return out


def plain_child(data: Path, backbone: str, size: int, epochs: int, measure: int) -> None:
    """What a notebook does: arrays in memory, the frozen backbone inside every head's model."""
    start = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    from PIL import Image

    keras.utils.set_random_seed(0)
    ctor = {"densenet121": keras.applications.DenseNet121, "densenet201": keras.applications.DenseNet201}[backbone]

    def load(split):
        xs, ys = [], []
        for c in ("0", "1"):
            for f in sorted((data / split / c).iterdir()):
                xs.append(np.asarray(Image.open(f).convert("RGB").resize((size, size)), dtype="float32"))
                ys.append(float(c))
        x = keras.applications.densenet.preprocess_input(np.stack(xs))
        return x, np.array(ys, dtype="float32")

    (xt, yt), (xv, yv), (xs, ys) = load("train"), load("val"), load("test")
    base = ctor(include_top=False, weights=None, input_shape=(size, size, 3))
    base.trainable = False

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    acc, extrapolated = [], time.perf_counter() - start  # setup: imports, images, backbone
    for head in HEADS:
        t0 = time.perf_counter()
        inp = keras.Input((size, size, 3))
        x = keras.layers.Flatten()(base(inp, training=False))
        for layer in head:
            if layer["type"] == "dense":
                x = keras.layers.Dense(layer["units"], activation=layer.get("activation"))(x)
            else:
                x = keras.layers.BatchNormalization()(x)
        model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))
        model.compile(optimizer=keras.optimizers.Adam(0.001), loss="binary_crossentropy", metrics=["accuracy"])
        times: list = []
        model.fit(xt, yt, batch_size=32, epochs=measure or epochs, validation_data=(xv, yv), verbose=0,
                  callbacks=[EpochTimes()])
        acc.append(float(model.evaluate(xs, ys, verbose=0)[1]))
        if measure:
            extrapolated += (time.perf_counter() - t0) - sum(times) + times[0] + (epochs - 1) * times[-1]
    out = {"test_accuracy": acc, "inner_seconds": time.perf_counter() - start, "extrapolated_inner": extrapolated}
    print(json.dumps(out))


# ------------------------------------------------------------------- main
def fmt_acc(values) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def small_case(work: Path, args) -> None:
    """128 images at 64px, DenseNet121: both sides measured, alternating, --repeats times."""
    data = make_images(work / "data", args.images, args.size)
    dl, plain, tuned = [], [], []
    for i in range(args.repeats):
        order = ["dlhw", "plain"] if i % 2 == 0 else ["plain", "dlhw"]
        for side in order:
            if side == "dlhw":
                dl.append(side_dlhw(work / f"dlhw{i}", data, "densenet121", args.size, args.epochs))
            else:
                plain.append(side_plain(data, "densenet121", args.size, args.epochs))
        if args.also_workers:
            tuned.append(side_dlhw(work / f"tuned{i}", data, "densenet121", args.size, args.epochs,
                                   args.also_workers))
        print(f"round {i + 1}: dlhw sweep {dl[-1]['seconds']:.1f}s  plain keras {plain[-1]['seconds']:.1f}s"
              + (f"  (variant --workers {args.also_workers}: {tuned[-1]['seconds']:.1f}s)" if tuned else ""),
              flush=True)
    d = statistics.median(r["seconds"] for r in dl)
    p = statistics.median(r["seconds"] for r in plain)
    print(f"\nS1's five heads, {args.images} images at {args.size}x{args.size}, DenseNet121 (weights null), "
          f"{args.epochs} epochs each; whole processes, median of {args.repeats}:")
    from dlhw.sweeps.executors.resources import auto_workers

    print(f"  dlhw sweep (feature cache, defaults: --workers auto = {auto_workers(len(HEADS), [])})")
    print(f"                                   {d:8.1f} s   test accuracy {fmt_acc(dl[-1]['test_accuracy'])}")
    print(f"  plain keras (backbone in model)  {p:8.1f} s   test accuracy {fmt_acc(plain[-1]['test_accuracy'])}")
    print(f"  ratio                            {p / d:8.1f}x  (target >= 10x)")
    if tuned:
        t = statistics.median(r["seconds"] for r in tuned)
        print(f"  VARIANT, not the default: dlhw sweep --workers {args.also_workers}: {t:.1f} s, "
              f"ratio {p / t:.1f}x")
    last = dl[-1]
    heads = sum(last["train_seconds"]) - last["feature_seconds"]
    print(f"  where dlhw's time went (last round): head training {heads:.1f} s over "
          f"{len(HEADS)} x {args.epochs} epochs, backbone features {last['feature_seconds']:.1f} s (computed "
          f"once, read back by the other trials); the rest is TensorFlow start-up and per-trial fixed "
          f"costs (model build, model.keras, summary, plots)", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-child":
        d, b, s, e, m = sys.argv[2:7]
        plain_child(Path(d), b, int(s), int(e), int(m))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--skip-real", action="store_true", help="Only the small case.")
    ap.add_argument("--also-workers", type=int, default=0,
                    help="Also time the dlhw side with --workers N (printed apart, labelled as a variant).")
    ap.add_argument("--skip-small", action="store_true", help="Only the study's real shape.")
    ap.add_argument("--real-images", type=int, default=800)
    ap.add_argument("--real-epochs", type=int, default=100)
    ap.add_argument("--real-dlhw-epochs", type=int, default=0,
                    help="Train the dlhw side this many epochs per head at the real shape and extrapolate "
                         "(0: the full --real-epochs, measured).")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dlhw-feature-cache-"))
    try:
        if not args.skip_small:
            small_case(work, args)
        if args.skip_real:
            return
        real = make_images(work / "real", args.real_images, 128, seed=1)
        e, m = args.real_epochs, args.real_dlhw_epochs
        r_dl = side_dlhw(work / "real_dlhw", real, "densenet201", 128, m or e)
        label = "measured"
        if m:  # conservative: every epoch costs what the first m did on average (tracing included)
            # the features are computed once whatever the epochs: only head training is stretched
            r_dl["seconds"] += sum((t - f) / m * (e - m)
                                   for t, f in zip(r_dl["train_seconds"], r_dl["trial_feature_seconds"]))
            label = f"EXTRAPOLATED from {m} epochs/head"
        r_plain = side_plain(real, "densenet201", 128, e, measure=2)
        print(f"\nthe study's shape: {args.real_images} images at 128x128, DenseNet201 (weights null), "
              f"{e} epochs per head, five heads:")
        print(f"  dlhw sweep (feature cache), {label}: {r_dl['seconds']:.1f} s "
              f"(backbone features {r_dl['feature_seconds']:.1f} s, once)")
        print(f"  plain keras, EXTRAPOLATED from 2 epochs/head: {r_plain['seconds']:.1f} s "
              f"(the 2-epoch process took {r_plain['process_seconds']:.1f} s)")
        print(f"  ratio ({'extrapolated' if m else 'plain side extrapolated'}): "
              f"{r_plain['seconds'] / r_dl['seconds']:.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
