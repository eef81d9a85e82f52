"""Features larger than memory: streamed into the cache, read from disk through tf.data with
the same batches as the in-memory path, and a full cache folder during the feature pass."""

from __future__ import annotations

import csv
import errno
import zlib

import numpy as np
import pytest

from tests.conftest import accuracy_close, close_trained, make_image_folder
from tests.training.test_feature_cache import config


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("fs") / "img", per_class=12, size=32)


def _entries(cache):
    return sorted(p.name for p in (cache / "features").rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def test_streamed_entry_is_a_npy_file_read_back_whole_or_row_by_row(tmp_path):
    from dlhw.training.feature_store import FeatureFile, open_entry, write_entries

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(23, 2, 3)).astype(np.float32), rng.normal(size=(5, 2, 3)).astype(np.float32)
    blocks = [("a", a[:7]), ("b", b[:4]), ("a", a[7:20]), ("b", b[4:]), ("a", a[20:])]
    targets = {"a": (tmp_path / "a.npy", a.shape, True), "b": (tmp_path / "b.npy", b.shape, False)}
    out = write_entries(targets, iter(blocks), lambda split, shape, crc: {"crc32": crc})
    np.testing.assert_array_equal(out["a"][0], a)  # kept in memory while written
    assert out["b"][0] is None
    assert out["a"][1] == zlib.crc32(a.tobytes()) and out["b"][1] == zlib.crc32(b.tobytes())
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), a)  # NumPy's own format
    whole = open_entry(tmp_path / "a.npy", 23, out["a"][1], True)
    np.testing.assert_array_equal(whole, a)
    disk = open_entry(tmp_path / "a.npy", 23, out["a"][1], False)
    assert isinstance(disk, FeatureFile) and disk.shape == a.shape
    np.testing.assert_array_equal(disk.take([22, 0, 5, 5]), a[[22, 0, 5, 5]])
    np.testing.assert_array_equal(disk.rows(20, 99), a[20:])
    assert open_entry(tmp_path / "a.npy", 23, out["a"][1] ^ 1, False) is None  # damaged
    assert open_entry(tmp_path / "a.npy", 22, out["a"][1], True) is None  # other row count


def test_a_failure_mid_pass_removes_every_partial_file(tmp_path):
    from dlhw.training.feature_store import write_entries

    def blocks():
        yield "a", np.ones((3, 4), np.float32)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(Exception) as info:
        write_entries({"a": (tmp_path / "a.npy", (6, 4), False), "b": (tmp_path / "b.npy", (2, 4), False)},
                      blocks(), lambda *a: {})
    assert "No space left on device" in str(info.value) and str(tmp_path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_tf_batches_from_disk_are_array_fits_batches(tmp_path):
    """The pipeline over a FeatureFile yields epoch e's (seed, e) permutation in batches."""
    from dlhw.training.epoch_data import epoch_permutation
    from dlhw.training.feature_store import open_entry, ordered_batches, training_batches, write_entries

    x = np.arange(13 * 2, dtype=np.float32).reshape(13, 2)
    y = np.arange(13) % 3
    crc = write_entries({"t": (tmp_path / "t.npy", x.shape, False)}, [("t", x)], lambda *a: {})["t"][1]
    disk = open_entry(tmp_path / "t.npy", 13, crc, False)
    data = training_batches(disk, y, 4, seed=7, first=1, last=3, shuffle=True)
    assert data.steps == 4
    got = [(bx.numpy(), by.numpy()) for bx, by in data.dataset]
    want = []
    for epoch in (1, 2):
        perm = epoch_permutation(13, 7, epoch, True).numpy()
        want += [perm[i:i + 4] for i in range(0, 13, 4)]
    assert len(got) == len(want) == 8
    for (bx, by), idx in zip(got, want):
        np.testing.assert_array_equal(bx, x[idx])
        np.testing.assert_array_equal(by, y[idx])
    val = [bx.numpy() for bx, _ in ordered_batches(disk, y, 5)]
    np.testing.assert_array_equal(np.concatenate(val), x)


def _history(run_dir):
    return list(csv.DictReader((run_dir / "history.csv").open()))


def test_features_over_the_budget_train_from_disk_like_in_memory(tmp_path, folder, monkeypatch):
    """A 1-byte budget keeps every split on disk: the same history and metrics as in memory."""
    from dlhw.orchestration.experiment import run_experiment

    memory = run_experiment(config(folder, name="memory"), out=tmp_path / "runs", quiet=True,
                            cache_dir=tmp_path / "c1")
    monkeypatch.setenv("DLHW_CACHE_MEMORY", "1")
    disk = run_experiment(config(folder, name="disk"), out=tmp_path / "runs", quiet=True, cache_dir=tmp_path / "c2")
    assert memory.metrics["feature_cache"]["on_disk"] == []
    assert disk.metrics["feature_cache"]["on_disk"] == ["train", "val", "test"]
    for a, b in zip(_history(memory.run_dir), _history(disk.run_dir), strict=True):  # (tests.conftest.TRAINED)
        for key in ("loss", "val_loss"):
            assert close_trained(float(a[key]), float(b[key])), key
    for split in ("train", "val", "test"):
        m, n = memory.metrics[split], disk.metrics[split]
        assert accuracy_close(m["accuracy"], n["accuracy"], m["samples"]) and close_trained(m["loss"], n["loss"])
    # a second run reads the on-disk entries back (hits), still from disk
    again = run_experiment(config(folder, name="again"), out=tmp_path / "runs", quiet=True, cache_dir=tmp_path / "c2")
    assert again.metrics["feature_cache"]["hits"] == ["train", "val", "test"]
    assert _history(again.run_dir) == _history(disk.run_dir)


def _full_disk_during_the_pass(monkeypatch):
    """The cache folder fills up after the first block of features is written."""
    from dlhw.training import feature_store

    add = feature_store.EntryWriter.add
    calls = []

    def full(self, block):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        add(self, block)

    monkeypatch.setattr(feature_store.EntryWriter, "add", full)


@pytest.mark.parametrize("budget, then", [("1", "the frozen stages train on images"),  # issue 28: 1GB 26 s -> slow
                                           pytest.param("1GB", "features kept in memory for this run, not cached",
                                                        marks=pytest.mark.slow)])
def test_full_cache_folder_falls_back_to_uncached_with_one_warning(tmp_path, folder, monkeypatch, caplog, budget,
                                                                   then):
    """Over the budget the frozen stages train on images; under it on features kept in memory."""
    from dlhw.orchestration.experiment import run_experiment

    plain = run_experiment(config(folder, name="plain", cache="off"), out=tmp_path / "runs", quiet=True)
    _full_disk_during_the_pass(monkeypatch)
    monkeypatch.setenv("DLHW_CACHE_MEMORY", budget)
    caplog.clear()
    out = run_experiment(config(folder, name="full"), out=tmp_path / "runs", quiet=True, cache_dir=tmp_path / "c")
    from tests.conftest import warned

    err = warned(caplog)
    warnings = [line for line in err.splitlines() if "feature cache" in line]
    assert len(warnings) == 1, err
    assert str(tmp_path / "c" / "features") in warnings[0] and "No space left on device" in warnings[0]
    assert then in warnings[0]
    assert _entries(tmp_path / "c") == []  # partial entries removed
    assert out.metrics["feature_cache"]["hits"] == [] and out.metrics["feature_cache"]["on_disk"] == []
    for a, b in zip(_history(plain.run_dir), _history(out.run_dir), strict=True):  # (tests.conftest.TRAINED)
        assert close_trained(float(a["loss"]), float(b["loss"]))
        assert close_trained(float(a["val_loss"]), float(b["val_loss"]))


def test_full_cache_folder_fails_a_classifier_too_large_for_memory(tmp_path, folder, monkeypatch):
    from dlhw.errors import WriteError
    from dlhw.orchestration.experiment import run_experiment
    from tests.models.test_classical import config as classifier_config

    _full_disk_during_the_pass(monkeypatch)
    monkeypatch.setenv("DLHW_CACHE_MEMORY", "1")
    with pytest.raises(WriteError) as info:
        run_experiment(classifier_config(folder, {"type": "sgd"}), out=tmp_path / "runs", quiet=True,
                       cache_dir=tmp_path / "c")
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / "c" / "features") in msg and "No space left on device" in msg
    assert _entries(tmp_path / "c") == []
