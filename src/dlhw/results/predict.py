"""Ask a trained run about new inputs: image files, folders of images, or CSV rows.

``predict_run(run_dir, inputs, top_k)`` loads the run's model (model.keras, in
Keras safe mode) and its preprocessing.json, turns the inputs into model inputs
the way training did, and returns one result per input: the top-k class names
with their probabilities (classification, multilabel) or the predicted values
(regression). Runs with a scikit-learn classifier head (SVM / logistic, S2 c)
keep that estimator beside model.keras (``classifier.joblib``, see
dlhw.models.classical); model.keras is then the feature extractor and the
estimator gives the class scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from dlhw.errors import ConfigError, DataError
from dlhw.rundir import layout


@dataclass
class Prediction:
    input: str
    top: List[Dict[str, Any]] = field(default_factory=list)
    values: Optional[Dict[str, float]] = None
    outputs: Optional[Dict[str, Dict[str, float]]] = None  # model.outputs: {output name: {target: value}}

    def as_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"input": self.input}
        if self.outputs is not None:
            out["outputs"] = self.outputs
        elif self.values is not None:
            out["values"] = self.values
        else:
            out["top"] = self.top
        return out


def collect_inputs(inputs: Sequence[str]) -> Dict[str, List[str]]:
    """{'images': [...], 'csv': [...]} from files and folders (folders: their images, recursively)."""
    from dlhw.data.images import IMAGE_EXTENSIONS

    images: List[str] = []
    tables: List[str] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise DataError(f"{p}: input not found")
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*")
                           if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))
            if not found:
                raise DataError(f"{p}: the folder holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
            images.extend(found)
        elif p.suffix.lower() == ".csv":
            tables.append(str(p))
        elif p.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(str(p))
        else:
            raise DataError(f"{p}: unsupported input; give image files ({', '.join(IMAGE_EXTENSIONS)}), "
                            f"a folder of images, or a .csv file")
    if images and tables:
        raise DataError(f"{tables[0]}: mix of CSV and image inputs; a run takes one kind")
    return {"images": images, "csv": tables}


def check_run(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run folder not found")
    if not (run_dir / layout.MODEL).exists():
        from dlhw.rundir.status import read_status

        state = read_status(run_dir).get("status", "unknown")
        raise DataError(f"{run_dir}: no model.keras (run status: {state}); only completed runs can predict")
    return run_dir


def load_run_model(run_dir: Path):
    """(keras model, classifier bundle or None) of a completed run.

    A classifier run (S2 c) keeps its scikit-learn estimator in classifier.joblib
    (dlhw.models.classical); model.keras is then the feature extractor.
    """
    import dlhw.models.layers  # noqa: F401  (registers dlhw's custom layers for safe-mode loading)
    from dlhw.models.classical import load_classifier_run

    if (Path(run_dir) / layout.ESTIMATOR).exists():
        return load_classifier_run(run_dir)
    from dlhw.runtime.safeload import load_keras_model

    return load_keras_model(Path(run_dir) / layout.MODEL, "run"), None


def _outputs(model, clf, data) -> np.ndarray:
    """Raw model outputs, or the classifier's class scores on the model's features."""
    out = np.asarray(model.predict(data, verbose=0))
    if clf is None:
        return out
    from dlhw.models.classical import class_scores

    return class_scores(clf["estimator"], out.reshape(len(out), -1), clf["num_classes"])


def _proba(raw: np.ndarray, pre: Dict[str, Any], clf) -> np.ndarray:
    if clf is not None:
        return raw
    from dlhw.models.outputs import OutputSpec, scores_to_proba

    return scores_to_proba(raw, OutputSpec(**pre["output"]))


def output_logits(model, data) -> np.ndarray:
    """The output layer's pre-activation values (logits) for ``data``: the model's own
    outputs when the output is linear, else the penultimate features through the output
    Dense's kernel and bias, without its activation."""
    import keras

    try:
        out_layer = model.get_layer("output")
    except ValueError:
        raise ConfigError(f"--logits: the model has no layer named 'output' to take logits from; "
                          f"received a {type(model).__name__}") from None
    act = out_layer.get_config().get("activation")
    if act in (None, "linear"):
        return np.asarray(model.predict(data, verbose=0))
    features = keras.Model(model.inputs, out_layer.input)
    x = np.asarray(features.predict(data, verbose=0))
    kernel, *bias = [np.asarray(w) for w in out_layer.get_weights()]
    return x @ kernel + (bias[0] if bias else 0.0)


def _class_logits(z: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class logits; one sigmoid unit for two classes gives log-odds -z (class 0) and z (class 1)."""
    z = np.asarray(z).reshape(len(z), -1)
    if z.shape[1] == 1 and num_classes == 2:
        return np.concatenate([-z, z], axis=1)
    return z


def results(raw: np.ndarray, labels: List[str], pre: Dict[str, Any], clf, top_k: int,
            logits: Optional[np.ndarray] = None) -> List[Prediction]:
    """Prediction objects from raw model (or classifier) outputs; ``logits`` adds each class's logit."""
    out: List[Prediction] = []
    heads = (pre.get("output") or {}).get("heads")
    if heads:  # model.outputs: each output by name, its targets' values (values: the same, flat)
        rows = np.asarray(raw).reshape(len(labels), -1)
        for label, row in zip(labels, rows):
            outs = {h["name"]: {t: float(v) for t, v in zip(h["targets"], row[h["start"]:h["start"] + h["units"]])}
                    for h in heads}
            out.append(Prediction(label, values={f"{n}.{t}": v for n, o in outs.items() for t, v in o.items()},
                                  outputs=outs))
        return out
    if pre["task"] == "regression":
        names = pre.get("targets") or [f"target_{i}" for i in range(raw.shape[1])]
        for label, row in zip(labels, np.asarray(raw).reshape(len(labels), -1)):
            out.append(Prediction(label, values={n: float(v) for n, v in zip(names, row)}))
        return out
    proba = _proba(raw, pre, clf)
    names = pre["class_names"]
    k = max(1, min(top_k, proba.shape[1]))
    z = None if logits is None else _class_logits(logits, len(names))
    for n, (label, row) in enumerate(zip(labels, proba)):
        order = np.argsort(-row, kind="stable")[:k]
        top = [{"class": str(names[i]), "probability": float(row[i])} for i in order]
        if z is not None:
            for t, i in zip(top, order):
                t["logit"] = float(z[n, i])
        out.append(Prediction(label, top=top))
    return out


def load_preprocessing(run_dir: Path) -> Dict[str, Any]:
    """preprocessing.json of a run; for older runs without one, rebuilt from config.yaml."""
    from dlhw.data.preprocessing import describe
    from dlhw.rundir.records import PreprocessingRecord

    path = PreprocessingRecord.in_folder(run_dir)
    if path.exists():
        return PreprocessingRecord.read(path).as_dict()
    cfg_path = Path(run_dir) / layout.CONFIG
    if not cfg_path.exists():
        raise DataError(f"{run_dir}: not a run folder (no {layout.PREPROCESSING} and no config.yaml)")
    from dlhw.config import load_config
    from dlhw.data import load_dataset
    from dlhw.models.outputs import resolve_output

    cfg = load_config(cfg_path)
    dataset = load_dataset(cfg)
    return describe(cfg, dataset, resolve_output(cfg, dataset))


def model_inputs(run_dir: Path, inputs: Sequence[str]):
    """(model input array, labels) for image files / folders / CSV files, prepared as in training."""
    from dlhw.data.preprocessing import csv_inputs, image_inputs
    from dlhw.data.sources import source_for

    pre = load_preprocessing(run_dir)
    own = source_for(pre.get("source")).predict_inputs(inputs, pre)  # e.g. sequences: .npz / .npy / CSV
    if own is not None:
        return own
    found = collect_inputs(inputs)
    if found["images"]:
        return image_inputs(found["images"], pre), list(found["images"])
    parts = [csv_inputs(Path(p), pre) for p in found["csv"]]
    return np.concatenate([x for x, _ in parts]), [lab for _, labs in parts for lab in labs]


def predict_run(run_dir, inputs: Sequence[str], top_k: int = 3, logits: bool = False) -> List[Prediction]:
    """Top-k predictions of a completed run for image files / folders / CSV files.

    Confidences are probabilities; ``logits`` adds each shown class's raw output-layer
    value (before softmax / sigmoid), as S2 printed."""
    if top_k < 1:
        raise ConfigError(f"--top-k: must be at least 1; received {top_k}")
    if not inputs:
        raise ConfigError("dlhw predict: give at least one INPUT (image file, folder or CSV)")
    run_dir = check_run(Path(run_dir))
    pre = load_preprocessing(run_dir)
    data, labels = model_inputs(run_dir, inputs)
    model, clf = load_run_model(run_dir)
    z = None
    if logits:
        if clf is not None:
            raise ConfigError(f"--logits: {run_dir} ends in a scikit-learn classifier, which has no logits; "
                              f"drop --logits")
        if pre["task"] == "regression":
            raise ConfigError(f"--logits: only for classification; {run_dir} is a regression run")
        z = output_logits(model, data)
    return results(_outputs(model, clf, data), labels, pre, clf, top_k, logits=z)
