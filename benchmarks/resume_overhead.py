"""What resumability costs: Keras' own shuffled fit vs dlhw's resumable training loop.

Both sides train the same MLP (784-256-128-10, dropout 0.2, Adam) on the same
synthetic arrays (--samples x 784 float32, 10 classes) for --epochs epochs, batch 64,
in one process, alternating, --repeats times; medians and the ratio are printed.

- keras: ``model.fit(x, y, shuffle=True)`` (Keras' array adapter shuffles).
- dlhw: the trainer's path: batches from ``training.epoch_data.seeded_epochs`` (a
  stateless per-epoch permutation), every epoch reseeded, and the full checkpoint
  (weights, Adam moments, history, RNG state) written atomically to disk, with fsync, under
  the default policy (`training.checkpoint: auto`: here, at the end of the stage).

    python benchmarks/resume_overhead.py [--samples 20000] [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def keras_side(x, y, epochs: int) -> float:
    model = build(0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    return time.perf_counter() - start


def dlhw_side(x, y, epochs: int, folder: Path) -> float:
    from dlhw.training.checkpoint import Checkpointer
    from dlhw.training.epoch_data import seeded_epochs
    from dlhw.training.trainer import TrainResult

    model = build(0)
    start = time.perf_counter()
    ckpt = Checkpointer(folder, 0, ["train"], "auto")  # the default policy
    rows: list = []
    cbs = ckpt.callbacks(0, SimpleNamespace(name="train"), rows, [], TrainResult(), model)
    data = seeded_epochs(x, y, 64, 0, 0, epochs, shuffle=True)
    model.fit(data.dataset, steps_per_epoch=data.steps, epochs=epochs, callbacks=cbs, verbose=0)
    ckpt.close()  # the last checkpoint is on disk
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import numpy as np

    from dlhw.runtime.tfruntime import setup_runtime

    setup_runtime("cpu", 0, int(os.environ.get("DLHW_THREADS", "0")) or None)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, 784)).astype("float32")
    y = (x[:, :10].argmax(axis=1)).astype("int64")
    times = {"keras": [], "dlhw": []}
    with tempfile.TemporaryDirectory() as tmp:
        keras_side(x[:512], y[:512], 1)  # warm-up: TF start-up costs out of the first measurement
        dlhw_side(x[:512], y[:512], 1, Path(tmp) / "warm")
        for r in range(args.repeats):
            times["keras"].append(keras_side(x, y, args.epochs))
            times["dlhw"].append(dlhw_side(x, y, args.epochs, Path(tmp) / f"r{r}"))
            print(f"repeat {r + 1}: keras {times['keras'][-1]:.2f}s, dlhw {times['dlhw'][-1]:.2f}s", flush=True)
    k, d = statistics.median(times["keras"]), statistics.median(times["dlhw"])
    print(f"{args.samples} samples x {args.epochs} epochs, median of {args.repeats}: "
          f"keras fit(shuffle=True) {k:.2f}s, dlhw resumable loop {d:.2f}s, ratio dlhw/keras {d / k:.2f}")


if __name__ == "__main__":
    main()
