"""Look inside trained runs: the fraction of zero activations per ReLU-like layer (S2).

``activation_sparsity(run_dir, samples)`` rebuilds the run's data from its
config.yaml, feeds ``samples`` inputs of the test split (validation when there
is no test split) through the run's model (or chosen ``inputs``: image files or
CSV rows, prepared as ``dlhw predict`` prepares them), and reports, for every layer whose
output is a ReLU (exact zeros are possible), the fraction of output values
equal to 0. ReLU-like outputs are: Dense / Conv layers with activation relu or
relu6, Activation('relu' / 'relu6') layers, ReLU layers without a negative
slope, and dlhw's InceptionBlock (a concatenation of ReLU branches). Nested
models (a pretrained backbone inside the run's model) are searched too.
Leaky ReLU, ELU, GELU and the like are left out: they are almost never exactly 0.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from dlhw.errors import ConfigError, DataError
from dlhw.rundir import layout

RELU_NAMES = ("relu", "relu6")


@dataclass
class LayerSparsity:
    run: str
    layer: str
    kind: str
    units: int
    samples: int
    zero_fraction: float


def relu_kind(layer) -> Optional[str]:
    """A short description if ``layer``'s output is ReLU-like, else None."""
    import keras

    name = type(layer).__name__
    if isinstance(layer, keras.layers.ReLU):
        slope = float(layer.get_config().get("negative_slope", 0.0) or 0.0)
        return "ReLU" if slope == 0 else None
    if name == "InceptionBlock":
        c = layer.get_config()
        if c.get("batch_norm", True) and c.get("order", "conv_bn_act") == "conv_act_bn":
            return None  # its branches end in BatchNorm, not ReLU
        return "InceptionBlock (concatenated ReLU branches)"
    if isinstance(layer, (keras.layers.Activation, keras.layers.Dense, keras.layers.Conv1D,
                          keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D,
                          keras.layers.SeparableConv2D)):
        act = layer.get_config().get("activation")
        if isinstance(act, str) and act.lower() in RELU_NAMES:
            return f"{name}({act.lower()})"
    return None


def _is_submodel(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


class Probe:
    """Outputs of every ReLU-like layer of a model, nested models included."""

    def __init__(self, model, prefix: str = ""):
        import keras

        self.entries: List[Tuple[str, str]] = []  # (name, kind) for this level's ReLU outputs
        outputs = []
        self.children: List[Tuple[int, "Probe"]] = []  # (index of the child's input in outputs, probe)
        for layer in model.layers:
            if _is_submodel(layer):
                child = Probe(layer, prefix=f"{prefix}{layer.name}/")
                if child.size():
                    self.children.append((len(outputs), child))
                    outputs.append(layer._inbound_nodes[0].input_tensors[0])
                continue
            kind = relu_kind(layer)
            if kind:
                self.entries.append((prefix + layer.name, kind))
                outputs.append(layer.output)
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        self.model = keras.Model(inputs, outputs) if outputs else None

    def size(self) -> int:
        return len(self.entries) + sum(c.size() for _, c in self.children)

    def names(self) -> List[Tuple[str, str]]:
        """(layer, kind) in model order: this level first, then each nested model."""
        out = list(self.entries)
        for _, child in self.children:
            out.extend(child.names())
        return out

    def run(self, x) -> List[np.ndarray]:
        """The ReLU outputs for one batch, in ``names()`` order."""
        if self.model is None:
            return []
        outs = self.model(x, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        child_idx = {i for i, _ in self.children}
        own = [np.asarray(o) for i, o in enumerate(outs) if i not in child_idx]
        for i, child in self.children:
            own.extend(child.run(outs[i]))
        return own


def _input_batches(run_dir: Path, inputs: Sequence[str], batch_size: int):
    from dlhw.results.predict import model_inputs

    data, _ = model_inputs(run_dir, inputs)
    if not isinstance(data, np.ndarray):  # images: a batched tf.data pipeline
        for batch in data:
            yield np.asarray(batch)
        return
    for start in range(0, len(data), batch_size):
        yield data[start:start + batch_size]


def activation_sparsity(run_dir, samples: int = 256, batch_size: int = 32,
                        inputs: Optional[Sequence[str]] = None) -> List[LayerSparsity]:
    """Fraction of zero outputs per ReLU-like layer over ``samples`` test inputs of a run,
    or over the chosen ``inputs`` (image files, folders or CSV files; S2 used one image)."""
    from dlhw.config import load_config
    from dlhw.data import load_dataset
    from dlhw.results.predict import check_run, load_run_model

    if samples < 1:
        raise ConfigError(f"--samples: must be at least 1; received {samples}")
    run_dir = check_run(Path(run_dir))
    if inputs:
        batches = _input_batches(run_dir, inputs, batch_size)
    else:
        cfg = load_config(run_dir / layout.CONFIG)
        dataset = load_dataset(cfg)
        split = "test" if len(dataset.splits["test"]) else "val"
        batches = dataset.batches(split, batch_size, limit=samples)
    model, _ = load_run_model(run_dir)
    probe = Probe(model)
    if probe.size() == 0:
        raise DataError(f"{run_dir}: the model has no ReLU-like layer (relu / relu6 activations) to inspect")
    names = probe.names()
    zeros = np.zeros(len(names))
    counts = np.zeros(len(names))
    units = [0] * len(names)
    seen = 0
    for batch in batches:
        outs = probe.run(batch)
        seen += int(outs[0].shape[0])
        for i, o in enumerate(outs):
            zeros[i] += float(np.count_nonzero(o == 0))
            counts[i] += o.size
            units[i] = int(np.prod(o.shape[1:]))
    return [LayerSparsity(run_dir.name, n, k, units[i], seen, float(zeros[i] / max(counts[i], 1)))
            for i, (n, k) in enumerate(names)]


def write_csv(rows: Sequence[LayerSparsity], path: Path) -> None:
    from dlhw.runtime.files import write_text

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run", "layer", "kind", "units", "samples", "zero_fraction"])
    for r in rows:
        w.writerow([r.run, r.layer, r.kind, r.units, r.samples, f"{r.zero_fraction:.6f}"])
    write_text(Path(path), buf.getvalue())


def plot_sparsity(rows: Sequence[LayerSparsity], path: Path, title: str) -> None:
    """Horizontal bars, one group per layer (model order), one bar per run."""
    from dlhw.evaluation.figure import figure as _figure
    from dlhw.evaluation.figure import save as _save

    runs = list(dict.fromkeys(r.run for r in rows))
    layers = list(dict.fromkeys(r.layer for r in rows))
    value: Dict[Tuple[str, str], float] = {(r.run, r.layer): r.zero_fraction for r in rows}
    height = min(max(3.0, 0.22 * len(layers) * max(1, len(runs)) ** 0.5 + 1.5), 60)
    fig = _figure(8.5, height)
    ax = fig.subplots()
    bar = 0.8 / len(runs)
    y = np.arange(len(layers))
    for j, run in enumerate(runs):
        vals = [value.get((run, layer), np.nan) for layer in layers]
        ax.barh(y - 0.4 + bar * (j + 0.5), vals, height=bar, label=run)
    ax.set_yticks(y, layers, fontsize=7 if len(layers) > 30 else 9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of outputs equal to 0")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10 if len(title) > 60 else 12)
    if len(runs) > 1:
        ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)


def inspect_activations(runs: Sequence[str], samples: int = 256, out: Optional[Path] = None,
                        inputs: Optional[Sequence[str]] = None) -> Tuple[Path, List[LayerSparsity]]:
    """activations.csv and activations.png for one or more runs; returns (out folder, rows).
    ``inputs``: feed these files instead of test-split samples."""
    if not runs:
        raise ConfigError("dlhw inspect: give at least one RUN folder")
    rows: List[LayerSparsity] = []
    for run in runs:
        rows.extend(activation_sparsity(run, samples, inputs=inputs))
    folder = Path(out) if out else (Path(runs[0]) if len(runs) == 1 else Path("activations"))
    from dlhw.runtime.files import ensure_dir

    ensure_dir(folder)
    write_csv(rows, folder / layout.ACTIVATIONS_CSV)
    names = list(dict.fromkeys(r.run for r in rows))
    title = f"zero activations per layer: {', '.join(names)}" if len(names) <= 3 else "zero activations per layer"
    if inputs and len(inputs) == 1:
        title += f" (input: {Path(inputs[0]).name})"
    plot_sparsity(rows, folder / layout.ACTIVATIONS_PNG, title)
    return folder, rows
