"""``dlhw.run(config, ...)`` and the Run it returns: one run folder, read as Python objects.

A call that cannot start (a config or data error, a folder that cannot be resumed) raises
``ConfigError`` / ``DataError`` with the one line ``dlhw run`` prints. Once the run folder
exists, the call returns a Run whatever the ending: ``status`` says completed, failed or
diverged and ``error`` why (``check=True`` raises the run's error instead, as the CLI does).
Ctrl-C (interrupting the kernel) stops after the batch and raises KeyboardInterrupt; the
folder says ``interrupted`` and ``dlhw.run(resume=path)`` continues it. Nothing here calls
``sys.exit`` or prints a traceback, and the signal handlers a run installs are restored
when it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from dlhw.api.common import check_device, console_quiet, resolve_config
from dlhw.errors import ConfigError, DataError
from dlhw.rundir import layout


class Run:
    """A run folder: ``status``, ``path``, ``config``, ``metrics``, ``history``, ``model()``, ``predict()``."""

    def __init__(self, path: str | Path, config: Any = None, metrics: Optional[Dict[str, Any]] = None):
        self.path = Path(path)
        self._config = config
        self._metrics = metrics

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        """A dlhw.rundir.states.Status (a str): running, completed, failed, diverged, interrupted,
        pruned, or stale (a running run whose process is gone); unknown without a readable status.json."""
        from dlhw.rundir.status import read_status

        return read_status(self.path)["status"]

    @property
    def error(self) -> Optional[str]:
        """Why the run did not complete (status.json's message, or the line saying it is damaged), else None."""
        from dlhw.rundir.status import read_status

        return read_status(self.path).get("error")

    @property
    def config(self):
        """The resolved, typed config (ExperimentConfig) the run trained with."""
        if self._config is None:
            from dlhw.config import load_config

            path = self.path / layout.CONFIG
            if not path.is_file():
                raise ConfigError(f"{self.path}: no config.yaml; not a run folder written by dlhw")
            self._config = load_config(path)
        return self._config

    @property
    def metrics(self) -> Dict[str, Any]:
        """metrics.json as a dict ({} until the run completed). A damaged metrics.json raises
        RecordError (a DataError) naming the file and what is wrong."""
        if self._metrics is None:
            from dlhw.rundir.records import read_metrics

            data = read_metrics(self.path)
            if data is None:
                return {}
            self._metrics = data
        return self._metrics

    @property
    def history(self):
        """history.csv as a pandas DataFrame, one row per epoch (empty when the run has none)."""
        import pandas as pd

        from dlhw.rundir.history import HISTORY_COLUMNS

        path = self.path / layout.HISTORY
        if not path.is_file():
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        return pd.read_csv(path)

    def model(self):
        """The trained Keras model, loaded in safe mode (for a classifier run: the feature extractor)."""
        from dlhw.results.predict import check_run, load_run_model

        return load_run_model(check_run(self.path))[0]

    def predict(self, inputs: Any, top_k: int = 3, logits: bool = False):
        """What ``dlhw predict`` answers, as a DataFrame: one row per input, its top-k classes and
        probabilities (``class_1``, ``probability_1``, ...; ``logit_1``... with ``logits``), or the
        predicted values of a regression run. ``inputs``: image files, folders of images or CSV
        files, or an array of rows (tabular runs: raw feature values in the training columns' order;
        image runs: pixel values 0..255, shaped (N, height, width, channels))."""
        return predictions_frame(predictions(self.path, inputs, top_k, logits))

    def __repr__(self) -> str:
        return f"Run('{self.path}', status='{self.status}')"

    def _repr_html_(self) -> str:
        from dlhw.api.display import run_html

        return run_html(self)


def run(config: Any = None, overrides: Any = None, out: str | Path = "runs", name: Optional[str] = None,
        device: str = "auto", quiet: bool = False, resume: Optional[str | Path] = None, *,
        overwrite: bool = False, cache_dir: Optional[str | Path] = None, threads: Optional[int] = None,
        progress: Optional[bool] = None, check: bool = False, debug: bool = False) -> Run:
    """Train ``config`` (a YAML path, a dict of its content or a config object) into a new run
    folder under ``out`` and return its Run; ``dlhw run`` does exactly this.

    ``overrides``: ``{"training.epochs": 5}`` or ``["training.epochs=5"]``. ``resume``: an
    unfinished run folder to continue (``config`` optional: it must match). ``progress``: the
    notebook progress bar (None: in Jupyter when not quiet). ``check``: raise the error of a run
    that failed or diverged instead of returning it."""
    if resume is not None and (overwrite or name):
        raise ConfigError("--resume continues RUN_DIR in place; --name and --overwrite do not apply to it")
    if resume is not None and config is None:
        from dlhw.rundir.resume import run_config_path

        config = run_config_path(resume)
    if config is None:
        raise ConfigError("dlhw run: give a CONFIG file (or --resume RUN_DIR)")
    check_device(device)
    from dlhw.api.display import epoch_bar
    from dlhw.orchestration.experiment import RunHooks, run_experiment
    from dlhw.runtime.options import RunOptions

    with console_quiet(quiet):
        cfg = resolve_config(config, overrides)
        bar = epoch_bar(cfg, quiet, progress)
        started: List[Path] = []
        try:
            options = RunOptions(device=device, threads=threads, debug=debug, quiet=quiet, progress=bar is None,
                                 cache_dir=None if cache_dir is None else Path(cache_dir))
            hooks = RunHooks(on_start=started.append, on_epoch=None if bar is None else bar.update)
            outcome = run_experiment(cfg, out=out, name=name, overwrite=overwrite, resume=resume,
                                     options=options, hooks=hooks)
        except (ConfigError, DataError):
            raise
        except Exception:
            if check or not started:
                raise
            return Run(started[0], config=cfg)  # failed or diverged: status.json says so, and why
        finally:
            if bar is not None:
                bar.close()
        log_diagnostics(outcome.metrics)
    return Run(outcome.run_dir, config=cfg, metrics=outcome.metrics)


def log_diagnostics(metrics: Dict[str, Any]) -> None:
    """The run's findings (metrics.json's ``diagnostics``: overfitting, a learning rate too high, ...),
    one INFO line each under ``dlhw.api``, as ``dlhw run`` shows them; ``quiet`` hides them."""
    from dlhw.evaluation.diagnostics import format_findings
    from dlhw.runtime.log import get_logger

    log = get_logger(__name__)
    for line in format_findings(metrics.get("diagnostics") or []):
        log.info(f"diagnostic {line}")


# ---------------------------------------------------------------- predictions
def predictions(run_dir: str | Path, inputs: Any, top_k: int = 3, logits: bool = False, debug: bool = False):
    """``dlhw predict``'s answers (a list of dlhw.results.predict.Prediction) for files, folders or an array."""
    import tempfile

    from dlhw.results.predict import predict_run
    from dlhw.runtime.tfruntime import setup_runtime

    with console_quiet(True):
        setup_runtime("auto", 0, None, debug)
        if isinstance(inputs, (str, Path)):
            inputs = [inputs]
        if isinstance(inputs, (list, tuple)) and all(isinstance(i, (str, Path)) for i in inputs):
            return predict_run(run_dir, [str(i) for i in inputs], top_k, logits=logits)
        with tempfile.TemporaryDirectory(prefix="dlhw-predict-") as tmp:
            files, labels = _array_files(Path(run_dir), inputs, Path(tmp))
            preds = predict_run(run_dir, files, top_k, logits=logits)
        for p, label in zip(preds, labels):
            p.input = label
        return preds


def _array_files(run_dir: Path, inputs: Any, tmp: Path):
    """An array (or DataFrame) written as dlhw predict's inputs: a CSV of rows, or PNG images."""
    import numpy as np

    from dlhw.data.preprocessing import is_image_run
    from dlhw.results.predict import check_run, load_preprocessing

    pre = load_preprocessing(check_run(run_dir))
    if hasattr(inputs, "to_csv") and hasattr(inputs, "columns"):  # a pandas DataFrame: its own columns
        frame = inputs.rename(columns=str)
    else:
        arr = np.asarray(inputs)
        if arr.dtype == object or arr.size == 0:
            raise DataError(f"inputs: expected file paths or an array of numbers; received {type(inputs).__name__}")
        if is_image_run(pre):
            return _image_files(arr, pre, tmp)
        rows = arr.reshape(1, -1) if arr.ndim == 1 else arr.reshape(len(arr), -1)
        names = pre.get("features") or []
        columns = list(names) if len(names) == rows.shape[1] else [f"x{i}" for i in range(rows.shape[1])]
        import pandas as pd

        frame = pd.DataFrame(rows, columns=columns)
    path = tmp / "inputs.csv"
    frame.to_csv(path, index=False)
    return [str(path)], [str(i) for i in range(len(frame))]


def _image_files(arr, pre: Dict[str, Any], tmp: Path):
    import numpy as np
    from PIL import Image

    channels = int(pre["channels"])
    if arr.ndim == 3 and channels == 1:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] != channels:
        raise DataError(f"inputs: expected images shaped (N, height, width, {channels}); received shape "
                        f"{tuple(arr.shape)}")
    if arr.min() < 0 or arr.max() > 255:
        raise DataError(f"inputs: expected pixel values 0..255, as in image files; received "
                        f"{float(arr.min()):g}..{float(arr.max()):g}")
    files = []
    for i, img in enumerate(np.rint(arr).astype(np.uint8)):
        path = tmp / f"{i:07d}.png"
        Image.fromarray(img[..., 0] if channels == 1 else img).save(path)
        files.append(str(path))
    return files, [str(i) for i in range(len(files))]


def predictions_frame(preds: Sequence[Any]):
    """One DataFrame row per Prediction: input, then class_i / probability_i (/ logit_i), or the values."""
    import pandas as pd

    rows = []
    for p in preds:
        row: Dict[str, Any] = {"input": p.input}
        if p.values is not None:
            row.update(p.values)
        for i, t in enumerate(p.top, 1):
            row[f"class_{i}"] = t["class"]
            row[f"probability_{i}"] = t["probability"]
            if "logit" in t:
                row[f"logit_{i}"] = t["logit"]
        rows.append(row)
    return pd.DataFrame(rows)
