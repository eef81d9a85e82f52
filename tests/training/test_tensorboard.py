"""training.tensorboard: true / false (epoch scalars) and {histograms: N} (weight histograms every N
epochs), read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.errors import ConfigError
from dlhw.orchestration.experiment import run_experiment

BASE = {
    "name": "tb", "seed": 2,
    "dataset": {"source": "sklearn", "name": "iris"},
    "model": {"type": "mlp", "layers": [{"units": 8, "batch_norm": True}]},
    "training": {"epochs": 5, "batch_size": 16, "checkpoint": "off"},
    "evaluation": {"samples": 0},
}


def run(tmp_path, tensorboard):
    cfg = validate({**BASE, "training": {**BASE["training"], "tensorboard": tensorboard}})
    return run_experiment(cfg, out=tmp_path, quiet=True).run_dir


def events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_histograms_every_n_epochs(tmp_path):
    folder = run(tmp_path, {"histograms": 2})
    train = events(folder / "tb" / "train")
    import keras

    model = keras.saving.load_model(folder / "model.keras")
    tags = sorted(t for t in train.Tags()["tensors"] if t.endswith("/histogram"))
    # every weight, the BatchNormalization moving statistics included, as Keras' TensorBoard does
    assert tags == sorted(f"{w.path}/histogram" for w in model.weights) and len(tags) == 8
    for tag in tags:
        assert [e.step for e in train.Tensors(tag)] == [0, 2, 4]  # as histogram_freq=2: epochs 1, 3, 5
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2, 3, 4]  # the scalars still every epoch
    # the last histogram (epoch 5, the last) bins the saved weights: their range and count
    from tensorboard.util import tensor_util

    for w in model.weights:
        table = tensor_util.make_ndarray(train.Tensors(f"{w.path}/histogram")[-1].tensor_proto)
        values = np.asarray(w).ravel()
        assert table.shape == (30, 3) and table[:, 2].sum() == values.size
        if values.min() < values.max():
            assert table[0, 0] == pytest.approx(values.min()) and table[-1, 1] == pytest.approx(values.max())
    # TensorBoard's histogram dashboard shows them: its plugin's metadata on every tag
    assert set(train.PluginTagToContent("histograms")) == set(tags)
    assert all(train.SummaryMetadata(t).plugin_data.plugin_name == "histograms" for t in tags)


@pytest.mark.parametrize("value", [True, {"histograms": 0}, {}])
def test_scalars_only_unless_asked(tmp_path, value):
    folder = run(tmp_path, value)
    train = events(folder / "tb" / "train")
    assert train.Tags()["tensors"] == [] and "epoch_loss" in train.Tags()["scalars"]


def test_false_writes_no_logs(tmp_path):
    assert not (run(tmp_path, False) / "tb").exists()


@pytest.mark.parametrize("value, words", [({"histograms": -1}, "histograms"), ({"histogram": 1}, "histogram"),
                                          ("sometimes", "tensorboard")])
def test_bad_tensorboard_values_are_refused(value, words):
    with pytest.raises(ConfigError) as info:
        validate({**BASE, "training": {**BASE["training"], "tensorboard": value}})
    assert words in str(info.value) and "\n" not in str(info.value)


def test_event_files_reach_the_disk_while_training_goes_on(tmp_path, monkeypatch):
    """Events are buffered (no writer thread) and flushed every FLUSH_SECONDS: TensorBoard
    sees an epoch before the stage ends; close() writes the rest."""
    import time

    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto import event_pb2, summary_pb2

    from dlhw.training import event_file

    def scalar(step):
        value = summary_pb2.Summary.Value(tag="epoch_loss", simple_value=float(step))
        return event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value]))

    def steps(path):
        return [e.step for e in EventFileLoader(str(path)).Load() if e.HasField("summary")]

    monkeypatch.setattr(event_file, "FLUSH_SECONDS", 3600.0)
    f = event_file.EventFile(tmp_path / "train")
    assert f.path.name.startswith("events.out.tfevents.")
    f.write(scalar(0))
    assert steps(f.path) == []  # buffered
    monkeypatch.setattr(event_file, "FLUSH_SECONDS", 0.0)
    f.write(scalar(1))
    assert steps(f.path) == [0, 1]  # due: flushed
    monkeypatch.setattr(event_file, "FLUSH_SECONDS", 3600.0)
    f.write(scalar(2))
    f.close()
    assert steps(f.path) == [0, 1, 2]
    first = next(iter(EventFileLoader(str(f.path)).Load()))
    assert first.file_version == "brain.Event:2"
