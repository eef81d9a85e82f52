"""Resource bombs in data (issue 27): budgets read from headers, before anything is decoded."""

from __future__ import annotations

import resource
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from dlhw.config import load_config
from dlhw.data import load_dataset
from dlhw.data.limits import gif_frames
from dlhw.errors import DataError
from tests.conftest import make_image_folder


def animated_gif(path: Path, frames: int, side: int = 16) -> Path:
    """A GIF whose frames all differ (so none are merged away)."""
    base = np.arange(side * side, dtype=np.int64).reshape(side, side)
    images = [Image.fromarray(((base * (i + 1)) % 251).astype(np.uint8), "L").convert("P") for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=20, optimize=False, disposal=1)
    return path


def load(tmp_path: Path, **dataset):
    cfg = {"name": "t", "task": dataset.pop("task", "classification"), "dataset": dataset, "model": {"type": "mlp"}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_dataset(load_config(path))


def test_gif_frames_are_counted_without_decoding(tmp_path):
    gif = animated_gif(tmp_path / "a.gif", 30)
    assert gif_frames(gif, 1000) == ((16, 16), 30)
    assert gif_frames(gif, 5) == ((16, 16), 6)  # stops one past the budget


def test_many_frame_gif_and_huge_image_are_skipped_with_one_line(tmp_path, capsys):
    root = make_image_folder(tmp_path / "imgs", per_class=6)
    animated_gif(root / "cat" / "bomb.gif", 1001)  # default max_frames: 1000
    Image.new("1", (13_000, 13_000)).save(root / "dog" / "huge.png")  # 169 MP; default budget 100 MP
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no PIL DecompressionBombWarning
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        ds = load(tmp_path, source="image_folder", path=str(root), image_size=[16, 16])
        took, grew_mb = time.perf_counter() - start, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    files = [f for s in ds.splits.values() for f in s.files]
    assert len(files) == 12 and not any(f.endswith(("bomb.gif", "huge.png")) for f in files)
    err = capsys.readouterr()
    lines = [ln for ln in (err.out + err.err).splitlines() if "bomb.gif" in ln or "huge.png" in ln]
    assert len(lines) == 2
    assert "bomb.gif" in lines[0] and "more than 1000 frames" in lines[0] and "dataset.limits.max_frames (1000)" in lines[0]
    assert "13000 x 13000 = 169,000,000 pixels" in lines[1] and "dataset.limits.max_image_pixels (100,000,000)" in lines[1]
    print(f"refused both bombs in {took:.2f}s, peak memory +{grew_mb:.0f} MB")


def test_pixels_times_frames_budget_is_a_setting(tmp_path, capsys):
    root = make_image_folder(tmp_path / "imgs", per_class=4)
    animated_gif(root / "cat" / "anim.gif", 12)  # 16 x 16 x 12 = 3072 pixels
    ds = load(tmp_path, source="image_folder", path=str(root), image_size=[16, 16],
              limits={"max_image_pixels": 3000})
    assert len([f for s in ds.splits.values() for f in s.files]) == 8
    out = capsys.readouterr()
    assert "anim.gif" in out.out + out.err and "16 x 16 x 12 frames = 3,072 pixels" in out.out + out.err
    ds = load(tmp_path, source="image_folder", path=str(root), image_size=[16, 16])
    assert len([f for s in ds.splits.values() for f in s.files]) == 9  # within the default budget


def test_image_csv_refuses_an_image_over_budget(tmp_path):
    root = make_image_folder(tmp_path / "imgs", classes=("a",), per_class=6)
    animated_gif(root / "a" / "anim.gif", 12)
    rows = [f"a/{p.name},{i}" for i, p in enumerate(sorted((root / "a").iterdir()))]
    (root / "t.csv").write_text("image,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"t.csv: row \d \(line \d\), column 'image': .*anim.gif is not a readable "
                                        r"image \(an animation of more than 5 frames.*dataset.limits.max_frames \(5\)"):
        load(tmp_path, source="image_csv", path=str(root / "t.csv"), target="y", task="regression",
             image_size=[16, 16], limits={"max_frames": 5})


def lying_npy(path: Path, shape, payload: int = 64) -> Path:
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)})
        f.write(b"\0" * payload)
    return path


def test_npy_header_declaring_a_huge_shape(tmp_path):
    x = lying_npy(tmp_path / "x.npy", (10**6, 10**6))
    np.save(tmp_path / "y.npy", np.arange(4) % 2)
    with pytest.raises(DataError) as err:
        load(tmp_path, source="sequences", path=str(x), labels=str(tmp_path / "y.npy"))
    msg = str(err.value)
    assert "dataset.path:" in msg and "x.npy" in msg and "[1000000, 1000000] of float32 = 4,000,000,000,000 bytes" in msg
    assert "dataset.limits.max_array_bytes (4,294,967,296)" in msg and len(msg.splitlines()) == 1
    lying_npy(x, (4, 100))  # within budget, but 1600 bytes declared and 64 stored
    with pytest.raises(DataError, match=r"x.npy: its header declares .* 1,600 bytes, but only 64 bytes follow"):
        load(tmp_path, source="sequences", path=str(x), labels=str(tmp_path / "y.npy"))


def test_npz_member_over_budget(tmp_path):
    np.savez_compressed(tmp_path / "s.npz", x=np.zeros((200, 50), np.float32), y=np.arange(200) % 2)
    with pytest.raises(DataError, match=r"s.npz, array 'x': its header declares shape \[200, 50\] of float32 = "
                                        r"40,000 bytes, over the budget dataset.limits.max_array_bytes \(10,000\)"):
        load(tmp_path, source="sequences", path=str(tmp_path / "s.npz"), limits={"max_array_bytes": 10_000})
    assert len(load(tmp_path, source="sequences", path=str(tmp_path / "s.npz")).splits["train"]) > 100


def test_limits_at_their_defaults_keep_the_config_hash(tmp_path):
    from dlhw.config.fingerprint import fingerprint

    base = {"name": "t", "dataset": {"source": "sklearn", "name": "digits"}, "model": {"type": "mlp"}}
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(base))
    b.write_text(yaml.safe_dump({**base, "dataset": {**base["dataset"], "impute": False, "limits": {
        "max_image_pixels": 100_000_000, "max_frames": 1000, "max_array_bytes": 4 * 1024**3}}}))
    assert fingerprint(load_config(a)) == fingerprint(load_config(b))
    b.write_text(yaml.safe_dump({**base, "dataset": {**base["dataset"], "limits": {"max_frames": 10}}}))
    assert fingerprint(load_config(a)) != fingerprint(load_config(b))
