"""Image folders decoded once: in memory under the budget, else on disk; damaged entries and
unwritable cache folders; files TensorFlow cannot decode are skipped at listing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlhw.config import validate
from dlhw.data import image_cache
from dlhw.orchestration.experiment import run_experiment
from tests.conftest import make_image_folder, warned


def cnn_config(folder, **extra):
    return validate({
        "name": "cached", "seed": 1,
        "dataset": {"source": "image_folder", "path": str(folder), "image_size": [12, 12],
                    "split": {"train": 0.6, "val": 0.2, "test": 0.2}, **extra},
        "model": {"type": "cnn", "blocks": [{"type": "conv", "filters": 4, "kernel": 3, "pool": 2, "dropout": 0.2}],
                  "dense": [{"units": 8}]},
        "training": {"epochs": 3, "batch_size": 5, "tensorboard": False},
        "evaluation": {"samples": 0},
    })


def results(run):
    metrics = json.loads((run / "metrics.json").read_text())
    return (run / "history.csv").read_text(), {k: metrics[k] for k in ("train", "val", "test")}


@pytest.fixture(autouse=True)
def fresh_stores():
    image_cache.clear()
    yield
    image_cache.clear()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("imgs") / "f", per_class=10, size=20)


@pytest.fixture(scope="module")
def uncached(folder, tmp_path_factory):
    image_cache.clear()
    cfg = validate({**cnn_config(folder).dump(), "cache": "off"})
    return results(run_experiment(cfg, out=tmp_path_factory.mktemp("off"), quiet=True).run_dir)


def test_memory_cache_gives_the_uncached_result(folder, uncached, tmp_path):
    run = run_experiment(cnn_config(folder), out=tmp_path, quiet=True, cache_dir=tmp_path / "cache").run_dir
    assert results(run) == uncached
    kinds = [s.kind for s in image_cache.stores()]
    assert kinds and set(kinds) == {"memory"}
    assert not (tmp_path / "cache" / "images").exists()  # under the budget nothing goes to disk


@pytest.mark.slow  # issue 28: 26 s
def test_disk_cache_when_over_budget_then_reused_and_repaired(folder, uncached, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DLHW_CACHE_MEMORY", "0")
    cache = tmp_path / "cache"
    run = run_experiment(cnn_config(folder), out=tmp_path / "a", quiet=True, cache_dir=cache).run_dir
    assert results(run) == uncached
    entries = sorted((cache / "images").rglob("*.u8"))
    assert len(entries) == 3  # train, val, test
    assert {s.kind for s in image_cache.stores()} == {"disk"}
    # damage one byte of every entry: detected by the row checksum, re-decoded, warned, same result
    image_cache.clear()
    for entry in entries:
        data = bytearray(entry.read_bytes())
        data[7] ^= 0xFF
        entry.write_bytes(bytes(data))
    caplog.clear()
    run = run_experiment(cnn_config(folder), out=tmp_path / "b", quiet=True, cache_dir=cache).run_dir
    err = warned(caplog)
    assert "damaged entry" in err and "checksum" in err
    assert results(run) == uncached
    image_cache.clear()  # repaired in place: a third run reads it back without a warning
    caplog.clear()
    run_experiment(cnn_config(folder), out=tmp_path / "c", quiet=True, cache_dir=cache)
    assert "damaged" not in warned(caplog)


def test_unwritable_cache_folder_warns_once_and_the_run_goes_on(folder, uncached, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DLHW_CACHE_MEMORY", "0")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    run = run_experiment(cnn_config(folder), out=tmp_path, quiet=True, cache_dir=blocker).run_dir
    err = warned(caplog)
    assert "image cache: cannot write" in err and str(blocker) in err and "decoded every epoch" in err
    assert results(run) == uncached


def test_disk_store_reads_rows_without_holding_them(tmp_path, folder):
    files = sorted(str(p) for p in folder.rglob("*.png"))
    image_cache.configure(True, tmp_path)
    store = image_cache._disk_store(image_cache.store_key(files, (8, 8), 3), files, (8, 8), 3)
    assert store.nbytes == 0  # nothing resident: rows come from pread
    batch = store.take(np.array([3, 0, 3]))
    assert batch.shape == (3, 8, 8, 3) and batch.dtype == np.uint8 and (batch[0] == batch[2]).all()
    store.close()


@pytest.mark.parametrize("budget, expected", [("512MB", 512 * 2 ** 20), ("2gb", 2 * 2 ** 30), ("0", 0)])
def test_memory_budget_from_the_environment(monkeypatch, budget, expected):
    monkeypatch.setenv("DLHW_CACHE_MEMORY", budget)
    assert image_cache.memory_budget() == expected


def test_memory_budget_refuses_nonsense(monkeypatch):
    from dlhw.errors import ConfigError

    monkeypatch.setenv("DLHW_CACHE_MEMORY", "lots")
    with pytest.raises(ConfigError, match="DLHW_CACHE_MEMORY"):
        image_cache.memory_budget()


def test_files_tensorflow_cannot_decode_are_skipped_with_a_warning(tmp_path, caplog):
    from PIL import Image

    root = make_image_folder(tmp_path / "f", per_class=6, size=16)
    jpeg = root / "cat" / "whole.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    Image.fromarray(noise).save(jpeg, quality=95)
    cut = root / "cat" / "cut.jpg"
    cut.write_bytes(jpeg.read_bytes()[: len(jpeg.read_bytes()) * 4 // 5])  # header intact, scan cut short
    tiff = root / "dog" / "really_a_tiff.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tiff, format="TIFF")
    from dlhw.data.images import list_class_folder

    files, labels, _ = list_class_folder(root)
    err = warned(caplog)
    assert str(jpeg) in files and str(cut) not in files and str(tiff) not in files
    assert f"skipping {cut}" in err and "truncated JPEG" in err
    assert f"skipping {tiff}" in err and "TIFF" in err


def test_a_store_the_run_reads_is_never_evicted_for_the_next_split(folder, tmp_path, monkeypatch):
    """A budget that holds the training split but not training + validation: the validation split
    goes to disk; the training split's memory store stays readable (it was evicted before)."""
    files = sorted(str(p) for p in folder.rglob("*.png"))
    train, val = files[:14], files[14:]
    monkeypatch.setenv("DLHW_CACHE_MEMORY", str(14 * 12 * 12 * 3 + 10))
    image_cache.configure(True, tmp_path)
    first = image_cache.store_for(train, (12, 12), 3)
    second = image_cache.store_for(val, (12, 12), 3)
    assert first.kind == "memory" and second.kind == "disk"
    assert first.take(np.array([0, 13])).shape == (2, 12, 12, 3)
    image_cache.configure(True, tmp_path)  # the next run (a sweep trial) may evict the old store
    third = image_cache.store_for(val[:3], (12, 12), 3)
    assert third.kind == "memory" and first.array is None
