"""The frozen-backbone feature cache: miss, hit, invalidation, off switches, and the same
predictions as the uncached path."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dlhw.config import validate
from tests.conftest import accuracy_close, close_trained, make_image_folder


def config(folder, name="fc", cache="auto", **model):
    backbone = {"name": "vgg16", "weights": None, "pooling": "avg"}
    backbone.update(model.pop("backbone", {}))
    return validate({
        "name": name, "seed": 5, "cache": cache,
        "dataset": {"source": "image_folder", "path": str(folder), "image_size": [32, 32],
                    "augment": model.pop("augment", False)},
        "model": {"type": "backbone", "backbone": backbone,
                  "head": [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "batch_norm"},
                           {"type": "dropout", "rate": 0.25}], **model},
        "training": {"epochs": 3, "batch_size": 8, "tensorboard": False, "checkpoint": False,
                     "optimizer": {"type": "adam", "learning_rate": 0.01}},
        "evaluation": {"samples": 0},
    })


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("fc") / "img", per_class=12, size=32)


def plan(cfg, cache_dir):
    """A FeaturePlan for cfg as run_experiment makes it (model built with cfg's seed)."""
    from dlhw.data import load_dataset
    from dlhw.models import build_model
    from dlhw.runtime.tfruntime import setup_runtime
    from dlhw.training.feature_cache import FeaturePlan

    setup_runtime("cpu", cfg.seed)
    dataset = load_dataset(cfg)
    model, _ = build_model(cfg, dataset)
    return FeaturePlan(cfg, model, dataset, cache_dir)


def hits(p):
    for split in ("train", "val", "test"):
        p.features(split)
    return sorted(e["split"] for e in p.events if e["hit"])


def test_miss_then_hit_reads_the_same_features(tmp_path, folder):
    cache = tmp_path / "cache"
    first = plan(config(folder), cache)
    assert hits(first) == []
    files = sorted((cache / "features").rglob("*.npy"))
    assert len(files) == 3 and len(sorted((cache / "features").rglob("*.json"))) == 3
    meta = json.loads(files[0].with_suffix(".json").read_text())
    assert meta["backbone"] == "vgg16" and meta["pooling"] == "avg" and meta["input_shape"] == [32, 32, 3]
    second = plan(config(folder), cache)
    assert hits(second) == ["test", "train", "val"]
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(first.features(split), second.features(split))
    assert first.features("train").shape == (len(first.dataset.splits["train"]), 512)


def test_a_damaged_entry_is_detected_recomputed_and_warned(tmp_path, folder, caplog):
    cache = tmp_path / "cache"
    first = plan(config(folder), cache)
    hits(first)
    entry = sorted((cache / "features").rglob("*.npy"))[0]
    data = bytearray(entry.read_bytes())
    data[-3] ^= 0xFF  # one feature value changed: same shape, still a valid .npy
    entry.write_bytes(bytes(data))
    caplog.clear()
    second = plan(config(folder), cache)
    assert len(hits(second)) == 2  # the damaged split was recomputed
    from tests.conftest import warned

    err = warned(caplog)
    assert "damaged entry" in err and str(entry) in err
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(first.features(split), second.features(split))
    assert hits(plan(config(folder), cache)) == ["test", "train", "val"]  # rewritten whole


def test_every_input_change_is_a_miss(tmp_path, folder):
    cache = tmp_path / "cache"
    assert hits(plan(config(folder), cache)) == []
    assert hits(plan(config(folder, backbone={"pooling": "max"}), cache)) == []       # pooling
    cfg = config(folder)
    cfg.seed = 6                                                                     # other random weights
    assert hits(plan(cfg, cache)) == []
    cfg = config(folder)
    cfg.dataset.split = {"train": 0.5, "val": 0.25, "test": 0.25}                    # other split members
    assert hits(plan(cfg, cache)) == []
    assert hits(plan(config(folder), cache)) == ["test", "train", "val"]              # unchanged: hit


def test_changed_image_or_weights_file_is_a_miss(tmp_path):
    import keras

    folder = make_image_folder(tmp_path / "img", per_class=8, size=32)
    cache = tmp_path / "cache"
    weights = tmp_path / "vgg.weights.h5"
    keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(weights)
    cfg = config(folder, backbone={"weights": str(weights)})
    assert hits(plan(cfg, cache)) == []
    assert hits(plan(cfg, cache)) == ["test", "train", "val"]
    keras.utils.set_random_seed(99)
    keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(weights)
    assert hits(plan(cfg, cache)) == []                                              # same path, new values
    image = sorted((folder / "cat").iterdir())[0]
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    assert hits(plan(cfg, cache)) == []                                              # edited image


def test_cache_off_and_augment_and_trainable_store_nothing(tmp_path, folder):
    cache = tmp_path / "cache"
    off = plan(config(folder, cache="off"), cache)
    assert off.reason == "cache: off" and not off.stage_uses_cache(0)
    assert plan(config(folder, augment=True), cache).reason.startswith("dataset.augment is on")
    assert plan(config(folder, backbone={"trainable": True}), cache).reason == "the backbone is trainable"
    off.features("train")
    assert not (cache / "features").exists()


def test_unreadable_entry_is_recomputed(tmp_path, folder):
    cache = tmp_path / "cache"
    hits(plan(config(folder), cache))
    for f in (cache / "features").rglob("*.npy"):
        f.write_bytes(b"garbage")
    again = plan(config(folder), cache)
    assert hits(again) == []
    assert np.isfinite(again.features("train")).all()


def test_cached_run_equals_uncached_run(tmp_path, folder):
    """Same seed: the same history and the same predictions on raw images (model.keras is the
    full model either way), within float tolerance."""
    import csv

    import keras

    from dlhw.data.image_cache import tf_images
    from dlhw.orchestration.experiment import run_experiment

    cached = run_experiment(config(folder, name="cached"), out=tmp_path / "runs", quiet=True,
                            cache_dir=tmp_path / "cache")
    plain = run_experiment(config(folder, name="plain", cache="off"), out=tmp_path / "runs", quiet=True)
    assert cached.metrics["feature_cache"]["misses"] == ["train", "val", "test"]
    assert plain.metrics["feature_cache"]["used"] is False
    files = sorted(str(p) for p in folder.rglob("*.png"))
    preds = []
    for out in (cached, plain):
        model = keras.saving.load_model(out.run_dir / "model.keras", safe_mode=True)
        assert model.input.shape == (None, 32, 32, 3)
        preds.append(model.predict(tf_images(files, None, [32, 32], 3, 8), verbose=0))
    assert preds[0].std() > 1e-3  # the head learned something input-dependent
    # two computations of the same training (features from the cache vs the backbone in the model): equal
    # within what other CPUs' kernels make of trained outcomes (tests.conftest.TRAINED)
    assert close_trained(preds[0], preds[1])
    rows = [list(csv.DictReader((o.run_dir / "history.csv").open())) for o in (cached, plain)]
    assert len(rows[0]) == len(rows[1])
    for a, b in zip(*rows):
        for key in ("loss", "val_loss"):
            assert close_trained(float(a[key]), float(b[key])), key
    for split in ("train", "val", "test"):
        m, n = cached.metrics[split], plain.metrics[split]
        assert accuracy_close(m["accuracy"], n["accuracy"], m["samples"])
        assert close_trained(m["loss"], n["loss"])
    assert cached.metrics["params"] == plain.metrics["params"]


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    from dlhw.data.image_cache import default_cache_dir

    monkeypatch.setenv("DLHW_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("DLHW_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "dlhw"


def test_cli_cache_dir_option(tmp_path, folder):
    """dlhw run --cache-dir puts the features there; a second run reads them."""
    import yaml
    from typer.testing import CliRunner

    from dlhw.cli import app

    cfg = config(folder, name="cli").dump()
    cfg["training"]["epochs"] = 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    args = ["run", str(path), "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cc"), "--quiet"]
    for expected in ([], ["train", "val", "test"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        run = sorted((tmp_path / "runs").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
        assert json.loads((run / "metrics.json").read_text())["feature_cache"]["hits"] == expected
    assert len(list((tmp_path / "cc" / "features").rglob("*.npy"))) == 3


def test_concurrent_computations_wait_for_the_first_and_read_its_features(tmp_path, folder):
    """Two sweep workers missing the same features: the second waits on the first's lock, then
    reads what it wrote instead of computing the backbone pass again."""
    import fcntl
    import hashlib
    import threading

    cache = tmp_path / "cache"
    first = plan(config(folder), cache)
    lock = cache / "features" / f".{hashlib.sha256(first._common_key().encode()).hexdigest()[:16]}.lock"
    lock.parent.mkdir(parents=True)
    holder = open(lock, "a")
    fcntl.flock(holder, fcntl.LOCK_EX)  # as if another worker were computing them now
    done = threading.Event()
    computed = []
    blocks = first._blocks  # the backbone pass (streamed into the cache)
    first._blocks = lambda splits: computed.append(splits) or blocks(splits)
    thread = threading.Thread(target=lambda: (first.features("train"), done.set()))
    thread.start()
    assert not done.wait(1.0)  # blocked on the lock
    other = plan(config(folder), cache)  # "the other worker", holding the lock, writes the features
    for split, feats in other._compute(["train", "val", "test"]).items():
        other._write(other._path(other.split_key(split)), feats, split, len(feats))
    holder.close()  # and unlocks
    thread.join(60)
    assert done.is_set() and computed == []
    assert sorted(e["split"] for e in first.events if e["hit"]) == ["test", "train", "val"]


def test_a_large_set_is_extracted_through_one_compiled_graph_with_the_same_features(tmp_path, folder, monkeypatch):
    """Past EAGER_MAX_IMAGES (or on a GPU) the extractor runs as one traced tf.function: the same
    features as the eager calls, within float tolerance, the last smaller batch included."""
    from dlhw.training import feature_cache

    eager = plan(config(folder), tmp_path / "eager")
    monkeypatch.setattr(feature_cache, "EAGER_MAX_IMAGES", 0)
    traced = []
    real = feature_cache.extract_fn

    def spy(extractor, images):
        fn = real(extractor, images)
        traced.append(hasattr(fn, "get_concrete_function"))
        return fn

    monkeypatch.setattr(feature_cache, "extract_fn", spy)
    compiled = plan(config(folder), tmp_path / "compiled")
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(compiled.features(split), eager.features(split), rtol=1e-4, atol=1e-5)
    assert traced and all(traced)
