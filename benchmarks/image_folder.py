"""Image folders with the shipped defaults: S3's small CNN, `dlhw run` vs a plain Keras script.

Data: data/make_images.py's two classes of shapes at 256x256 (the issue's case: 3000 images).
Model: configs/small_cnn_sequential.yaml as shipped (Rescaling -> 3 x [Conv2D relu -> BatchNorm ->
MaxPool] -> Flatten -> Dense(128) -> Dropout -> Dense(1, sigmoid), Adam 1e-3, batch 32, 80/20 split),
only the data path and the epochs set.

- dlhw: `dlhw run` with every default (checkpoints auto, TensorBoard on, the decoded-image cache).
- plain Keras: `keras.utils.image_dataset_from_directory` (validation_split 0.2) with `.prefetch`,
  the same model built by hand, `fit`, `evaluate` on the validation split, `model.save`.

Both run as whole processes, alternating, --repeats times: medians and the ratio (target <= 1.0).
Then, in one process each: the fraction of step time spent waiting for input, for dlhw's training
pipeline and for the plain one: K training steps fed by the pipeline vs K steps on one batch already
in memory, (t_pipeline - t_in_memory) / t_pipeline (target < 5%). Then the peak RSS of `dlhw run`
(1 epoch) at --rss-images (3000 and 12000 by default): past the memory budget the decoded images
live in the disk cache (target: the larger no more than 1.2x the smaller).

    python benchmarks/image_folder.py [--images 3000] [--epochs 10] [--repeats 3] [--rss-images 3000 12000]
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
CONFIG = ROOT / "configs" / "small_cnn_sequential.yaml"


def make_data(folder: Path, images: int, size: int) -> Path:
    if not folder.exists():
        subprocess.run([sys.executable, str(ROOT / "data" / "make_images.py"), "--out", str(folder),
                        "--per-class", str(images // 2), "--size", str(size)], check=True, stdout=subprocess.DEVNULL)
    return folder


def run_timed(cmd, env=None) -> tuple:
    """(seconds, peak RSS in MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def dlhw_cmd(data: Path, out: Path, epochs: int) -> list:
    return [str(BIN / "dlhw"), "run", str(CONFIG), "--out", str(out), "--quiet",
            "--set", f"dataset.path={data}", f"training.epochs={epochs}"]


def plain_cmd(data: Path, out: Path, epochs: int) -> list:
    return [sys.executable, __file__, "--plain-child", str(data), str(out), str(epochs)]


# ------------------------------------------------------------------ the plain side
def build_model(keras):
    layers = keras.layers
    model = keras.Sequential([keras.Input((256, 256, 3)), layers.Rescaling(1 / 255)])
    for filters in (32, 64, 128):
        model.add(layers.Conv2D(filters, 3, padding="same", activation="relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    model.add(layers.Dense(128, activation="relu"))
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def plain_datasets(keras, tf, data: Path):
    train, val = keras.utils.image_dataset_from_directory(
        str(data), validation_split=0.2, subset="both", seed=42, image_size=(256, 256), batch_size=32,
        label_mode="binary")
    return train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)


def plain_child(data: Path, out: Path, epochs: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(42)
    train, val = plain_datasets(keras, tf, data)
    model = build_model(keras)
    model.fit(train, validation_data=val, epochs=epochs, verbose=0)
    model.evaluate(val, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    os._exit(0)  # like dlhw: no interpreter teardown


# ------------------------------------------------------------------ input wait
def wait_child(data: Path, steps: int) -> None:
    """Print the input-wait fractions of dlhw's pipeline and of the plain one (JSON)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from dlhw.config import load_config
    from dlhw.data import image_cache, load_dataset
    from dlhw.models import build_model as dlhw_model
    from dlhw.models.outputs import encode_labels, make_loss, make_metrics
    from dlhw.runtime.tfruntime import setup_runtime
    from dlhw.training.epoch_data import seeded_epochs

    cfg = load_config(CONFIG, [f"dataset.path={data}"])
    setup_runtime("auto", cfg.seed)
    import keras
    import tensorflow as tf

    image_cache.configure(True, None)
    dataset = load_dataset(cfg)
    train = dataset.splits["train"]

    def fraction(model, ds) -> float:
        it = iter(ds)
        batch = next(it)
        model.train_on_batch(*batch)  # traced and warm
        for _ in range(3):
            model.train_on_batch(*next(it))
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(*next(it))
        fed = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(*batch)
        ideal = time.perf_counter() - start
        return max(0.0, (fed - ideal) / fed), fed / steps

    model, spec = dlhw_model(cfg, dataset)
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss=make_loss(spec), metrics=make_metrics(spec))
    y = encode_labels(train.y, spec)
    ds = seeded_epochs(None, y, 32, cfg.seed, 0, 50, True, files=train.files, image_size=[256, 256], channels=3)
    dl, dl_step = fraction(model, ds.dataset)  # the store is filled (decoded once) before the first batch
    plain_train, _ = plain_datasets(keras, tf, data)
    pl, pl_step = fraction(build_model(keras), plain_train.repeat())
    print(json.dumps({"dlhw": dl, "dlhw_step": dl_step, "plain": pl, "plain_step": pl_step,
                      "store": [s.kind for s in image_cache.stores()]}))


# ------------------------------------------------------------------ main
def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-child":
        plain_child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--wait-child":
        wait_child(Path(sys.argv[2]), int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--wait-steps", type=int, default=30)
    ap.add_argument("--rss-images", type=int, nargs="*", default=[3000, 12000])
    ap.add_argument("--work", type=Path, default=None, help="keep generated data here (default: a temp folder)")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--rss-budget", default=None,
                    help="DLHW_CACHE_MEMORY for the RSS runs (default: the shipped budget); for scaled-down "
                         "sizes, scale the budget with them (printed with the figures)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="dlhw-image-folder-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DLHW_CACHE_DIR=str(work / "cache"))
    try:
        data = make_data(work / f"data{args.images}", args.images, 256)
        if not args.skip_timing:
            dl, plain = [], []
            for i in range(args.repeats):
                order = ["dlhw", "plain"] if i % 2 == 0 else ["plain", "dlhw"]
                for side in order:
                    out = work / f"out_{side}{i}"
                    cmd = dlhw_cmd(data, out, args.epochs) if side == "dlhw" else plain_cmd(data, out, args.epochs)
                    (dl if side == "dlhw" else plain).append(run_timed(cmd, env)[0])
                    shutil.rmtree(out, ignore_errors=True)
                print(f"round {i + 1}: dlhw run {dl[-1]:.1f}s  plain keras {plain[-1]:.1f}s", flush=True)
            d, p = statistics.median(dl), statistics.median(plain)
            print(f"\nS3 small CNN, {args.images} images at 256x256, {args.epochs} epochs; whole processes, "
                  f"median of {args.repeats}, shipped defaults:")
            print(f"  dlhw run                                   {d:8.1f} s")
            print(f"  plain keras (image_dataset_from_directory)  {p:8.1f} s")
            print(f"  ratio dlhw / plain                          {d / p:8.3f}  (target <= 1.0)", flush=True)
            res = subprocess.run([sys.executable, __file__, "--wait-child", str(data), str(args.wait_steps)],
                                 cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            w = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"  input wait, share of step time: dlhw {w['dlhw'] * 100:.1f}% ({w['dlhw_step'] * 1000:.0f} ms/step, "
                  f"images from the {'/'.join(w['store'])} store; target < 5%), plain keras {w['plain'] * 100:.1f}% "
                  f"({w['plain_step'] * 1000:.0f} ms/step)", flush=True)
        rss = []
        rss_env = dict(env, DLHW_CACHE_MEMORY=args.rss_budget) if args.rss_budget else env
        if args.rss_images:
            print(f"  peak RSS, memory budget {args.rss_budget or 'as shipped (the smaller of 2 GiB and 10% of RAM)'}:")
        for n in args.rss_images:
            folder = make_data(work / f"data{n}", n, 256)
            seconds, mb = run_timed(dlhw_cmd(folder, work / f"rss{n}", 1), rss_env)
            stores = sorted((work / "cache" / "images").rglob("*.u8")) if (work / "cache").exists() else []
            rss.append(mb)
            print(f"  peak RSS of `dlhw run` (1 epoch) on {n} images: {mb:.0f} MB ({seconds:.0f} s; "
                  f"decoded images {n * 256 * 256 * 3 / 2 ** 20:.0f} MB; disk cache entries so far: {len(stores)})",
                  flush=True)
            shutil.rmtree(work / f"rss{n}", ignore_errors=True)
        if len(rss) >= 2:
            print(f"  RSS ratio {args.rss_images[-1]} vs {args.rss_images[0]} images: {rss[-1] / rss[0]:.2f}x "
                  f"(target <= 1.2x once the disk cache is in use)")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
