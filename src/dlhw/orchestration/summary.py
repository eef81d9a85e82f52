"""``dlhw summary CONFIG``: the model a config builds, without training it.

The layer table (output shapes, parameters per layer) and the totals: total, trainable,
non-trainable. The model is built from the data's facts (dlhw.data.shapes): the input shape
and the output size come from the config when it says them, else from the data's headers or
labels, and only as a last resort from the whole data set. A backbone is built with random
weights (its ImageNet file is never needed: the counts are the same), and ``init_from`` is
not loaded. Trainable counts are those of the first training stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple


@dataclass
class ModelSummary:
    """What ``dlhw summary`` prints, and the model it describes."""

    text: str
    total: int
    trainable: int
    non_trainable: int
    input_shape: Tuple[int, ...]
    data: str  # where the shape and output size came from, and what was read
    notes: List[str] = field(default_factory=list)
    model: object = None

    def __str__(self) -> str:
        return "\n".join([self.text.rstrip(), self.data] + self.notes)  # Keras' table ends with the totals


def summarize_config(cfg, expand: bool = False, debug: bool = False) -> ModelSummary:
    """Build ``cfg``'s model (not trained, not compiled) and summarise it; ``expand``: each nested
    model's layers too (a backbone's hundreds)."""
    from dlhw.data.shapes import data_facts, describe_read

    facts = data_facts(cfg)  # before TensorFlow loads: a missing file fails fast
    from dlhw.models import build_model
    from dlhw.orchestration.experiment import _summary_text, model_summary
    from dlhw.runtime.tfruntime import setup_runtime
    from dlhw.training.trainer import count_params

    notes = []
    built = cfg
    if cfg.model.type == "backbone" and cfg.model.backbone.weights is not None:
        built = cfg.model_copy(deep=True)
        built.model.backbone.weights = None
        notes.append(f"backbone built with random weights (weights: {cfg.model.backbone.weights} "
                     f"is not loaded; the counts are the same)")
    if cfg.model.init_from:
        notes.append(f"model.init_from ({cfg.model.init_from}) is not loaded; the counts are the same")
    if cfg.training.stages and any(s.unfreeze is not None for s in cfg.training.stages):
        notes.append("trainable counts are the first stage's; later stages unfreeze more")
    setup_runtime("auto", cfg.seed, None, debug)
    model, _ = build_model(built, facts.stand_in(built))
    counts = count_params(model)
    text = model_summary(model) if expand else _summary_text(model, expand=False)
    return ModelSummary(text, counts["total"], counts["trainable"], counts["non_trainable"],
                        tuple(facts.input_shape), describe_read(facts), notes, model)
