"""dlhw data preview: counts per class and split, samples.png, no training."""

from __future__ import annotations

from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import make_image_folder

runner = CliRunner()


def test_preview_image_folder_counts_and_grid(tmp_path):
    images = make_image_folder(tmp_path / "images", classes=("cat", "dog", "fox"), per_class=10)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dataset: {{source: image_folder, path: {images}, image_size: [16, 16]}}\n")
    r = runner.invoke(app, ["data", "preview", str(cfg), "--out", str(tmp_path / "out"), "-n", "6"])
    assert r.exit_code == 0, r.output
    for name in ("cat", "dog", "fox"):
        assert f"│ {name}   │     6 │   2 │    2 │    10 │" in r.output
    assert "│ all   │    18 │   6 │    6 │    30 │" in r.output
    assert (tmp_path / "out" / "samples.png").stat().st_size > 3000
    assert not (tmp_path / "runs").exists()


def test_preview_digits_with_unseen_classes(tmp_path, quickstart):
    r = runner.invoke(app, ["data", "preview", str(quickstart), "--out", str(tmp_path),
                            "--set", "dataset.classes=[0,1,2,3,4]"])
    assert r.exit_code == 0, r.output
    assert "unseen classes (from the test split): 5 27, 6 27, 7 27, 8 26, 9 27" in r.output
    assert "5 classes" in r.output and (tmp_path / "samples.png").exists()


def test_preview_bad_path_is_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dataset: {{source: image_folder, path: {tmp_path / 'nope'}}}\n")
    r = runner.invoke(app, ["data", "preview", str(cfg)])
    assert r.exit_code == 2 and "image folder not found" in r.output
