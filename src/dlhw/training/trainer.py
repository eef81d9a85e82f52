"""The trainer: runs the config's stages on a compiled model and records history.

Each stage compiles the model with its own optimizer (after unfreezing backbone
layers when asked), then fits for its epochs; weights carry over from stage to
stage and epochs are numbered continuously. History rows carry the stage name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from dlhw.models.outputs import encode_labels, make_loss, make_metrics
from dlhw.rundir import layout


@dataclass
class TrainResult:
    history: List[Dict[str, Any]] = field(default_factory=list)
    stage_params: List[Dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    epochs_run: int = 0
    diverged_at: Optional[tuple] = None
    stopped_early: List[str] = field(default_factory=list)
    evaluated: Dict[str, Any] = field(default_factory=dict)  # which epoch's weights the model holds, and why
    pruned_at: Optional[int] = None  # a search's pruner stopped training after this epoch (training.pruning)
    paused: bool = False  # ... to pause it there (a scheduler's rung), its checkpoint kept

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def best_epoch(self, monitor: str = "val_loss") -> Optional[int]:
        """Epoch (1-based, continuous over stages) with the best monitored value."""
        rows = [r for r in self.history if np.isfinite(r.get(monitor, np.nan))]
        if not rows:
            rows = [r for r in self.history if np.isfinite(r.get("loss", np.nan))]
            monitor = "loss"
        if not rows:
            return None
        from dlhw.evaluation.direction import higher_is_better

        pick = max if higher_is_better(monitor) else min
        return int(pick(rows, key=lambda r: r[monitor])["epoch"])


def evaluation_monitor(cfg) -> str:
    """What picks the best epoch: evaluation.monitor, else the last stage's early-stopping
    monitor, else val_loss."""
    if cfg.evaluation.monitor:
        return cfg.evaluation.monitor
    es = cfg.stages()[-1].early_stopping
    return es.monitor if es is not None else "val_loss"


def count_params(model) -> Dict[str, int]:
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(sum(np.prod(w.shape) for w in model.weights))
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def fit_inputs(dataset, split: str, spec, batch_size: int, shuffle: bool, seed: int):
    """(x, y) arrays or a tf.data pipeline for one split, labels encoded for the loss."""
    s = dataset.splits[split]
    y = encode_labels(s.y, spec)
    if dataset.in_memory(s):
        return s.x, y
    return dataset.image_batches(s, batch_size, y, shuffle=shuffle, seed=seed, cache=True), None


class Trainer:
    """Runs the stages of ``cfg`` on ``model``; see ``fit``."""

    def __init__(self, cfg, dataset, model, spec, run_dir: Path, verbose: int = 0,
                 on_epoch: Optional[Callable[[dict], None]] = None, features=None,
                 resume: Optional[dict] = None, identity: Optional[dict] = None, prune=None):
        self.cfg = cfg
        self.prune = prune  # a search's decide(epoch, logs) -> stop? (training.pruning)
        self.resume = resume  # a loaded checkpoint (training.checkpoint) to continue from
        self.identity = identity or {}  # config hash and data fingerprint stored in checkpoints
        self.features = features  # a feature_cache.FeaturePlan: frozen stages train the head on cached features
        self.dataset = dataset
        self.model = model
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.verbose = verbose  # Keras' fit verbosity (RunOptions.keras_verbose)
        self._val: Dict[str, Any] = {}  # the val split's fit inputs, built when a stage needs them
        self.on_epoch = on_epoch
        self.checkpointer = None
        self.best = None  # evaluation.weights: best: the BestWeights of the last stage run, carried over stages
        self.steps = None  # training.log_steps: the history_steps.csv writer
        self.stage_start = 0  # the current stage's first epoch (0-based, continuous): step decay counts from it
        from dlhw.training.class_weights import class_weights

        self.class_weights = class_weights(cfg, dataset)  # training.class_weight, one weight per class

    def _callbacks(self, stage, rows: List[dict], guard, ckpt) -> list:
        import keras

        from dlhw.evaluation.direction import keras_mode
        from dlhw.training.callbacks import BestWeights, HistoryRecorder

        t = self.cfg.training
        cbs: list = [guard, HistoryRecorder(rows, stage.name, self.on_epoch)]
        es = stage.early_stopping
        if es is not None:
            cbs.append(keras.callbacks.EarlyStopping(
                monitor=es.monitor, mode=keras_mode(es.monitor), patience=es.patience, min_delta=es.min_delta,
                restore_best_weights=es.restore_best_weights, verbose=0))
        opt = stage.optimizer or t.optimizer
        if opt.schedule is not None and opt.schedule.type == "reduce_on_plateau":
            s = opt.schedule
            cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=s.monitor, mode=keras_mode(s.monitor), factor=s.factor,
                                                         patience=s.patience, min_lr=s.min_lr, verbose=0))
        if opt.schedule is not None and opt.schedule.type == "step":
            from dlhw.training.optimizers import step_decay

            cbs.append(step_decay(opt.schedule, opt.learning_rate, self.stage_start))
        if self.cfg.evaluation.weights == "best":  # the best epoch over all stages is evaluated and saved
            best = BestWeights(self.run_dir / layout.CHECKPOINTS, monitor=evaluation_monitor(self.cfg),
                               live=lambda: ckpt.live)
            if self.best is not None:
                best.carry(self.best)
            cbs.append(best)
        if t.tensorboard:
            from dlhw.training.callbacks import EpochTensorBoard

            every = getattr(t.tensorboard, "histograms", 0)  # true: scalars only; {histograms: N}
            cbs.append(EpochTensorBoard(self.run_dir / layout.TENSORBOARD, histograms=every))
        if self.steps is not None:
            from dlhw.training.steps import StepRecorder

            cbs.append(StepRecorder(self.steps, stage.name))
        if self.prune is not None:
            from dlhw.training.pruning import PruneCallback

            cbs.append(PruneCallback(self.prune))
        return cbs

    def _evaluated(self, result: TrainResult, early_stop) -> Dict[str, Any]:
        """Put the weights to evaluate into the model (evaluation.weights: best) and say which
        epoch they come from and why (metrics.json's ``evaluated``)."""
        cfg = self.cfg
        monitor = evaluation_monitor(cfg)
        out: Dict[str, Any] = {"weights": cfg.evaluation.weights, "monitor": monitor}
        best = self.best
        if cfg.evaluation.weights == "best" and best is not None and best.restore():
            out.update(epoch=int(best.best_epoch), reason=f"evaluation.weights: best, the epoch with the best "
                                                          f"{best.monitored or monitor}")
        elif early_stop is not None and early_stop.restore_best_weights and early_stop.best_weights is not None:
            out.update(epoch=int(early_stop.best_epoch) + 1,
                       reason=f"early stopping restored the weights of its best {early_stop.monitor} epoch")
        else:
            out.update(epoch=result.epochs_run, reason="the last epoch's weights" + (
                f" (no epoch had a finite {monitor})" if cfg.evaluation.weights == "best" else ""))
        row = next((r for r in result.history if r.get("epoch") == out["epoch"]), {})
        out["stage"] = row.get("stage")
        key = next((k for k in (monitor, monitor.removeprefix("val_"), "loss") if k in row), None)
        out["value"] = row.get(key)
        if key != monitor:
            out["monitor"] = key
        return out

    def close(self, raise_errors: bool = True) -> None:
        """Wait for the last checkpoint to reach the disk (written in the background while
        the run evaluates); a write error (a full disk) is raised here."""
        if self.checkpointer is not None:
            self.checkpointer.close(raise_errors)

    def fit(self) -> TrainResult:
        """Run the stages in order (a resumed run skips those it had finished); stops at a
        divergence or a pruner's stop."""
        from dlhw.training.checkpoint import Checkpointer

        cfg, t = self.cfg, self.cfg.training
        result = TrainResult()
        ckpt = self.checkpointer = Checkpointer(self.run_dir, cfg.seed, [s.name for s in cfg.stages()],
                                                t.checkpoint, self.resume, self.identity)
        offset = ckpt.restore_result(result)  # stages a resumed run had finished
        if t.log_steps:
            from dlhw.training.steps import StepLog

            self.steps = StepLog(self.run_dir / layout.HISTORY_STEPS, len(self.dataset.splits["train"]),
                                 t.batch_size, keep_epochs=int(self.resume["epoch"]) if self.resume else None)
        early_stop = None
        for index, stage in enumerate(cfg.stages()):
            if stage.unfreeze is not None:
                from dlhw.models.backbones import apply_unfreeze

                apply_unfreeze(self.model, stage.unfreeze, f"training.stages[{index}].unfreeze")
            if ckpt.skip_stage(index):
                continue
            rows, callbacks, guard = self._fit_stage(index, stage, ckpt, result, offset)
            early_stop = self._after_stage(stage, rows, callbacks, guard, result)
            offset += len(rows)
            if result.diverged_at is not None or result.pruned_at is not None:
                break  # a later stage does not run
        result.train_seconds = ckpt.elapsed()
        result.epochs_run = offset
        if result.diverged_at is None:
            result.evaluated = self._evaluated(result, early_stop)
        return result

    def _fit_stage(self, index: int, stage, ckpt, result: TrainResult, offset: int):
        """Compile for the stage (its optimizer) and fit its epochs; returns its history rows, its
        callbacks and its NaN guard."""
        from dlhw.training.accelerator import jit_setting
        from dlhw.training.callbacks import NaNGuard
        from dlhw.training.optimizers import build_optimizer

        t = self.cfg.training
        cached = self.features is not None and self.features.stage_ready(index)
        fit_model = self.features.head_model() if cached else self.model
        fit_model.compile(optimizer=build_optimizer(stage.optimizer or t.optimizer),
                          loss=make_loss(self.spec), metrics=make_metrics(self.spec),
                          jit_compile=jit_setting(t.jit_compile, self.model))
        result.stage_params.append({"stage": stage.name, **count_params(self.model)})
        guard = NaNGuard()
        rows: List[dict] = ckpt.stage_rows(index)  # a resumed stage's epochs so far
        ckpt.restore_model(self.model, fit_model, index)
        first = offset + len(rows)
        self.stage_start = offset
        end = first if ckpt.stage_stopped(index) else offset + stage.epochs
        callbacks = ckpt.callbacks(index, stage, rows, self._callbacks(stage, rows, guard, ckpt), result, self.model)
        self._run_epochs(fit_model, cached, callbacks, first, end)
        return rows, callbacks, guard

    def _val_inputs(self):
        """(x, y, validation_data) of the val split, built once (not for heads on cached features)."""
        if not self._val:
            t = self.cfg.training
            xv, yv = fit_inputs(self.dataset, "val", self.spec, t.batch_size, False, self.cfg.seed)
            self._val.update(xv=xv, yv=yv, val=None if len(self.dataset.splits["val"]) == 0
                             else (xv if yv is None else (xv, yv)))
        return self._val["xv"], self._val["yv"], self._val["val"]

    def _run_epochs(self, fit_model, cached: bool, callbacks: list, first: int, end: int) -> None:
        """Epochs ``first``..``end`` of one stage, fed the way the data is held. Epoch e's batch order,
        dropout masks and flips depend on (seed, e) only: resumable."""
        cfg, t = self.cfg, self.cfg.training
        train = self.dataset.splits["train"]
        xv, yv, val = (None, None, None) if cached else self._val_inputs()
        fit_kw: Dict[str, Any] = dict(epochs=end, initial_epoch=first, validation_data=val, verbose=self.verbose,
                                      shuffle=False, callbacks=callbacks)
        if self.class_weights is not None:  # training.class_weight (fit_arrays: per-sample weights)
            from dlhw.training.class_weights import as_keras

            fit_kw["class_weight"] = as_keras(self.class_weights)
        ys = encode_labels(train.y, self.spec)
        if cached:
            from dlhw.training.feature_cache import pin_checkpoints

            pin_checkpoints(callbacks, self.model)
        if cached and not all(isinstance(self.features.features(s), np.ndarray) for s in ("train", "val")):
            # features over the memory budget stay on disk: the same batches as array_fit, through
            # a tf.data pipeline that reads them (training.feature_store)
            from dlhw.training.feature_store import ordered_batches, training_batches

            data = training_batches(self.features.features("train"), ys, t.batch_size, cfg.seed, first, end, t.shuffle)
            fit_kw["validation_data"] = ordered_batches(
                self.features.features("val"), encode_labels(self.dataset.splits["val"].y, self.spec), t.batch_size)
            fit_model.fit(data.dataset, steps_per_epoch=data.steps, **fit_kw)
        elif cached or self.dataset.in_memory(train):
            # in-memory arrays (tabular data; cached backbone features, the same batches as the
            # image pipeline with the backbone's forward pass done once): training.array_fit
            from dlhw.training.array_fit import fit_arrays
            from dlhw.training.class_weights import sample_weights

            x, x_val, y_val = train.x, xv, yv
            if cached:
                x, x_val = self.features.features("train"), self.features.features("val")
                y_val = encode_labels(self.dataset.splits["val"].y, self.spec)
            fit_arrays(fit_model, x, ys, x_val, y_val, t.batch_size, cfg.seed, first, end, t.shuffle,
                       callbacks, self.verbose, sample_weights(self.class_weights, train.y))
        else:
            from dlhw.training.epoch_data import seeded_epochs

            data = seeded_epochs(train.x, ys, t.batch_size, cfg.seed, first, end, t.shuffle, files=train.files,
                                 image_size=self.dataset.meta.get("image_size"),
                                 channels=self.dataset.meta.get("channels", 3))
            self.model.fit(data.dataset, steps_per_epoch=data.steps, **fit_kw)

    def _after_stage(self, stage, rows: List[dict], callbacks: list, guard, result: TrainResult):
        """Record a finished stage in ``result`` (its rows, an early stop, a divergence, a pruner's
        stop); returns its early-stopping callback (or None) for _evaluated."""
        import keras

        from dlhw.training.callbacks import BestWeights

        if self.cfg.evaluation.weights == "best":
            self.best = next((cb for cb in callbacks if isinstance(cb, BestWeights)), None)
        result.history.extend(rows)
        if len(rows) < stage.epochs and guard.diverged_at is None:
            result.stopped_early.append(stage.name)
        if guard.diverged_at is not None:
            result.diverged_at = guard.diverged_at
        else:
            pruner = next((cb for cb in callbacks if getattr(cb, "pruned_at", None)), None)
            if pruner is not None:  # a search's pruner stopped it, or its scheduler paused it at a rung
                result.pruned_at, result.paused = pruner.pruned_at, pruner.paused
        return next((cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping)), None)
