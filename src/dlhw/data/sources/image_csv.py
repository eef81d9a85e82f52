"""``source: image_csv``: a CSV of image paths and numeric targets (S4's landmarks); the loader
is dlhw.data.image_table."""

from __future__ import annotations

from typing import Any, Dict, Optional

from dlhw.data.sources.base import SOURCES, Count, Shape, Source, targets_of


class ImageCsvSource(Source):
    name = "image_csv"
    path_kind = "CSV file"
    streamed = True

    def load(self, cfg, task: str, seed: int):
        from dlhw.data.image_table import load_image_csv

        return load_image_csv(cfg, task, seed)

    def config_shape(self, dcfg) -> Optional[Shape]:
        channels = 1 if dcfg.color_mode == "grayscale" else 3
        return (*dcfg.image_size, channels), "dataset.image_size and color_mode"

    def output_count(self, cfg) -> Optional[Count]:
        if cfg.task == "classification":
            return None
        return len(targets_of(cfg.dataset)), "dataset.target", "nothing"

    def describe(self, dataset) -> Dict[str, Any]:
        meta = dataset.meta
        return {"targets": meta.get("targets"), "image_size": list(meta["image_size"]),
                "channels": int(meta["channels"]), "pixel_scale": 1.0}


SOURCES.register("image_csv", ImageCsvSource())
