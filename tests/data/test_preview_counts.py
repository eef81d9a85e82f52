"""dlhw data preview with `dataset.validation: test` counts the test samples once (issue 28)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from dlhw.cli import app
from tests.conftest import make_image_folder


def test_validation_on_test_is_counted_once(tmp_path):
    images = make_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=10)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dataset: {{source: image_folder, path: {images}, image_size: [16, 16], validation: test,\n"
                   f"          split: {{train: 0.8, val: 0.0, test: 0.2}}}}\n")
    r = CliRunner().invoke(app, ["data", "preview", str(cfg), "--out", str(tmp_path / "out"), "-n", "0"],
                           terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "val (= test)" in r.output and "counted once in the totals" in r.output
    for name in ("cat", "dog"):  # 8 train + 2 test = the class's 10 images, not 12
        assert re.search(rf"│ {name}\s+│\s+8 │\s+2 │\s+2 │\s+10 │", r.output), r.output
    assert re.search(r"│ all\s+│\s+16 │\s+4 │\s+4 │\s+20 │", r.output), r.output
