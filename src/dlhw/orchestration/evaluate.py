"""A trained model's results into its run folder: model.keras, metrics.json's figures,
the confusion matrix, ROC or predicted-vs-true plot, the per-step curves.

Used by a Keras run (orchestration.experiment) and a classifier fitted on backbone
features (orchestration.classifier) alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from dlhw.rundir import layout


def save_model(model, path: Path) -> None:
    from dlhw.errors import WriteError
    from dlhw.runtime.files import replacing, write_error
    from dlhw.runtime.keras_saving import prime

    prime()
    try:
        with replacing(path, keep_suffix=True) as tmp:  # Keras picks the format by the suffix
            model.save(tmp)  # a zip whose weights Keras builds in memory: disk errors are plain OSErrors
    except WriteError:
        raise
    except Exception as exc:  # disk full in h5py's own words: one line naming the file, nothing left
        raise write_error(path, exc) from None


def plot_step_curves(run_dir: Path, metric: str) -> None:
    """steps_curves.png from history_steps.csv (training.log_steps)."""
    from dlhw.evaluation.figure import drawn
    from dlhw.evaluation.plots import plot_steps
    from dlhw.rundir.history import read_history

    rows = read_history(run_dir / layout.HISTORY_STEPS)
    if rows:
        drawn(run_dir / layout.STEP_CURVES, plot_steps, rows, run_dir / layout.STEP_CURVES,
              f"{run_dir.name}: per-step training curves", metric)


def cached_head(features):
    """``head`` for evaluate_and_write: the head on a split's cached backbone features (a frozen
    backbone's run evaluates without running the backbone again)."""
    from dlhw.training.feature_store import chunks

    return lambda split: (features.head_model(), chunks(features.features(split)))


def evaluate_and_write(cfg, dataset, model, spec, result, run_dir: Path, raw_fn=None, head=None,
                       class_weights=None) -> Dict[str, Any]:
    """metrics.json, confusion matrix, ROC / regression plot for a trained model.

    Each split's loss is Keras' own (dlhw.evaluation.forward): the loss object of training on the
    output tensors of the forward pass, with ``class_weights`` (training.class_weight) on the train
    split as Keras' training loss has them. ``head(split) -> (keras callable, input blocks)``: the
    head on cached backbone features instead of the full model. ``raw_fn(split)``: raw outputs
    given as numbers (a scikit-learn classifier's scores), the loss computed on them."""
    from dlhw.evaluation import metrics as M
    from dlhw.evaluation.forward import make_step
    from dlhw.models.outputs import make_loss

    loss_fn = make_loss(spec)
    step = make_step(model, loss_fn) if raw_fn is None and head is None else None  # one graph for the 3 splits
    preds, out = {}, {}
    top_k = M.top_k_for(cfg, spec.num_classes) if spec.encoding in ("index", "onehot") else 0  # evaluation.top_k
    for split in ("train", "val", "test"):
        s = dataset.splits[split]
        raw, loss = _outputs(model, dataset, split, spec, loss_fn, cfg.training.batch_size, raw_fn, head,
                             class_weights if split == "train" else None, step)
        preds[split] = M.predictions(raw, s.y, spec)
        out[split] = M.split_metrics(preds[split], spec, loss_fn, top_k=top_k, loss=loss)
    return _write_results(cfg, dataset, model, spec, result, run_dir, preds, out, raw_fn is None and head is None)


def _outputs(model, dataset, split, spec, loss_fn, batch_size, raw_fn, head, class_weights, step):
    """(raw outputs, loss) of one split, by the path the run evaluates through."""
    from dlhw.evaluation.forward import forward, numpy_loss, split_outputs
    from dlhw.models.outputs import encode_labels
    from dlhw.training.class_weights import sample_weights

    s = dataset.splits[split]
    weights = sample_weights(class_weights, s.y) if len(s) else None
    if raw_fn is not None:
        raw = raw_fn(split)
        return raw, (numpy_loss(loss_fn, encode_labels(s.y, spec), raw) if len(s) else None)
    if head is not None:
        fn, blocks = head(split)
        return forward(fn, blocks, encode_labels(s.y, spec), loss_fn, weights, eager=True)
    return split_outputs(model, dataset, split, spec, loss_fn, batch_size, weights, step)


def _write_results(cfg, dataset, model, spec, result, run_dir: Path, preds, out, full_model: bool) -> Dict[str, Any]:
    """The plots and the rest of metrics.json from the splits' predictions and figures."""
    from dlhw.evaluation import metrics as M
    from dlhw.evaluation import plots as P
    from dlhw.evaluation.figure import drawn
    from dlhw.training.trainer import count_params, evaluation_monitor

    test = preds["test"] if len(preds["test"].y) else preds["val"]
    title = run_dir.name
    if spec.encoding in ("index", "binary", "onehot"):
        cm = M.confusion(test, spec.num_classes)
        M.write_confusion_csv(cm, dataset.class_names, run_dir / layout.CONFUSION_CSV)
        drawn(run_dir / layout.CONFUSION_PNG, P.plot_confusion, cm, dataset.class_names,
              run_dir / layout.CONFUSION_PNG,
              f"{title}: confusion matrix ({'test' if len(preds['test'].y) else 'val'} split)")
        drawn(run_dir / layout.ROC, P.plot_roc, test.y.astype(int), test.proba, dataset.class_names,
              run_dir / layout.ROC, f"{title}: ROC")
        out["confusion_matrix"] = cm.tolist()
    elif spec.heads:  # model.outputs: curves_outputs.png, predicted_vs_true.png per output
        from dlhw.evaluation.heads_eval import write_head_results

        write_head_results(result.history, test.y, test.raw, spec, run_dir, "test" if len(preds["test"].y) else "val")
    elif spec.encoding == "target":
        drawn(run_dir / layout.PREDICTED_VS_TRUE, P.plot_regression, test.y, test.raw,
              run_dir / layout.PREDICTED_VS_TRUE, f"{title}: predicted vs true")
    if full_model:  # unseen classes / open set (dataset.classes, evaluation.open_set)
        from dlhw.evaluation.open_set import evaluate_unseen

        out.update(evaluate_unseen(cfg, dataset, model, spec, run_dir, cfg.training.batch_size,
                                   known_proba={k: preds[k].proba for k in ("val", "test")}))
    monitor = evaluation_monitor(cfg)
    out.update({
        "params": count_params(model),
        "params_per_stage": result.stage_params,
        "train_seconds": round(result.train_seconds, 3),
        "best_epoch": result.best_epoch(monitor),
        "evaluated": result.evaluated,  # which epoch's weights the splits were measured with, and why
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "class_names": list(dataset.class_names),
        "output": spec.as_dict(),
        "validation": dataset.meta.get("validation", "val split"),
    })
    return out
