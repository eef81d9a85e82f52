"""config -> data -> model -> training -> run folder: one experiment, end to end.

Data and model problems are found before the run folder exists (a bad path
leaves nothing behind). Once training starts, status.json always says where
the run stands; results (metrics.json, model.keras, plots) are written
atomically and only for a run that finished.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from dlhw.errors import ConfigError, DivergedError
from dlhw.orchestration.evaluate import cached_head, evaluate_and_write, plot_step_curves, save_model
from dlhw.rundir import layout
from dlhw.rundir.env import environment
from dlhw.rundir.folder import create_run_dir, discard_results, drop_checkpoints
from dlhw.rundir.history import write_history
from dlhw.rundir.records import write_env, write_metrics
from dlhw.rundir.status import RunStatus
from dlhw.runtime.files import write_text
from dlhw.runtime.log import get_logger, take_warnings
from dlhw.runtime.options import RunOptions
from dlhw.runtime.tfruntime import setup_runtime

log = get_logger(__name__)


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    metrics: Dict[str, Any] = field(default_factory=dict)


def load_init_weights(model, run_dir: str) -> int:
    """Copy weights, layer by layer (matched by name and shape), from an earlier run."""
    from dlhw.runtime.files import kind_problem

    path = Path(run_dir) / layout.MODEL
    problem = kind_problem(run_dir, "folder") or kind_problem(path)
    if problem:
        where = run_dir if kind_problem(run_dir, "folder") else path
        raise ConfigError(f"model.init_from: {where} {problem}; point init_from at a completed run folder")
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
    import rich.console

    in_jupyter = rich.console._is_jupyter
    rich.console._is_jupyter = lambda: False  # Keras' capturing Console would show an empty <pre> in Jupyter
    try:
        model.summary(print_fn=lambda s, *a, **k: lines.append(s), line_length=110, expand_nested=expand)
    finally:
        rich.console._is_jupyter = in_jupyter
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
        log.warning(f"{status.path}: could not record status '{state}' ({' '.join(str(exc).split())[:200]})")


def data_label(cfg) -> str:
    """'sklearn digits', 'image_folder data/flowers': the data a run trains on, in a few words."""
    d = cfg.dataset
    return f"{d.source} {d.name}" if d.name else f"{d.source} {d.path}" if d.path else d.source


def starting_line(cfg) -> str:
    """'quickstart: a mlp model on sklearn digits, 20 epochs; loading TensorFlow and the data'."""
    data = data_label(cfg)
    epochs = sum(s.epochs for s in cfg.stages())
    return f"{cfg.name}: {cfg.model.type} model on {data} data, {epochs} epochs; loading TensorFlow and the data"


def resolve_batch_size(cfg, dataset):
    """``cfg`` with ``training.batch_size: full`` made the training split's size (batch gradient
    descent), as a copy: ``cfg`` itself keeps 'full', so its hash and a --resume compare as written."""
    if cfg.training.batch_size != "full":
        return cfg
    resolved = cfg.model_copy(deep=True)
    resolved.training.batch_size = max(1, len(dataset.splits["train"]))
    return resolved


@dataclass(frozen=True)
class RunHooks:
    """What a caller attaches to one run. ``on_start(run_dir)``: once the run folder exists;
    ``on_epoch(row)``: after each epoch, with its history row (the API's notebook progress bar);
    ``prune(epoch, logs) -> bool``: a search's pruner (dlhw.sweeps.search), True stops the run
    after that epoch with status ``pruned`` (history and curves kept, nothing evaluated);
    ``mlflow_parent``: with ``tracking.mlflow``, the sweep's parent MLflow run;
    ``sweep``: a sweep trial's {"name", "varied"}: with ``tracking.wandb``, its W&B group and config."""

    on_start: Optional[Callable[[Path], None]] = None
    on_epoch: Optional[Callable[[dict], None]] = None
    prune: Optional[Callable[..., bool]] = None
    mlflow_parent: Optional[str] = None
    sweep: Optional[Dict[str, Any]] = None


def run_experiment(cfg, out: str | Path = "runs", name: Optional[str] = None, overwrite: bool = False,
                   resume: Optional[str | Path] = None, *, options: Optional[RunOptions] = None,
                   hooks: Optional[RunHooks] = None, **switches: Any) -> RunOutcome:
    """Train and evaluate ``cfg`` into ``out/name``; returns the run folder and its final status.

    ``options``: the run's switches (dlhw.runtime.options.RunOptions: device, threads, debug,
    quiet, progress, cache_dir); ``hooks``: what the caller attaches (RunHooks). ``switches``:
    their fields by name as a shorthand (``quiet=True``, ``prune=...``).
    ``resume``: an unfinished run folder to continue from its last checkpoint (dlhw.rundir.resume).

    The run folder is locked (dlhw.runtime.locks) from its creation, or from the resume check, until the
    run ends: a second process on the same folder is refused with exit 2."""
    from contextlib import ExitStack

    from dlhw.runtime.locks import released_after
    from dlhw.runtime.log import quieted

    options, hooks = split_switches(options, hooks, switches)
    with released_after(), ExitStack() as scopes, quieted(options.quiet):  # scopes: precision policy, strategy
        return Experiment(cfg, options, hooks, scopes).run(out, name, overwrite, resume)


def split_switches(options: Optional[RunOptions], hooks: Optional[RunHooks],
                   switches: Dict[str, Any]) -> "tuple[RunOptions, RunHooks]":
    """``options`` and ``hooks`` with the fields named in ``switches`` set (TypeError for a name of neither)."""
    from dataclasses import fields, replace

    hook_names = {f.name for f in fields(RunHooks)}
    unknown = sorted(set(switches) - hook_names - set(RunOptions.names()))
    if unknown:
        raise TypeError(f"run_experiment() got unexpected keyword argument(s): {', '.join(unknown)}")
    options = (options or RunOptions()).updated({k: v for k, v in switches.items() if k not in hook_names})
    hooks = replace(hooks or RunHooks(), **{k: v for k, v in switches.items() if k in hook_names})
    return options, hooks


def _batch_note(cfg, run_cfg, replicas: int) -> str:
    """config.yaml's first line when the batch size trained with is not the one written."""
    if run_cfg is cfg:
        return ""
    why = ("(the training split's size in this run)" if cfg.training.batch_size == "full"
           else f"(the global batch: per replica x {replicas} replicas)")
    return f"# training.batch_size: {cfg.training.batch_size} = {run_cfg.training.batch_size} {why}\n"


def _curve_metric(spec) -> str:
    """The metric curves.png draws beside the loss."""
    if spec.heads:  # model.outputs: the first output's metric (curves_outputs.png has them all)
        from dlhw.evaluation.heads_eval import curve_metric

        return curve_metric(spec)
    return "accuracy" if spec.accuracy != "none" else "mae"


class Experiment:
    """One run's stages, in order: ``prepare`` (every check that can refuse the run, the runtime,
    the data, the model: nothing written yet), ``open_folder`` (the run folder, config.yaml,
    status running), ``record_inputs`` (summary, env, preprocessing, samples), ``train``, then
    ``finish`` (evaluate and write; or end pruned or diverged). ``run`` chains them and records
    how a run that raised ended."""

    def __init__(self, cfg, options: RunOptions, hooks: RunHooks, scopes) -> None:
        self.cfg, self.options, self.hooks, self.scopes = cfg, options, hooks, scopes
        self.trainer = None
        self.tracker = None

    def run(self, out, name, overwrite, resume) -> RunOutcome:
        from dlhw.runtime.signals import graceful_interrupts

        self.prepare(resume)
        self.open_folder(out, name, overwrite)
        interrupts = graceful_interrupts(self.run_dir)  # SIGINT/SIGTERM: stop after the batch, status interrupted
        interrupts.__enter__()
        try:
            self.record_inputs()
            if self.features is not None and self.features.classifier:  # S2 c: scikit-learn on backbone features
                return self.fit_classifier()
            return self.finish(self.train())
        except DivergedError:
            self.trainer.close(raise_errors=False)
            raise
        except BaseException as exc:
            if self.trainer is not None:
                self.trainer.close(raise_errors=False)
            discard_results(self.run_dir)
            if isinstance(exc, KeyboardInterrupt):
                _record_end(self.status, "interrupted", str(exc) or "interrupted by the user")
            else:
                _record_end(self.status, "failed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if self.tracker is not None:  # status.json holds how the run ended
                self.tracker.finish(self.status.data.get("status"), self.status.data.get("error"), self.model)
            interrupts.__exit__(None, None, None)

    def prepare(self, resume) -> None:
        """Everything that can refuse the run before its folder exists (a bad path leaves nothing behind)."""
        from dlhw.data import image_cache, load_dataset
        from dlhw.data.folds import check_one_run
        from dlhw.models import build_model
        from dlhw.rundir.resume import prepare_resume
        from dlhw.tracking.trackers import check_available
        from dlhw.training.accelerator import Accelerator
        from dlhw.training.feature_cache import plan_for

        cfg, opt = self.cfg, self.options
        check_one_run(cfg)  # dataset.folds without dataset.fold: K runs, for dlhw sweep
        check_available(cfg)  # tracking.mlflow/wandb without the package: exit 2 with the pip line, before a run folder
        self.resumed = prepare_resume(resume, cfg) if resume is not None else None  # refusals before TF loads
        from dlhw.data.sources import check_csv_targets, check_data_paths

        check_data_paths(cfg.dataset, getattr(cfg, "_source", None))  # a missing path: one line in 1 s, not after TF
        check_csv_targets(cfg.dataset, cfg.task)  # a text target for a regression: before TF too
        log.info(starting_line(cfg))  # the first line, at once: TensorFlow and the data take seconds to load
        self.device = setup_runtime(opt.device, cfg.seed, opt.threads, opt.debug)
        self.accel = self.scopes.enter_context(Accelerator(cfg.training, self.device))  # precision, distribute
        image_cache.configure(cfg.cache != "off", opt.cache_dir)  # image folders: decoded once, not every epoch
        self.dataset = load_dataset(cfg)
        self.run_cfg = self.accel.global_batch(cfg, resolve_batch_size(cfg, self.dataset))  # 'full' -> a number
        self.model, self.spec = build_model(cfg, self.dataset)
        if cfg.model.init_from:
            load_init_weights(self.model, cfg.model.init_from)
        self.features = plan_for(cfg, self.model, self.dataset, opt.cache_dir)  # backbone models only, else None
        if self.features is not None and self.features.classifier:
            from dlhw.orchestration.classifier import check_fits_in_memory

            check_fits_in_memory(cfg.model.classifier, self.features, len(self.dataset.splits["train"]))

    def open_folder(self, out, name, overwrite) -> None:
        """The run folder (new, or the resumed one), config.yaml, status running, the MLflow run."""
        import yaml

        from dlhw.config.fingerprint import fingerprint
        from dlhw.tracking.trackers import Trackers

        cfg, resumed = self.cfg, self.resumed
        if resumed:
            self.run_dir, self.identity = resumed.start(self.dataset), resumed.identity
        else:
            self.run_dir = create_run_dir(Path(out), name or cfg.name, overwrite, lock=True)
            self.identity = {"config_hash": fingerprint(cfg), "dataset_fingerprint": self.dataset.fingerprint}
        note = _batch_note(cfg, self.run_cfg, self.accel.replicas)
        write_text(self.run_dir / layout.CONFIG, note + yaml.safe_dump(cfg.dump(), sort_keys=False))
        self.status = RunStatus(self.run_dir)
        self.status.set("running", name=self.run_dir.name, warnings=take_warnings())
        if self.hooks.on_start is not None:
            self.hooks.on_start(self.run_dir)
        self.tracker = Trackers.start(cfg, self.run_dir, resumed=resumed is not None,
                                      parent=self.hooks.mlflow_parent, sweep=self.hooks.sweep)  # None: untracked

    def record_inputs(self) -> None:
        """summary.txt, env.json, preprocessing.json and samples.png: what the run trains on."""
        from dlhw.data.preprocessing import write_preprocessing
        from dlhw.evaluation.figure import drawn
        from dlhw.evaluation.samples import write_samples

        run_dir, dataset = self.run_dir, self.dataset
        write_text(run_dir / layout.SUMMARY, model_summary(self.model))
        write_env(run_dir, {**environment(self.cfg.seed, dataset.fingerprint, self.device),
                            **self.accel.resolve(self.model, self.run_cfg)})
        write_preprocessing(run_dir, self.cfg, dataset, self.spec)
        drawn(run_dir / layout.SAMPLES, write_samples, dataset, run_dir / layout.SAMPLES, self.cfg.evaluation.samples,
              self.cfg.seed, f"{data_label(self.cfg)}: random training samples (seed {self.cfg.seed})")
        log.info(f"run folder: {run_dir}")

    def fit_classifier(self) -> RunOutcome:
        from dlhw.orchestration.classifier import run_classifier

        metrics = run_classifier(self.run_cfg, self.dataset, self.model, self.features, self.run_dir)
        self.status.set("completed", epochs_run=0, train_seconds=metrics["train_seconds"])
        return RunOutcome(self.run_dir, "completed", metrics)

    def train(self):
        """The stages (dlhw.training.trainer), history.csv and the curves."""
        from dlhw.evaluation.figure import drawn
        from dlhw.evaluation.plots import plot_curves
        from dlhw.training.trainer import Trainer

        status, tracker, on_epoch = self.status, self.tracker, self.hooks.on_epoch

        def epoch_done(row: dict) -> None:
            status.heartbeat(epoch=row["epoch"], stage=row["stage"])
            if tracker is not None:
                tracker.epoch(row)
            if on_epoch is not None:
                on_epoch(row)

        self.trainer = Trainer(self.run_cfg, self.dataset, self.model, self.spec, self.run_dir,
                               verbose=self.options.keras_verbose(), features=self.features, on_epoch=epoch_done,
                               resume=self.resumed.checkpoint if self.resumed else None, identity=self.identity,
                               prune=self.hooks.prune)
        result = self.trainer.fit()
        write_history(result.history, self.run_dir / layout.HISTORY)
        metric = _curve_metric(self.spec)
        drawn(self.run_dir / layout.CURVES, plot_curves, result.history, self.run_dir / layout.CURVES,
              f"{self.run_dir.name}: training curves", metric)
        if self.cfg.training.log_steps:
            plot_step_curves(self.run_dir, metric)
        return result

    def finish(self, result) -> RunOutcome:
        """A trained run's end: pruned, diverged, or evaluated and written (metrics.json, model.keras)."""
        from dlhw.evaluation.diagnostics import diagnose

        run_dir, status = self.run_dir, self.status
        if result.pruned_at is not None and result.paused:  # a scheduler parked it at a rung
            from dlhw.orchestration.pruned import end_paused

            return RunOutcome(run_dir, "paused", end_paused(self.trainer, result, status))
        if result.pruned_at is not None:  # a search's pruner stopped it (dlhw.sweeps.search)
            from dlhw.orchestration.pruned import end_pruned

            return RunOutcome(run_dir, "pruned", end_pruned(self.trainer, result, status, run_dir))
        if result.diverged:
            epoch, batch = result.diverged_at
            msg = f"loss became NaN/inf at epoch {epoch}, batch {batch}; lower the learning rate"
            status.set("diverged", error=msg, epochs_run=result.epochs_run,
                       diagnostics=diagnose(result.history, result.diverged_at))
            raise DivergedError(f"{run_dir}: {msg}")
        save_model(self.model, run_dir / layout.MODEL)
        metrics = self.evaluate(result)
        self.trainer.close()  # the last checkpoint, written in the background while evaluating
        write_metrics(run_dir, metrics)
        status.set("completed", epochs_run=result.epochs_run, train_seconds=metrics["train_seconds"])
        if not self.cfg.training.keep_checkpoints:  # model.keras holds the evaluated weights
            drop_checkpoints(run_dir)
        return RunOutcome(run_dir, "completed", metrics)

    def evaluate(self, result) -> Dict[str, Any]:
        """metrics.json's content (dlhw.orchestration.evaluate), with the run's batch size, class
        weights, feature cache and diagnostics."""
        from dlhw.data.dataset import validation_findings
        from dlhw.evaluation.diagnostics import diagnose

        features, trainer = self.features, self.trainer
        head = cached_head(features) if features is not None and features.final_model_frozen else None
        metrics = evaluate_and_write(self.run_cfg, self.dataset, self.model, self.spec, result, self.run_dir,
                                     head=head, class_weights=trainer.class_weights)
        metrics["batch_size"] = self.run_cfg.training.batch_size
        if trainer.class_weights is not None:  # training.class_weight, as applied
            from dlhw.training.class_weights import describe

            metrics["class_weight"] = describe(trainer.class_weights, self.dataset)
        if features is not None:
            metrics["feature_cache"] = features.summary()
        # the table's (inference-mode) figures
        metrics["diagnostics"] = validation_findings(self.dataset) + diagnose(result.history, evaluated=metrics)
        return metrics
