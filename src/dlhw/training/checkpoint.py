"""Full training checkpoints for ``dlhw run --resume``: one atomic file, written when due.

``checkpoints/last.ckpt.npz`` holds everything a resumed process needs to carry
on as if it had never stopped: the model weights, the optimizer variables
(step counter, learning rate, moments), the stage and epoch reached, the
history so far, the state of the stateful callbacks (early stopping's wait
counter, best value and best weights; reduce-on-plateau's counters; the best
weights kept in memory by :class:`~dlhw.training.callbacks.BestWeights`),
Python / NumPy RNG states, and the config hash and dataset fingerprint it
belongs to. It is written by a background thread to a temporary file, flushed
to disk and renamed, so a kill at any moment leaves either the previous
checkpoint or the new one, never half of one.

When a checkpoint is due is ``training.checkpoint``'s policy
(:mod:`dlhw.training.checkpoint_writer`): by default at most one every 30 s (and
never more often than keeps its cost under 5%), at every stage end, on Ctrl-C /
SIGTERM and at the end. A run killed between two checkpoints resumes from the
last one and replays the epochs after it: per-epoch randomness comes from
:mod:`dlhw.training.epoch_data`, so the result is bit-identical.

Only weights that training can change are stored: those of layers that were
trainable in some stage so far. A frozen backbone's weights never change and are
rebuilt identically on resume (same config, same seed), so a head trained for
100 epochs on cached features does not rewrite the whole backbone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.errors import ConfigError
from dlhw.rundir.checkpoint_file import FORMAT, checkpoint_arrays, checkpoint_path

FINISH_EPOCH_SECONDS = 10.0  # Ctrl-C mid-epoch: an epoch ending sooner than this is finished and saved
# Callback attributes that are configuration or live objects, never state to restore.
_SKIP = {"model", "params", "validation_data", "verbose", "monitor", "mode", "patience", "min_delta",
         "baseline", "restore_best_weights", "start_from_epoch", "factor", "min_lr", "cooldown", "folder"}


def _stateful(callbacks: list) -> List[Any]:
    import keras

    from dlhw.training.callbacks import BestWeights

    kinds = (keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau, BestWeights)
    return [cb for cb in callbacks if isinstance(cb, kinds)]


def _scalars(cb) -> Dict[str, Any]:
    out = {}
    for k, v in vars(cb).items():
        if k.startswith("_") or k in _SKIP:
            continue
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = float(v) if isinstance(v, (float, np.floating)) else v
        elif isinstance(v, np.generic):
            out[k] = v.item()
    return out


class Checkpointer:
    """Connects the trainer's stage loop to checkpoints: what to skip, restore and save.

    ``resume`` is a loaded checkpoint (``dlhw.rundir.checkpoint_file.load_checkpoint``) or None for a fresh run.
    """

    def __init__(self, run_dir: Path, seed: int, stage_names: List[str], policy: Any = "auto",
                 resume: Optional[dict] = None, identity: Optional[Dict[str, Any]] = None):
        import time

        from dlhw.training.checkpoint_writer import BackgroundWriter, CheckpointPolicy

        self.path = checkpoint_path(run_dir)
        self.seed = int(seed)
        self.stage_index = {name: i for i, name in enumerate(stage_names)}
        self.policy = policy if isinstance(policy, CheckpointPolicy) else CheckpointPolicy.from_config(policy)
        self.enabled = self.policy.enabled
        self.resume = resume
        self.identity = identity or {}
        self.seconds_before = float(resume.get("train_seconds", 0.0)) if resume else 0.0
        self.live = set(resume.get("live", [])) if resume else set()  # weight indices ever trainable
        self._started = time.perf_counter()
        self.writer = BackgroundWriter()
        self.last_write_at = self._started  # training clock of the last checkpoint (or the start)
        self.snapshot_seconds = 0.0  # main-thread cost of the last checkpoint (host copies, state)
        self.epoch_seconds = 0.0  # duration of the last finished epoch
        self.written_epoch: Optional[int] = int(resume["epoch"]) if resume else None

    def due(self, final: bool) -> bool:
        """Is a checkpoint due at this epoch's end (``final``: the stage's last epoch)?"""
        import time

        from dlhw.runtime.signals import STATE

        if not self.enabled:
            return False
        if final or STATE.requested is not None:
            return True
        cost = self.snapshot_seconds + self.writer.last_seconds
        return time.perf_counter() - self.last_write_at >= self.policy.interval(cost)

    def finish_epoch_on_interrupt(self, epoch_started: float) -> bool:
        """On Ctrl-C mid-epoch: finish the epoch (then checkpoint it) when it ends within
        ``FINISH_EPOCH_SECONDS`` by the last epoch's duration; else stop after this batch."""
        import time

        if not self.enabled or self.epoch_seconds <= 0:
            return False
        return self.epoch_seconds - (time.perf_counter() - epoch_started) <= FINISH_EPOCH_SECONDS

    def close(self, raise_errors: bool = True) -> None:
        """Wait for a checkpoint still being written (its error, if any, is raised here)."""
        self.writer.wait(raise_errors)

    def elapsed(self) -> float:
        """Training seconds so far, over every process that worked on this run."""
        import time

        return self.seconds_before + time.perf_counter() - self._started

    # ------------------------------------------------------------- restoring
    def restore_result(self, result) -> int:
        """Fill ``result`` with the finished stages of the checkpoint; return the epochs they ran."""
        if self.resume is None:
            return 0
        r = self.resume
        si = r["stage_index"]
        result.history.extend(row for row in r["history"] if row.get("_stage_index", 0) < si)
        for row in result.history:
            row.pop("_stage_index", None)
        result.stage_params.extend(r["stage_params"][:si])
        result.stopped_early.extend(r["stopped_early_before"])
        return len(result.history)

    def skip_stage(self, index: int) -> bool:
        """True for stages the checkpoint had already finished before its own stage."""
        return self.resume is not None and index < self.resume["stage_index"]

    def stage_rows(self, index: int) -> List[dict]:
        """History rows already recorded for stage ``index`` (the checkpoint's stage), else []."""
        if self.resume is None or index != self.resume["stage_index"]:
            return []
        rows = [dict(r) for r in self.resume["history"] if r.get("_stage_index") == index]
        for r in rows:
            r.pop("_stage_index", None)
        return rows

    def stage_stopped(self, index: int) -> bool:
        return self.resume is not None and index == self.resume["stage_index"] and bool(self.resume["stopped"])

    def restore_model(self, model, fit_model, index: int) -> None:
        """Weights (of ``model``) and optimizer variables (of ``fit_model``, the model that
        trains, e.g. a head on cached features) once stage ``index`` is compiled."""
        if self.resume is None or index != self.resume["stage_index"]:
            return
        r = self.resume
        if len(model.weights) != r["n_weights"]:
            raise ConfigError(f"checkpoint: {r['n_weights']} model weights saved, this model has "
                              f"{len(model.weights)}; was the config changed?")
        _assign([model.weights[i] for i in r["live"]], r["weights"], "model weights")
        opt = fit_model.optimizer
        if not opt.built:
            opt.build(fit_model.trainable_variables)
        rate = getattr(opt, "_learning_rate", None)
        explored = r.get("config_hash") != self.identity.get("config_hash") and hasattr(rate, "assign")
        keep = rate.numpy() if explored else None  # type: ignore[union-attr]
        _assign(opt.variables, r["optimizer"], "optimizer variables")
        if explored:  # another trial's checkpoint (PBT's exploit): the learning rate is this config's
            rate.assign(keep)  # type: ignore[union-attr]
        from dlhw.training.epoch_data import set_rng_state

        set_rng_state(r.get("rng", {}))

    # ------------------------------------------------------------- callbacks
    def callbacks(self, index: int, stage, rows: List[dict], others: list, result, model) -> list:
        """[interrupt check] + others + [per-epoch reseed and checkpoint writer for ``model``]."""
        from dlhw.runtime.signals import interrupt_check

        writer = _writer(self, index, stage, rows, others, result, model)
        return [interrupt_check(lambda: self.finish_epoch_on_interrupt(writer.epoch_started))] + others + [writer]

    def tagged_history(self, index: int, result, rows: List[dict]) -> List[dict]:
        """The history of finished stages plus this stage's rows, each tagged with its stage index."""
        done = [dict(r, _stage_index=self.stage_index.get(r.get("stage"), 0)) for r in result.history]
        return done + [dict(r, _stage_index=index) for r in rows]


def _assign(variables, arrays: List[np.ndarray], what: str) -> None:
    if len(variables) != len(arrays) or any(tuple(v.shape) != tuple(a.shape) for v, a in zip(variables, arrays)):
        raise ConfigError(f"checkpoint: the saved {what} do not match this model "
                          f"({len(arrays)} saved, {len(variables)} expected); was the config changed?")
    for v, a in zip(variables, arrays):
        v.assign(a)


def _writer(owner: Checkpointer, index: int, stage, rows: List[dict], others: list, result, full_model):
    import time

    import keras

    from dlhw.runtime.keras_internals import live_positions, seed_generators
    from dlhw.training.callbacks import BestWeights
    from dlhw.training.epoch_data import reseed_epoch, rng_state

    stateful = _stateful(others)
    restore = owner.resume if (owner.resume is not None and owner.resume["stage_index"] == index) else None

    class CheckpointWriter(keras.callbacks.Callback):
        """Reseeds each epoch; restores callback state on resume; saves a checkpoint when due."""

        epoch_started = 0.0
        generators = None

        def on_train_begin(self, logs=None):
            owner.live |= live_positions(full_model)
            self.generators = seed_generators(full_model)  # walked once, not every epoch
            if restore is None:
                return
            saved = restore.get("callbacks", [])
            for i, cb in enumerate(stateful):
                if i < len(saved) and saved[i]["class"] == type(cb).__name__:
                    for k, v in saved[i]["state"].items():
                        setattr(cb, k, v)
                    best = restore["extra"].get(f"cb{i}_best_weights")
                    if best is not None and isinstance(cb, BestWeights):  # live weights only, as kept
                        cb.best_weights = [None] * len(full_model.weights)
                        for j, a in zip(restore["live"], best):
                            cb.best_weights[j] = np.array(a)
                    elif best is not None and hasattr(cb, "best_weights"):
                        cb.best_weights = _expand(best, restore["live"], full_model, self.model)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()
            reseed_epoch(full_model, owner.seed, epoch, self.generators)

        def on_epoch_end(self, epoch, logs=None):
            owner.epoch_seconds = time.perf_counter() - self.epoch_started
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                return
            final = bool(self.model.stop_training) or epoch + 1 >= int(self.params.get("epochs") or 0)
            if not owner.due(final):
                return
            start = time.perf_counter()
            live = sorted(owner.live)
            extra = {f"cb{i}_best_weights": _shrink(cb.best_weights, live, full_model, self.model)
                     for i, cb in enumerate(stateful) if getattr(cb, "best_weights", None) is not None}
            state = {
                "format": FORMAT,
                **owner.identity,
                "epoch": epoch + 1,
                "stage_index": index,
                "stage": stage.name,
                "stopped": bool(self.model.stop_training) and not getattr(self.model, "_dlhw_paused", False),
                "history": owner.tagged_history(index, result, rows),
                "stage_params": list(result.stage_params),
                "stopped_early_before": list(result.stopped_early),
                "train_seconds": owner.elapsed(),
                "callbacks": [{"class": type(cb).__name__, "state": _scalars(cb)} for cb in stateful],
                "rng": rng_state(),
                "live": live,
                "n_weights": len(full_model.weights),
            }
            weights = full_model.weights  # snapshots without copies (see snapshot)
            arrays = checkpoint_arrays(state, [snapshot(weights[i]) for i in live],
                                       [snapshot(v) for v in self.model.optimizer.variables], extra)
            from dlhw.runtime.signals import STATE
            from dlhw.training.checkpoint_writer import write_npz_atomic

            # a signal is waiting: this checkpoint is what --resume continues from, so it is on disk first
            owner.writer.submit(lambda: write_npz_atomic(owner.path, arrays), wait=STATE.requested is not None)
            owner.last_write_at = time.perf_counter()
            owner.snapshot_seconds = owner.last_write_at - start
            owner.written_epoch = epoch + 1

    return CheckpointWriter()


class _Exported:
    """A CPU tensor offered to ``np.from_dlpack``."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack__(self, stream=None, **kwargs):
        import tensorflow as tf

        return tf.experimental.dlpack.to_dlpack(self.tensor)

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def snapshot(variable) -> np.ndarray:
    """The variable's value now, as a host array, without copying it on CPU.

    The array shares the variable's buffer through DLPack, which holds a reference to it; while
    that reference lives, TensorFlow's kernels write a variable's next value into a new buffer
    (copy on write: tests/training/test_checkpoint_policy.py checks it), so the array keeps this epoch's
    values while training goes on. A checkpoint's snapshot thus costs microseconds per variable
    and nothing at all after the last epoch. On a GPU: the one copy to the host."""
    value = getattr(variable, "value", variable)
    read = getattr(value, "read_value", None)
    tensor = read() if read is not None else value
    if "CPU" in str(getattr(tensor, "device", "")).upper():
        try:
            return np.from_dlpack(_Exported(tensor))
        except (TypeError, ValueError, RuntimeError, BufferError, AttributeError):  # a dtype DLPack lacks
            pass
    return np.array(tensor.numpy() if hasattr(tensor, "numpy") else tensor, copy=True)


def _shrink(values: list, live: List[int], full_model, fit_model) -> list:
    """A callback's copy of the full model's weights, reduced to the live indices."""
    if len(values) == len(full_model.weights) and (fit_model is full_model or any(v is None for v in values)):
        return [values[i] for i in live]
    return list(values)


def _expand(saved: list, live: List[int], full_model, fit_model) -> list:
    """The inverse of ``_shrink``: frozen weights come from the (rebuilt) model itself."""
    if fit_model is full_model and len(saved) != len(full_model.weights):
        values = [np.array(v) for v in full_model.get_weights()]
        for i, a in zip(live, saved):
            values[i] = np.array(a)
        return values
    return [np.array(a) for a in saved]
