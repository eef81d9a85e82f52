"""``source: image_folder``: one sub-folder per class (or train/ val/ test/ of them), streamed
through tf.data; the loader is dlhw.data.images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.data.sources.base import SOURCES, Count, Shape, Source


class ImageFolderSource(Source):
    name = "image_folder"
    path_kind = "image folder"
    streamed = True

    def load(self, cfg, task: str, seed: int):
        from dlhw.data.images import load_image_folder

        return load_image_folder(cfg, task, seed)

    def check_kind(self, key: str, path: Path, prefix: str) -> None:
        from dlhw.data.paths import check_image_folder
        from dlhw.errors import DataError

        if not path.is_dir():
            raise DataError(f"{prefix}{key}: {path} is a file; source 'image_folder' needs a folder of class "
                            f"sub-folders")
        check_image_folder(path, key, prefix)

    def config_shape(self, dcfg) -> Optional[Shape]:
        channels = 1 if dcfg.color_mode == "grayscale" else 3
        return (*dcfg.image_size, channels), "dataset.image_size and color_mode"

    def output_count(self, cfg) -> Optional[Count]:
        if cfg.task != "classification":
            return None
        self.check_present(cfg.dataset, getattr(cfg, "_source", None))
        root = Path(cfg.dataset.path)
        folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        train = next((f for f in folders if f.lower() == "train"), None)
        if train:
            folders = sorted(p.name for p in (root / train).iterdir() if p.is_dir() and not p.name.startswith("."))
        return len(folders), f"the class folders of {root}", "headers"

    def describe(self, dataset) -> Dict[str, Any]:
        meta = dataset.meta
        return {"image_size": list(meta["image_size"]), "channels": int(meta["channels"]), "pixel_scale": 1.0}

    def preview(self, dataset) -> List[str]:
        skipped = dataset.meta.get("skipped")
        return [f"skipped {skipped} file(s) (see the warnings above)"] if skipped else []


SOURCES.register("image_folder", ImageFolderSource())
