"""GPU throughput: images per second, dlhw vs plain Keras, float32 vs mixed vs mixed + XLA.

Run it on a GPU machine (a few minutes in all); ``--small`` runs the same steps at tiny
sizes, on CPU too, to know the script works before it meets a GPU.

- ResNet50 at 224 px from scratch (S2 a: ``weights: null``, the whole network trained) and
  fine-tuning conv5 (S2 d: a frozen ResNet50 with ``unfreeze: {from_block: conv5}``; random
  weights, as the GPU box may be offline: the arithmetic is the same as with imagenet's), each
  in three modes: float32 (``jit_compile: false``), mixed (``precision: mixed_float16``) and
  mixed + XLA (``jit_compile: true``). dlhw: ``run_experiment`` on a generated image folder
  with the shipped defaults (image cache, checkpoints auto, TensorBoard on). Plain Keras: the
  same network (keras.applications.ResNet50 + global average pooling + Dense), the same
  optimizer, policy and jit_compile, trained by ``Model.fit`` on the decoded images in memory
  (tf.data, prefetch) without op determinism (what a hand-written script does; dlhw keeps
  determinism on unless XLA is on). Images/s = training images / the median epoch time after
  the first (tracing and XLA compilation excluded), validation (a tenth of the images) included
  on both sides.
- The DenseNet201 feature-cache pass at 128 px (S1): images/s of dlhw's backbone pass into a
  cold cache (metrics.json feature_cache.seconds) vs plain ``Model.predict`` at batch 64, in
  float32 and mixed.
- The image-folder pipeline's wait fraction: the same plain ResNet50 (mixed + XLA, the fastest
  compute, so the most input-bound) trained on dlhw's image pipeline
  (dlhw.training.epoch_data.seeded_epochs over the files, image cache on) and on those very
  batches pre-materialised in memory; wait = 1 - t_memory / t_pipeline (target < 5%).

Targets (issue 18): dlhw within 5% of plain Keras in each mode; mixed + XLA >= 2x float32 on
ResNet50 training on a modern GPU; input wait < 5%.

    python benchmarks/gpu.py [--small] [--images 512] [--epochs 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MODES = {"float32": ("float32", False), "mixed": ("mixed_float16", False), "mixed+xla": ("mixed_float16", True)}


# ------------------------------------------------------------------- data
def make_images(root: Path, train: int, size: int, seed: int = 0) -> Path:
    """train/ (``train`` images: whole batches, no retracing for a last partial one), val/ (a
    tenth of that) and test/ (2 images) folders of two classes."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    n_val = max(1, train // 20)
    for c in range(2):
        for i in range(train // 2 + n_val + 1):
            split = "test" if i < 1 else "val" if i < 1 + n_val else "train"
            folder = root / split / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            img = rng.integers(0, 90, size=(size, size, 3)).astype(np.uint8)
            img[..., c] += 120
            Image.fromarray(img).save(folder / f"{c}_{i:05d}.png")
    return root


def load_arrays(root: Path, split: str, size: int):
    import numpy as np
    from PIL import Image

    files = sorted((root / split).rglob("*.png"))
    x = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size)), dtype=np.float32) for f in files])
    y = np.array([int(f.parent.name) for f in files], dtype=np.float32).reshape(-1, 1)
    return x, y


def steady(times) -> float:
    """Median epoch seconds after the first (tracing, XLA compilation)."""
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


# ------------------------------------------------------------------- dlhw
def dlhw_config(data: Path, size: int, batch: int, epochs: int, mode: str, case: str) -> dict:
    precision, xla = MODES[mode]
    backbone = {"name": "resnet50", "weights": None, "pooling": "avg", "trainable": case == "scratch"}
    if case == "densenet_features":
        backbone = {"name": "densenet201", "weights": None, "pooling": "avg", "trainable": False}
    training = {"batch_size": batch, "precision": precision, "jit_compile": xla,
                "optimizer": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.9}}
    if case == "conv5":
        training["stages"] = [{"name": "conv5", "epochs": epochs, "unfreeze": {"from_block": "conv5"}}]
    else:
        training["epochs"] = epochs
    return {"name": f"{case}_{mode}".replace("+", "_"), "seed": 0,
            "dataset": {"source": "image_folder", "path": str(data), "image_size": [size, size]},
            "model": {"type": "backbone", "backbone": backbone, "output": {"units": 1, "activation": "sigmoid"}},
            "training": training, "evaluation": {"samples": 0}}


def dlhw_epochs(work: Path, config: dict, device: str) -> tuple:
    """(epoch seconds, metrics) of one dlhw run (in this process)."""
    from dlhw.config import validate
    from dlhw.orchestration.experiment import run_experiment

    stamps = [time.perf_counter()]
    outcome = run_experiment(validate(config), out=work / "runs", quiet=True, device=device,
                             cache_dir=work / "cache", on_epoch=lambda row: stamps.append(time.perf_counter()))
    return [b - a for a, b in zip(stamps[1:], stamps[2:])] or [stamps[-1] - stamps[0]], outcome.metrics


# ------------------------------------------------------------------- plain Keras
def plain_resnet(size: int, case: str, precision: str, xla: bool):
    import keras

    keras.config.set_dtype_policy(precision)
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
    if case == "conv5":
        for layer in base.layers:
            layer.trainable = layer.name.startswith("conv5")
    inp = keras.Input((size, size, 3))
    x = keras.ops.flip(inp, axis=-1) - keras.ops.convert_to_tensor([103.939, 116.779, 123.68])  # caffe mode
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    out = keras.layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="binary_crossentropy",
                  metrics=["accuracy"], jit_compile=xla)
    keras.config.set_dtype_policy("float32")
    return model


class EpochTimer:
    def __init__(self):
        import keras

        class _T(keras.callbacks.Callback):
            def on_epoch_begin(s, epoch, logs=None):
                s.t = time.perf_counter()

            def on_epoch_end(s, epoch, logs=None):
                self.times.append(time.perf_counter() - s.t)

        self.times: list = []
        self.callback = _T()


def plain_epochs(train, val, size: int, batch: int, epochs: int, case: str, mode: str) -> list:
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    tf_config.disable_op_determinism()  # a plain script does not ask for it (dlhw's setup turns it on again)
    precision, xla = MODES[mode]
    model = plain_resnet(size, case, precision, xla)
    ds = tf.data.Dataset.from_tensor_slices(train).shuffle(len(train[0]), seed=0).batch(batch).prefetch(-1)
    vds = tf.data.Dataset.from_tensor_slices(val).batch(batch).prefetch(-1)
    timer = EpochTimer()
    model.fit(ds, validation_data=vds, epochs=epochs, verbose=0, callbacks=[timer.callback], shuffle=False)
    return timer.times


def wait_fraction(data: Path, size: int, batch: int, epochs: int, mode: str) -> dict:
    """The plain model (mixed + XLA; --small: float32, as XLA compiles slowly on CPU) on dlhw's
    image pipeline vs the same batches in memory."""
    import numpy as np
    from tensorflow.python.framework import config as tf_config

    from dlhw.data import image_cache
    from dlhw.training.epoch_data import seeded_epochs

    tf_config.disable_op_determinism()
    files = sorted(str(f) for f in (data / "train").rglob("*.png"))
    y = np.array([[float(Path(f).parent.name)] for f in files], dtype=np.float32)
    image_cache.configure(True, data.parent / "cache")
    piped = seeded_epochs(None, y, batch, 0, 0, epochs, True, files=files, image_size=(size, size), channels=3)
    result = {}
    for name, ds in (("pipeline", piped.dataset), ("memory", piped.dataset.take(piped.steps).cache().repeat())):
        model = plain_resnet(size, "scratch", *MODES[mode])
        timer = EpochTimer()
        model.fit(ds, steps_per_epoch=piped.steps, epochs=epochs, verbose=0, callbacks=[timer.callback],
                  shuffle=False)
        result[name] = steady(timer.times)
    result["wait"] = max(0.0, 1 - result["memory"] / result["pipeline"])
    result["mode"] = mode
    return result


def plain_features(data: Path, size: int, precision: str) -> float:
    import keras
    import numpy as np

    keras.config.set_dtype_policy(precision)
    net = keras.applications.DenseNet201(include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
    keras.config.set_dtype_policy("float32")
    x = np.concatenate([load_arrays(data, s, size)[0] for s in ("train", "val", "test")])
    net.predict(x[:64], batch_size=64, verbose=0)  # traced once, like dlhw's first batch
    start = time.perf_counter()
    x = (x / 255.0 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    net.predict(x, batch_size=64, verbose=0)  # (torch-mode preprocessing, done on the host here)
    return len(x) / (time.perf_counter() - start)


# ------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="tiny sizes (runs on CPU in a minute or two)")
    ap.add_argument("--images", type=int, default=512, help="ResNet50 training images (a multiple of 2 x --batch)")
    ap.add_argument("--feature-images", type=int, default=1024, help="DenseNet201 feature-pass images")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    size, fsize = 224, 128
    if args.small:
        args.images, args.feature_images, args.epochs, args.batch, size, fsize = 16, 16, 2, 8, 32, 32
    from dlhw.runtime.tfruntime import setup_runtime

    used = setup_runtime("auto", 0)
    import tensorflow as tf

    from dlhw.runtime.devices import gpu_name

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:  # float16 has no fast CPU kernels; bfloat16 does (AVX512-BF16, AMX)
        MODES.update({"mixed": ("mixed_bfloat16", False), "mixed+xla": ("mixed_bfloat16", True)})
    device = ", ".join(gpu_name(tf, g) or g.name for g in gpus) if gpus else "CPU only (no GPU visible)"
    print(f"device: {device}; mixed = {MODES['mixed'][0]}"
          + ("   [--small: tiny sizes, figures mean nothing]" if args.small else ""))
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="dlhw_gpu_bench_"))
    data = make_images(work / "resnet", args.images, size)
    train, val = load_arrays(data, "train", size), load_arrays(data, "val", size)
    n_train = len(train[0])
    rows, figures = [], {"device": device, "small": args.small}
    for case, label in (("scratch", "ResNet50 from scratch (S2 a)"), ("conv5", "ResNet50 fine-tune conv5 (S2 d)")):
        for mode in MODES:
            times, _ = dlhw_epochs(work / f"{case}_{mode}", dlhw_config(data, size, args.batch, args.epochs, mode,
                                                                       case), used)
            ours = n_train / steady(times)
            theirs = n_train / steady(plain_epochs(train, val, size, args.batch, args.epochs, case, mode))
            figures[f"{case}/{mode}"] = {"dlhw": ours, "keras": theirs}
            rows.append((f"{label}, {mode}", ours, theirs))
            print(f"  [{time.perf_counter() - began:5.0f}s] {rows[-1][0]}: dlhw {ours:.1f} img/s, "
                  f"plain Keras {theirs:.1f} img/s", flush=True)
    for case in ("scratch", "conv5"):
        f = figures
        speedup = f[f"{case}/mixed+xla"]["dlhw"] / f[f"{case}/float32"]["dlhw"]
        figures[f"{case}/speedup_mixed_xla"] = speedup
        print(f"  {case}: mixed + XLA vs float32 (dlhw): {speedup:.2f}x (target >= 2x on a modern GPU)")
    fdata = make_images(work / "densenet", args.feature_images, fsize, seed=1)
    for mode in ("float32", "mixed"):
        _, metrics = dlhw_epochs(work / f"features_{mode}", dlhw_config(fdata, fsize, args.batch, 1, mode,
                                                                         "densenet_features"), used)
        n = sum(metrics[s]["samples"] for s in ("train", "val", "test"))
        ours = n / metrics["feature_cache"]["seconds"]
        theirs = plain_features(fdata, fsize, MODES[mode][0])
        figures[f"densenet201_features/{mode}"] = {"dlhw": ours, "keras": theirs}
        rows.append((f"DenseNet201 feature pass {fsize} px, {mode}", ours, theirs))
        print(f"  [{time.perf_counter() - began:5.0f}s] {rows[-1][0]}: dlhw {ours:.1f} img/s, "
              f"plain predict {theirs:.1f} img/s", flush=True)
    wait = wait_fraction(data, size, args.batch, max(2, args.epochs), "float32" if args.small else "mixed+xla")
    figures["input_wait"] = wait
    print(f"\n{'case':<52} {'dlhw img/s':>11} {'Keras img/s':>12} {'ratio':>6}")
    for name, ours, theirs in rows:
        print(f"{name:<52} {ours:>11.1f} {theirs:>12.1f} {ours / theirs:>6.2f}")
    print(f"image-folder input wait (ResNet50 {wait['mode']}, dlhw pipeline vs the same batches in memory): "
          f"{wait['wait']:.1%} (target < 5%)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
