"""config -> data -> model -> training -> run folder: one experiment, end to end.

Data and model problems are found before the run folder exists (a bad path
leaves nothing behind). Once training starts, status.json always says where
the run stands; results (metrics.json, model.keras, plots) are written
atomically and only for a run that finished.
"""

from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.runtime.console import info, take_warnings
from dlhw.errors import ConfigError, DivergedError
from dlhw.runtime.tfruntime import setup_runtime
from dlhw.rundir.env import environment
from dlhw.rundir.folder import create_run_dir, discard_results, drop_checkpoints
from dlhw.rundir.status import RunStatus
from dlhw.runtime.files import write_json, write_text
from dlhw.orchestration.evaluate import evaluate_and_write, plot_step_curves, save_model
from dlhw.rundir.history import write_history
from dlhw.rundir import layout


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    metrics: Dict[str, Any] = field(default_factory=dict)


def load_init_weights(model, run_dir: str) -> int:
    """Copy weights, layer by layer (matched by name and shape), from an earlier run."""
    path = Path(run_dir) / layout.MODEL
    if not path.exists():
        raise ConfigError(f"model.init_from: {path} not found; point init_from at a completed run folder")
    from dlhw.runtime.safeload import load_keras_model

    src = load_keras_model(path, "model.init_from")  # safe mode: a model file never runs code
    by_name = {layer.name: layer for layer in _all_layers(src)}
    copied = 0
    for layer in _all_layers(model):
        other = by_name.get(layer.name)
        if other is None or not layer.weights:
            continue
        if [tuple(w.shape) for w in layer.weights] == [tuple(w.shape) for w in other.weights]:
            layer.set_weights(other.get_weights())
            copied += 1
    if copied == 0:
        raise ConfigError(f"model.init_from: no layer of {path} matches this model by name and shape")
    return copied


def _all_layers(model) -> List[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        if getattr(layer, "layers", None):  # nested models (a backbone inside the full model)
            out.extend(_all_layers(layer))
    return out


def _summary_text(model, expand: bool) -> str:
    lines: List[str] = []
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "200"  # rich (inside Keras) cuts the Param # column at 80 columns when not on a terminal
    try:
        model.summary(print_fn=lambda s, *a, **k: lines.append(s), line_length=110, expand_nested=expand)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines) + "\n"


def model_summary(model) -> str:
    """The model's summary, then each nested model's own (a backbone's hundreds of layers, in
    the order ``unfreeze: {from_layer: N}`` counts them). A frozen backbone reused across sweep
    trials is summarised once: its table is kept while its layers' trainable flags stay the same."""
    from dlhw.runtime.memo import held

    summaries = held("nested_summaries", weakref.WeakKeyDictionary)
    text = _summary_text(model, expand=False)
    for sub in model.layers:
        if not getattr(sub, "layers", None):
            continue
        flags = tuple(layer.trainable for layer in sub.layers)
        memo = summaries.get(sub)
        if memo is None or memo[0] != flags:
            memo = (flags, _summary_text(sub, expand=True))
            summaries[sub] = memo
        text += f"\nInside {sub.name} (its layers, in order):\n" + memo[1]
    return text


def _record_end(status, state: str, error: str) -> None:
    """status.json says how the run ended; when even that cannot be written (a full disk), the
    error being raised stays the one reported, and stderr says the status could not be saved."""
    try:
        status.set(state, error=error)
    except Exception as exc:  # noqa: BLE001 - never hide the error that ended the run
        print(f"warning: {status.path}: could not record status '{state}' ({' '.join(str(exc).split())[:200]})",
              file=sys.stderr)


def resolve_batch_size(cfg, dataset):
    """``cfg`` with ``training.batch_size: full`` made the training split's size (batch gradient
    descent), as a copy: ``cfg`` itself keeps 'full', so its hash and a --resume compare as written."""
    if cfg.training.batch_size != "full":
        return cfg
    resolved = cfg.model_copy(deep=True)
    resolved.training.batch_size = max(1, len(dataset.splits["train"]))
    return resolved


def run_experiment(cfg, out: str | Path = "runs", name: Optional[str] = None, overwrite: bool = False,
                   device: str = "auto", quiet: bool = False, threads: Optional[int] = None,
                   debug: bool = False, cache_dir: Optional[str | Path] = None,
                   resume: Optional[str | Path] = None, on_start: Optional[Callable[[Path], None]] = None,
                   on_epoch: Optional[Callable[[dict], None]] = None, prune=None,
                   mlflow_parent: Optional[str] = None) -> RunOutcome:
    """Train and evaluate ``cfg``; returns the run folder and its final status.

    ``on_start(run_dir)``: called once the run folder exists; ``on_epoch(row)``: after each epoch
    with its history row (the Python API's notebook progress bar, dlhw.api).

    ``resume``: an unfinished run folder to continue from its last checkpoint (dlhw.rundir.resume).

    ``cache_dir``: the frozen-backbone feature cache (default $DLHW_CACHE_DIR or ~/.cache/dlhw).

    ``prune(epoch, logs) -> bool``: a search's pruner (dlhw.sweeps.search); True stops the run after
    that epoch with status ``pruned`` (history and curves kept, nothing evaluated).

    ``mlflow_parent``: with ``tracking.mlflow``, the sweep's parent MLflow run (dlhw.tracking.mlflow).

    The run folder is locked (dlhw.runtime.locks) from its creation, or from the resume check, until the
    run ends: a second process on the same folder is refused with exit 2."""
    from contextlib import ExitStack

    from dlhw.runtime.locks import released_after

    with released_after(), ExitStack() as scopes:  # scopes: the run's precision policy and strategy
        return _run_experiment(cfg, out, name, overwrite, device, quiet, threads, debug, cache_dir, resume,
                               on_start, on_epoch, prune, mlflow_parent, scopes)


def _run_experiment(cfg, out, name, overwrite, device, quiet, threads, debug, cache_dir, resume,
                    on_start=None, on_epoch=None, prune=None, mlflow_parent=None, scopes=None) -> RunOutcome:
    from dlhw.data import load_dataset
    from dlhw.evaluation.plots import plot_curves
    from dlhw.models import build_model
    from dlhw.training.trainer import Trainer

    from dlhw.config.fingerprint import fingerprint
    from dlhw.rundir.resume import prepare_resume
    from dlhw.tracking.mlflow import Tracker, check_available

    from dlhw.data.folds import check_one_run

    check_one_run(cfg)  # dataset.folds without dataset.fold: K runs, for dlhw sweep
    check_available(cfg)  # tracking.mlflow without the package: exit 2 with the pip line, before a run folder
    resumed = prepare_resume(resume, cfg) if resume is not None else None  # refusals before TF loads
    used = setup_runtime(device, cfg.seed, threads, debug)
    from dlhw.training.accelerator import Accelerator

    accel = scopes.enter_context(Accelerator(cfg.training, used))  # precision, distribute (until the run ends)
    from dlhw.data import image_cache

    image_cache.configure(cfg.cache != "off", cache_dir)  # image folders: decoded once, not every epoch
    dataset = load_dataset(cfg)
    run_cfg = accel.global_batch(cfg, resolve_batch_size(cfg, dataset))  # 'full' -> a number; x replicas
    model, spec = build_model(cfg, dataset)
    if cfg.model.init_from:
        load_init_weights(model, cfg.model.init_from)
    from dlhw.training.feature_cache import plan_for

    features = plan_for(cfg, model, dataset, cache_dir)  # backbone models only, else None
    if features is not None and features.classifier:
        from dlhw.orchestration.classifier import check_fits_in_memory

        check_fits_in_memory(cfg.model.classifier, features, len(dataset.splits["train"]))  # before a run folder
    run_dir = resumed.start(dataset) if resumed else create_run_dir(Path(out), name or cfg.name, overwrite, lock=True)
    identity = resumed.identity if resumed else {"config_hash": fingerprint(cfg), "dataset_fingerprint": dataset.fingerprint}
    import yaml

    note = "" if run_cfg is cfg else (f"# training.batch_size: {cfg.training.batch_size} = {run_cfg.training.batch_size} "
                                      + ("(the training split's size in this run)\n" if cfg.training.batch_size == "full"
                                         else f"(the global batch: per replica x {accel.replicas} replicas)\n"))
    write_text(run_dir / layout.CONFIG, note + yaml.safe_dump(cfg.dump(), sort_keys=False))
    status = RunStatus(run_dir)
    status.set("running", name=run_dir.name, warnings=take_warnings())
    if on_start is not None:
        on_start(run_dir)
    tracker = Tracker.start(cfg, run_dir, resumed=resumed is not None, parent=mlflow_parent)  # None: untracked
    from dlhw.runtime.signals import graceful_interrupts

    interrupts = graceful_interrupts(run_dir)  # SIGINT/SIGTERM: stop after the batch, status interrupted
    interrupts.__enter__()
    trainer = None
    try:
        write_text(run_dir / layout.SUMMARY, model_summary(model))
        write_json(run_dir / layout.ENV, {**environment(cfg.seed, dataset.fingerprint, used),
                                          **accel.resolve(model, run_cfg)})
        from dlhw.data.preprocessing import write_preprocessing
        from dlhw.evaluation.samples import write_samples

        write_preprocessing(run_dir, cfg, dataset, spec)
        write_samples(dataset, run_dir / layout.SAMPLES, cfg.evaluation.samples, cfg.seed,
                      f"{run_dir.name}: random training samples")
        info(f"run folder: {run_dir}")
        if features is not None and features.classifier:  # S2 c: scikit-learn on backbone features
            from dlhw.orchestration.classifier import run_classifier

            metrics = run_classifier(run_cfg, dataset, model, features, run_dir)
            status.set("completed", epochs_run=0, train_seconds=metrics["train_seconds"])
            return RunOutcome(run_dir, "completed", metrics)

        def epoch_done(row: dict) -> None:
            status.heartbeat(epoch=row["epoch"], stage=row["stage"])
            if tracker is not None:
                tracker.epoch(row)
            if on_epoch is not None:
                on_epoch(row)

        trainer = Trainer(run_cfg, dataset, model, spec, run_dir, quiet=quiet, features=features, on_epoch=epoch_done,
                          resume=resumed.checkpoint if resumed else None, identity=identity, prune=prune)
        result = trainer.fit()
        write_history(result.history, run_dir / layout.HISTORY)
        metric = "accuracy" if spec.accuracy != "none" else "mae"
        if spec.heads:  # model.outputs: the first output's metric (curves_outputs.png has them all)
            from dlhw.evaluation.heads_eval import curve_metric

            metric = curve_metric(spec)
        plot_curves(result.history, run_dir / layout.CURVES, f"{run_dir.name}: training curves", metric)
        if cfg.training.log_steps:
            plot_step_curves(run_dir, metric)
        from dlhw.evaluation.diagnostics import diagnose

        if result.pruned_at is not None and result.paused:  # a scheduler parked it at a rung
            from dlhw.orchestration.pruned import end_paused

            return RunOutcome(run_dir, "paused", end_paused(trainer, result, status))
        if result.pruned_at is not None:  # a search's pruner stopped it (dlhw.sweeps.search)
            from dlhw.orchestration.pruned import end_pruned

            return RunOutcome(run_dir, "pruned", end_pruned(trainer, result, status, run_dir))
        if result.diverged:
            epoch, batch = result.diverged_at
            msg = f"loss became NaN/inf at epoch {epoch}, batch {batch}; lower the learning rate"
            status.set("diverged", error=msg, epochs_run=result.epochs_run,
                       diagnostics=diagnose(result.history, result.diverged_at))
            raise DivergedError(f"{run_dir}: {msg}")
        save_model(model, run_dir / layout.MODEL)
        cached_eval = features.raw_outputs if features is not None and features.final_model_frozen else None
        metrics = evaluate_and_write(run_cfg, dataset, model, spec, result, run_dir, raw_fn=cached_eval)
        metrics["batch_size"] = run_cfg.training.batch_size
        if trainer.class_weights is not None:  # training.class_weight, as applied
            from dlhw.training.class_weights import describe

            metrics["class_weight"] = describe(trainer.class_weights, dataset)
        if features is not None:
            metrics["feature_cache"] = features.summary()
        from dlhw.data.dataset import validation_findings

        # the table's (inference-mode) figures
        metrics["diagnostics"] = validation_findings(dataset) + diagnose(result.history, evaluated=metrics)
        trainer.close()  # the last checkpoint, written in the background while evaluating
        write_json(run_dir / layout.METRICS, metrics)
        status.set("completed", epochs_run=result.epochs_run, train_seconds=metrics["train_seconds"])
        if not cfg.training.keep_checkpoints:  # model.keras holds the evaluated weights; nothing resumes a completed run
            drop_checkpoints(run_dir)
        return RunOutcome(run_dir, "completed", metrics)
    except DivergedError:
        trainer.close(raise_errors=False)
        raise
    except KeyboardInterrupt as exc:
        if trainer is not None:
            trainer.close(raise_errors=False)
        discard_results(run_dir)
        _record_end(status, "interrupted", str(exc) or "interrupted by the user")
        raise
    except BaseException as exc:
        if trainer is not None:
            trainer.close(raise_errors=False)
        discard_results(run_dir)
        _record_end(status, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if tracker is not None:  # status.json holds how the run ended
            tracker.finish(status.data.get("status"), status.data.get("error"), model)
        interrupts.__exit__(None, None, None)
