"""Search (Optuna) on S5's space: grid, random, TPE + ASHA, Hyperband by promotion, a plain Optuna script.

S5's space on scikit-learn digits: 1 to 8 hidden layers of 32 to 512 units (one categorical
dimension, '3x256': Optuna samples it as a label), optimizer sgd / adagrad / rmsprop / adam,
learning rate 1e-4 .. 1e-1 (log), 20 epochs a trial. The grid discretises it: 1, 2, 4 or 8 layers
of 32, 128 or 512 units, the 4 optimizers, learning rates 1e-4, 1e-3, 1e-2, 1e-1 (192 trials).
Random search gets as many trials as TPE + ASHA; so does Hyperband by promotion (search.scheduler:
hyperband: the best of each rung continue from their checkpoint, the others pause). Successive
halving by promotion ("sh", search.scheduler: successive_halving) runs one bracket of 9 TPE
trials: all 9 for 1 epoch, the best 3 on to 3 epochs, the best one to 9 and then 20 (32 epochs). PBT
(search.scheduler: pbt) trains a population of max(4, trials / 4) in generations of epochs / 4
epochs; the bottom quarter copies a top trial's checkpoint and perturbs its learning rate (x0.8 or
x1.2); its trials all finish at the last generation, so its epochs to target are all it trained.

A plain Optuna script of the kind users write by hand (TPE + SuccessiveHalvingPruner, a plain
Keras loop on the same digits split, no artifacts) runs the same space and budget; the ratio
dlhw (shipped defaults: TensorBoard, checkpoints, every artifact) / plain script wall time is
printed (target <= 1.0), with where dlhw's seconds per trial go (training vs everything else).

For each method and seed (median over the seeds): the epochs spent and the wall time until a
trial first comes within 0.5 points of the grid's best validation accuracy (pruned trials count
the epochs they ran; trials counted in the order they finished; PBT's population trains in
lockstep and finishes together, so its count is every epoch its population trained). The grid's
trials do not depend on the search seed, only their order: the grid trains once (seed 0), and for
each other seed a grid of 1-epoch trials run by dlhw gives that seed's order, in which seed 0's
measured trials (epochs, seconds) are counted. Target: TPE + ASHA needs at most
1/3 of the grid's epochs. Then `--workers 2` vs 1 on the TPE + ASHA search (wall time; target
>= 1.7x on 2 cores). Each search is a fresh `dlhw sweep` process.

    python benchmarks/search.py [--seeds 3] [--trials 60]
    python benchmarks/search.py --small        # a few minutes: 2 optimizers, 4 architectures, 4 epochs
    python benchmarks/search.py --quick        # a smoke run: 1 seed, 6 trials, 3 epochs, no --workers 2 run
    python benchmarks/search.py --methods sh --grid-best 0.9851 --grid-epochs 140   # one method, an earlier grid
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OPTIMIZERS = ["sgd", "adagrad", "rmsprop", "adam"]
METHODS = ("grid", "tpe+asha", "random", "hyperband", "sh", "pbt")
SH_TRIALS = 9  # one bracket: 9 trials for 1 epoch, the best 3 to 3, the best 1 to 9, then to the full epochs


def dlhw() -> list[str]:
    exe = Path(sys.executable).with_name("dlhw")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dlhw.cli"]


def layers(depths, widths) -> list:
    return [[{"units": u, "activation": "relu"} for _ in range(d)] for d in depths for u in widths]


def spaces(small: bool, quick: bool = False):
    """(search space, grid space, epochs)."""
    if quick:
        archs, opts = layers([1, 2], [32]), ["sgd", "adam"]
        grid = {"model.layers": archs, "training.optimizer.type": opts,
                "training.optimizer.learning_rate": [1.0e-3, 1.0e-1]}
        return {"model.layers": archs, "training.optimizer.type": opts,
                "training.optimizer.learning_rate": {"log_uniform": [1.0e-4, 1.0e-1]}}, grid, 3
    if small:
        archs, opts, epochs = layers([1, 2], [32, 128]), ["sgd", "adam"], 4
        grid = {"model.layers": archs, "training.optimizer.type": opts,
                "training.optimizer.learning_rate": [1.0e-3, 1.0e-1]}
        return {"model.layers": archs, "training.optimizer.type": opts,
                "training.optimizer.learning_rate": {"log_uniform": [1.0e-4, 1.0e-1]}}, grid, epochs
    search = {"model.layers": layers(range(1, 9), [32, 64, 128, 256, 512]), "training.optimizer.type": OPTIMIZERS,
              "training.optimizer.learning_rate": {"log_uniform": [1.0e-4, 1.0e-1]}}
    grid = {"model.layers": layers([1, 2, 4, 8], [32, 128, 512]), "training.optimizer.type": OPTIMIZERS,
            "training.optimizer.learning_rate": [1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1]}
    return search, grid, 20


def grid_size(grid: dict) -> int:
    n = 1
    for v in grid.values():
        n *= len(v)
    return n


def write(folder: Path, name: str, search: dict, space: dict, epochs: int) -> Path:
    f = folder / f"{name}.yaml"
    f.write_text(yaml.safe_dump({"base": str(REPO / "configs" / "quickstart.yaml"),
                                 "training": {"epochs": epochs},  # the shipped defaults otherwise
                                 "search": search, "space": space}, sort_keys=False))
    return f


def run(f: Path, out: Path, workers: int) -> tuple[float, list[dict]]:
    """(wall seconds, the trials as they finished: name, epochs run, val accuracy, seconds since the start)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.time()
    res = subprocess.run(dlhw() + ["sweep", str(f), "--out", str(out), "--workers", str(workers), "--quiet",
                                   "--device", "cpu"], capture_output=True, text=True)
    wall = time.time() - start
    if res.returncode != 0:
        sys.exit(f"dlhw sweep {f.name} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    sweep_dir = out / f.stem
    trials = []
    for t in json.loads((sweep_dir / "sweep.json").read_text())["trials"]:
        st = json.loads((sweep_dir / t["run_dir"] / "status.json").read_text())
        done = dt.datetime.fromisoformat(st["finished"]).timestamp()
        number, name = t["run_dir"].split("_", 1)
        trials.append({"number": int(number), "name": name, "epochs": st.get("epochs_run") or 0, "val": t.get("val_accuracy"), "at": done - start,
                       "status": t["status"], "seconds": t.get("seconds"), "train_seconds": t.get("train_seconds")})
    trials.sort(key=lambda t: t["at"])
    return wall, trials


def grid_in_order(trained: list[dict], order: list[dict]) -> list[dict]:
    """The grid's trained trials (seed 0's run) in the order another seed's grid visits them, with
    their measured epochs and seconds; 'at' is seed 0's start-up plus the running sum of their seconds."""
    by_name = {t["name"]: t for t in trained}
    first = min(trained, key=lambda t: t["at"])
    out, at = [], first["at"] - (first["seconds"] or 0.0)  # the process's start-up, as seed 0's run had it
    for t in order:
        done = by_name[t["name"]]
        at += done["seconds"] or 0.0
        out.append({**done, "at": at})
    return out


def population(trials: list[dict]) -> list[dict]:
    """PBT: its members train in lockstep generations and all finish at the last one, so the epochs
    spent when one reaches the target are what the whole population trained (one entry)."""
    done = [t for t in trials if t["status"] == "completed" and isinstance(t["val"], float)]
    if not done:
        return trials
    return [{**max(done, key=lambda t: t["val"]), "epochs": sum(t["epochs"] for t in trials),
             "at": max(t["at"] for t in trials)}]


def until(trials: list[dict], target: float) -> tuple[float, float]:
    """(epochs, seconds) spent until a trial first reaches ``target`` (inf when none does)."""
    epochs = 0
    for t in trials:
        epochs += t["epochs"]
        if t["status"] == "completed" and isinstance(t["val"], float) and t["val"] >= target:
            return epochs, t["at"]
    return float("inf"), float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=None, help="seeds per method (median reported; default 3, --small 1)")
    ap.add_argument("--trials", type=int, default=None, help="trials of TPE + ASHA and of random (default 60, --small 8)")
    ap.add_argument("--small", action="store_true", help="a small space and 4 epochs: minutes, not hours")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1 seed, 6 trials, 3 epochs, 8 grid points")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)} (default all)")
    ap.add_argument("--sh-min-epochs", type=int, default=1, help="sh: the first rung's epochs (default 1)")
    ap.add_argument("--grid-best", type=float, default=None,
                    help="without grid in --methods: the grid's best val accuracy from an earlier run")
    ap.add_argument("--grid-epochs", type=float, default=None,
                    help="without grid in --methods: the grid's median epochs to target from that run")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if set(methods) - set(METHODS):
        sys.exit(f"--methods: unknown {sorted(set(methods) - set(METHODS))}; known: {', '.join(METHODS)}")
    if "grid" not in methods and (args.grid_best is None or args.grid_epochs is None):
        sys.exit("--methods without grid needs --grid-best and --grid-epochs (an earlier run's figures)")
    args.small = args.small or args.quick
    seeds = args.seeds or (1 if args.small else 3)
    n = args.trials or (6 if args.quick else 8 if args.small else 60)
    space, grid, epochs = spaces(args.small, args.quick)
    pruner = {"type": "asha", "min_epochs": 1 if args.small else 2, "reduction_factor": 3}
    scheduler = {"type": "hyperband", "min_epochs": 1 if args.small else 2, "reduction_factor": 3}
    halving = {"type": "successive_halving", "min_epochs": args.sh_min_epochs, "reduction_factor": 3}
    pbt = {"type": "pbt", "interval": max(1, epochs // 4), "quantile": 0.25, "perturb": [0.8, 1.2],
           "keys": ["training.optimizer.learning_rate"]}
    print(f"S5's space on digits{' (--small)' if args.small else ''}: {epochs} epochs a trial; grid {grid_size(grid)} "
          f"trials; TPE + ASHA and random {n} trials; {seeds} seed(s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        found: dict = {m: [] for m in methods}
        walls = {m: [] for m in found}
        runs = {}
        for seed in range(seeds):
            files = {
                "grid": write(tmp, f"grid{seed}", {"trials": grid_size(grid), "sampler": "grid", "seed": seed}, grid, epochs),
                "tpe+asha": write(tmp, f"tpe{seed}", {"trials": n, "sampler": "tpe", "seed": seed, "pruner": pruner},
                                  space, epochs),
                "random": write(tmp, f"random{seed}", {"trials": n, "sampler": "random", "seed": seed}, space, epochs),
                "hyperband": write(tmp, f"hyperband{seed}", {"trials": n, "sampler": "tpe", "seed": seed,
                                                             "scheduler": scheduler}, space, epochs),
                "sh": write(tmp, f"sh{seed}", {"trials": SH_TRIALS, "sampler": "tpe", "seed": seed,
                                               "scheduler": halving}, space, epochs),
                "pbt": write(tmp, f"pbt{seed}", {"trials": max(4, n // 4), "sampler": "random", "seed": seed,
                                                 "scheduler": pbt}, space, epochs),
            }
            files = {m: f for m, f in files.items() if m in methods}
            for method, f in files.items():
                if method == "grid" and seed > 0:
                    # The grid's trials do not depend on the search seed (each trains with the base config's
                    # seed), only their order does: it is trained once (seed 0); for this seed, dlhw's own
                    # grid of 1-epoch trials gives the order, and seed 0's measured trials are taken in it.
                    write(tmp, f"grid{seed}", {"trials": grid_size(grid), "sampler": "grid", "seed": seed}, grid, 1)
                    _, order = run(f, tmp / "out", 1)
                    trials = grid_in_order(runs[("grid", 0)], sorted(order, key=lambda t: t["number"]))
                    wall = trials[-1]["at"]
                    print(f"  seed {seed} grid      the {len(trials)} trials of seed 0, in this seed's order", flush=True)
                else:
                    wall, trials = run(f, tmp / "out", 1)
                runs[(method, seed)] = trials
                walls[method].append(wall)
                if method != "grid" or seed == 0:
                    print(f"  seed {seed} {method:9s} {len(trials):4d} trials, {sum(t['epochs'] for t in trials):5d} "
                          f"epochs, {wall:7.1f}s", flush=True)
                if method == "pbt":
                    runs[(method, seed)] = population(trials)
        if "grid" in methods:
            best = max(t["val"] for seed in range(seeds) for t in runs[("grid", seed)] if isinstance(t["val"], float))
        else:
            best = args.grid_best
        target = best - 0.005
        print(f"\nthe grid's best val accuracy: {best:.4f}{'' if 'grid' in methods else ' (--grid-best: an earlier run)'}"
              f"; target: within 0.5 points ({target:.4f})")
        for method in found:
            for seed in range(seeds):
                found[method].append(until(runs[(method, seed)], target))
        grid_epochs = statistics.median(e for e, _ in found["grid"]) if "grid" in methods else args.grid_epochs
        if "grid" not in methods:
            print(f"  grid      epochs to target {grid_epochs:>7}  (--grid-epochs: an earlier run)")
        for method, hits in found.items():
            ep = statistics.median(e for e, _ in hits)
            sec = statistics.median(s for _, s in hits)
            reached = sum(1 for e, _ in hits if e != float("inf"))
            ratio = f"{ep / grid_epochs:.2f}x the grid's epochs" if grid_epochs not in (0, float("inf")) else "-"
            print(f"  {method:9s} epochs to target {ep:>7}  wall {sec:>7.1f}s  ({ratio}; reached in {reached}/{seeds})")
        print("  target: the best of them at most 0.33x the grid's epochs")
        print("  (a promoted trial's epochs count when it finishes its last rung; PBT's when its population does)")

        if "tpe+asha" not in methods:
            return
        plain = [plain_script(tmp, seed, n, epochs, args.small, args.quick) for seed in range(seeds)]
        ours = walls["tpe+asha"]
        p_wall, o_wall = statistics.median(w for w, _ in plain), statistics.median(ours)
        p_best = statistics.median(b for _, b in plain)
        o_best = statistics.median(max((t["val"] for t in runs[("tpe+asha", s)] if isinstance(t["val"], float)),
                                       default=float("nan")) for s in range(seeds))
        print(f"\nplain Optuna script (TPE + SuccessiveHalvingPruner, Keras loop, no artifacts), {n} trials: "
              f"{p_wall:.1f}s, best val {p_best:.4f}")
        print(f"dlhw TPE + ASHA, shipped defaults (TensorBoard, checkpoints, every artifact): {o_wall:.1f}s, "
              f"best val {o_best:.4f} -> ratio dlhw / plain {o_wall / p_wall:.2f} (target <= 1.0)")
        trial_seconds(runs, seeds)
        if args.quick:
            return

        f = write(tmp, "workers", {"trials": n, "sampler": "tpe", "seed": 0, "pruner": pruner}, space, epochs)
        one, _ = run(f, tmp / "w1", 1)
        two, _ = run(f, tmp / "w2", 2)
        print(f"\n--workers 2 vs 1 on the TPE + ASHA search ({n} trials): {one:.1f}s vs {two:.1f}s -> "
              f"{one / two:.2f}x (target >= 1.7x on 2 cores)")


def trial_seconds(runs: dict, seeds: int) -> None:
    """Where dlhw's seconds per trial go: training (Keras fit, checkpoints) vs the rest (set-up,
    data, evaluation, plots, TensorBoard, files), medians over the TPE + ASHA trials."""
    rows = [t for s in range(seeds) for t in runs[("tpe+asha", s)]
            if isinstance(t.get("seconds"), (int, float)) and isinstance(t.get("train_seconds"), (int, float))]
    if not rows:
        return
    total = statistics.median(t["seconds"] for t in rows)
    train = statistics.median(t["train_seconds"] for t in rows)
    print(f"seconds per dlhw trial (median of {len(rows)}): {total:.2f} in all = {train:.2f} training + "
          f"{total - train:.2f} set-up, data, evaluation, plots and files")


PLAIN = r"""
import sys, time, json
start = time.time()
import numpy as np, optuna, keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
seed, n, epochs, archs, opts = json.loads(sys.argv[1])
optuna.logging.set_verbosity(optuna.logging.WARNING)
x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
xt, xr, yt, yr = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
xv, _, yv, _ = train_test_split(xr, yr, test_size=0.5, random_state=0, stratify=yr)

def objective(trial):
    arch = archs[trial.suggest_categorical("layers", list(range(len(archs))))]
    opt = trial.suggest_categorical("optimizer", opts)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((64,))] + [keras.layers.Dense(l["units"], activation="relu") for l in arch]
                             + [keras.layers.Dense(10)])
    model.compile(keras.optimizers.get({"class_name": opt, "config": {"learning_rate": lr}}),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    best = 0.0
    for epoch in range(epochs):
        h = model.fit(xt, yt, batch_size=32, epochs=1, validation_data=(xv, yv), verbose=0)
        acc = h.history["val_accuracy"][-1]
        best = max(best, acc)
        trial.report(acc, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return best

study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                            pruner=optuna.pruners.SuccessiveHalvingPruner())
study.optimize(objective, n_trials=n)
print(json.dumps({"wall": time.time() - start, "best": study.best_value}))
"""


def plain_script(tmp: Path, seed: int, n: int, epochs: int, small: bool, quick: bool) -> tuple[float, float]:
    """(wall seconds, best val accuracy) of the hand-written Optuna script, in its own process."""
    space, _, _ = spaces(small, quick)
    f = tmp / "plain_optuna.py"
    f.write_text(PLAIN)
    start = time.time()
    res = subprocess.run([sys.executable, str(f), json.dumps([seed, n, epochs, space["model.layers"],
                                                              space["training.optimizer.type"]])],
                         capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"the plain Optuna script failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return time.time() - start, float(out["best"])


if __name__ == "__main__":
    main()
