"""Data paths a config names: do they exist, and if not, how to get them.

``dlhw.data.sources.check_data_paths(dataset_cfg, source)`` runs before any data is read (by
``load_dataset`` and by ``dlhw validate``; each source's ``check_present`` uses the helpers
here): a missing CSV file or image folder
is one line naming the config file, the key, the path, and the fix: for the
stand-ins this repository can generate (data/make_*.py) the exact command,
otherwise data/README.md. No heavy imports.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

from dlhw.errors import DataError

# Shipped configs' data paths and the command that makes a stand-in (data/README.md lists them too).
GENERATORS = {
    "data/cnn_images": "python data/make_images.py",
    "data/cnn_images_32": "python data/make_images.py --out data/cnn_images_32 --size 32 --per-class 400",
    "data/two_class": "python data/make_images.py --out data/two_class --names 0 1 --per-class 200 --size 128",
    "data/cars196": "python data/make_images.py --out data/cars196 --names a b c d e --per-class 60 --size 64",
    "data/phones.csv": "python data/make_phones.py",
    "data/landmarks.csv": "python data/make_landmarks.py",
    "data/sequences.npz": "python data/make_sequences.py",
    "data/landmark_images/landmarks.csv": "python data/make_landmark_images.py",
    "data/landmark_images_small/landmarks.csv": "python data/make_landmark_images.py --out data/landmark_images_small/landmarks.csv --count 240 --size 32",
}


def fix_for(path: str | Path, key: str = "dataset.path") -> str:
    """How to get ``path``: the generator command for a shipped stand-in, else where to read."""
    norm = Path(os.path.normpath(path)).as_posix()
    for shipped, command in GENERATORS.items():
        if norm == shipped or norm.endswith("/" + shipped):
            return f"make the stand-in with `{command}` from the repository root (see data/README.md)"
    return f"point {key} at your data (data/README.md shows the layouts)"


def _where(path: Path) -> str:
    return "" if path.is_absolute() else f" (relative to {Path.cwd()})"


def missing_path(key: str, path: str | Path, what: str, source: Optional[str] = None) -> DataError:
    """The one-line error for a data path that does not exist."""
    prefix = f"{source}: " if source else ""
    p = Path(path)
    return DataError(f"{prefix}{key}: {what} not found: {p}{_where(p)}; {fix_for(path, key)}")


def _class_folders(root: Path) -> List[str]:
    return sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def check_image_folder(root: Path, key: str, prefix: str) -> None:
    """Class sub-folders present (in train/ for a folder already split): at least 2."""
    subdirs = _class_folders(root)
    train = next((d for d in subdirs if d.lower() == "train"), None)
    where = root / train if train else root
    classes = _class_folders(where) if train else subdirs
    if not classes:
        raise DataError(f"{prefix}{key}: {where}: no class sub-folders found; expected one folder per class "
                        f"(e.g. {where}/cats/*.jpg); {fix_for(root, key)}")
    if len(classes) < 2:
        raise DataError(f"{prefix}{key}: {where}: found a single class folder ('{classes[0]}'); classification "
                        f"needs at least 2")
