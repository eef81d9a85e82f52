"""What one data source is: the ``Source`` object each module of dlhw.data.sources registers.

A source knows everything about its kind of data, so nothing else in the package asks which
source a config names:

- ``load(cfg, task, seed)``: the Dataset (heavy imports inside);
- ``paths(dcfg)`` and ``check_present(dcfg, where)``: the files and folders the config names and
  whether they are there and of the right kind, without TensorFlow (``dlhw validate``);
- ``offline(dcfg)``: where the data must be put by hand (file name and folder);
- ``config_shape`` / ``header_shape`` / ``output_count``: the model's facts read as little as
  possible (``dlhw summary``, dlhw.data.shapes);
- ``preview(dataset)``: lines ``dlhw data preview`` adds; ``describe(dataset)``: what
  preprocessing.json records for ``dlhw predict``; ``predict_inputs``: a source's own inputs;
- ``fingerprint(...)``: the dataset's identity (env.json, checkpoints, caches).

A new source is one module: subclass ``Source``, register an instance with ``SOURCES.register``,
and import it in ``dlhw/data/sources/__init__.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from dlhw.registry import Registry

Shape = Tuple[Tuple[int, ...], str]          # (one sample's shape, where it was found)
Count = Tuple[int, str, str]                 # (outputs, where found, what was read)


class Source:
    """The defaults: a source with no files of its own (data that ships with a package)."""

    name = ""
    path_kind: Optional[str] = None  # what dataset.path names (e.g. "CSV file"); None: no path
    streamed = False                 # image files decoded batch by batch (no arrays in memory)

    def load(self, cfg: Any, task: str, seed: int):
        raise NotImplementedError

    # ----------------------------------------------------------- presence
    def paths(self, dcfg: Any) -> List[Tuple[str, str, str]]:
        """(key, path, what) for each file or folder the dataset section names."""
        return [("dataset.path", str(dcfg.path), self.path_kind)] if self.path_kind and dcfg.path else []

    def check_present(self, dcfg: Any, where: Optional[str] = None) -> List[str]:
        """A DataError for the first path that is missing or of the wrong kind; else the paths."""
        from dlhw.data.paths import missing_path
        from dlhw.runtime.files import path_kind

        checked = []
        for key, path, what in self.paths(dcfg):
            p = Path(path)
            if not p.exists():
                raise missing_path(key, p, what, where)
            prefix = f"{where}: " if where else ""
            kind = path_kind(p)
            if kind not in ("file", "folder"):  # a FIFO or device: refused by name, never opened (no hang)
                from dlhw.errors import DataError

                raise DataError(f"{prefix}{key}: {p} is a {kind}, not a {what}; special files are never read")
            self.check_kind(key, p, prefix)
            checked.append(str(p))
        return checked

    def check_kind(self, key: str, path: Path, prefix: str) -> None:
        """A DataError when ``path`` is not the kind of file or folder the source reads."""
        from dlhw.errors import DataError

        if path.is_dir():
            needs = "a .csv file" if self.path_kind == "CSV file" else f"a {self.path_kind}"
            raise DataError(f"{prefix}{key}: {path} is a folder; source '{self.name}' needs {needs}")

    def fetch_problem(self, dcfg: Any) -> Optional[str]:
        """Why data that is fetched at run time (a download) cannot be had now, beyond its paths; None: it can."""
        return None

    def offline(self, dcfg: Any) -> str:
        """Where the data goes when it cannot be fetched (a file name and a folder), in a few words."""
        from dlhw.data.paths import fix_for

        return fix_for(dcfg.path) if dcfg.path else f"source '{self.name}' needs no files"

    # -------------------------------------------------------------- facts
    def config_shape(self, dcfg: Any) -> Optional[Shape]:
        return None

    def header_shape(self, dcfg: Any) -> Optional[Shape]:
        return None

    def output_count(self, cfg: Any) -> Optional[Count]:
        """(outputs, where from, what was read) without reading the inputs, else None."""
        return None

    # ---------------------------------------------------- run folder, CLI
    def preview(self, dataset: Any) -> List[str]:
        return []

    def describe(self, dataset: Any) -> Dict[str, Any]:
        return {}

    def predict_inputs(self, inputs: Sequence[str], pre: Dict[str, Any]) -> Optional[Tuple[Any, List[str]]]:
        """(model inputs, labels) for ``dlhw predict``, or None for the shared image / CSV path."""
        return None

    def fingerprint(self, *parts: Any) -> str:
        from dlhw.data.dataset import fingerprint

        return fingerprint(*parts)


SOURCES: Registry[Source] = Registry("dataset.source")


def targets_of(dcfg: Any) -> List[str]:
    return [dcfg.target] if isinstance(dcfg.target, str) else list(dcfg.target or [])
