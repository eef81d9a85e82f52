"""``source: csv``: a table, one row per sample; its encoding is one fitted TabularEncoder
(dlhw.data.encoder), saved in preprocessing.json and used again by ``dlhw predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.data.sources.base import SOURCES, Count, Source, targets_of
from dlhw.errors import ConfigError, did_you_mean


def _columns(df, cfg, path: Path) -> tuple[List[str], List[str]]:
    """(features, targets), checked against the header and each other."""
    targets = targets_of(cfg)
    columns = [str(c) for c in df.columns]
    for t in targets:
        if t not in columns:
            raise ConfigError(f"dataset.target: column '{t}' is not in {path}{did_you_mean(t, columns)}; "
                              f"columns: {', '.join(columns)}")
    features = cfg.features or [c for c in columns if c not in targets]
    for f in features:
        if f not in columns:
            raise ConfigError(f"dataset.features: column '{f}' is not in {path}{did_you_mean(f, columns)}")
    if not features:
        raise ConfigError(f"dataset.features: {path} has no feature columns besides the target")
    for key, names in (("dataset.features", features), ("dataset.target", targets)):
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None:
            raise ConfigError(f"{key}: column '{twice}' is listed twice")
    leak = next((f for f in features if f in targets), None)
    if leak is not None:
        raise ConfigError(f"dataset.features: '{leak}' is also the target; a model that sees its label learns nothing")
    return features, targets


class CsvSource(Source):
    name = "csv"
    path_kind = "CSV file"

    def load(self, cfg, task: str, seed: int):
        from dlhw.data.dataset import Split
        from dlhw.data.encoder import TabularEncoder
        from dlhw.data.sources.arrays import finish
        from dlhw.data.table import finite_or_error, missing_or_error, read_table

        path = Path(cfg.path)
        if not path.exists():
            from dlhw.data.paths import missing_path

            raise missing_path("dataset.path", path, "CSV file")
        df = read_table(path, "csv")
        features, targets = _columns(df, cfg, path)
        if task != "classification":
            from dlhw.data.table import text_target_error

            for t in targets:
                problem = text_target_error(df[t], t, task)
                if problem is not None:
                    raise problem
        if not getattr(cfg, "impute", False):
            missing_or_error(df, features, path)
        if task != "regression":  # missing regression targets (S4 landmarks): only masked losses train on them
            missing_or_error(df, targets, path)
        finite_or_error(df, features + targets, path)
        enc = TabularEncoder.fit(df, features, targets, task, path, impute=getattr(cfg, "impute", False))
        x, y = enc.encode(df, path), enc.encode_target(df, path)
        meta: Dict[str, Any] = {"source": "csv", "path": str(path), "features": features, "targets": targets,
                                "numeric": [c.name for c in enc.columns if c.kind == "numeric"],
                                "categorical": {c.name: c.values for c in enc.columns if c.kind == "categorical"}}
        ds = finish(Split(y=y, x=x), enc.class_names, cfg, task, seed, meta, scale=False)
        if enc.numeric_width and cfg.standardize:  # numeric columns only; one-hot columns stay 0/1
            enc.fit_scale(ds.splits["train"].x)
            for s in list(ds.splits.values()) + ([ds.unseen] if ds.unseen is not None else []):
                s.x = enc.scale(s.x)
            meta["standardize"] = {"columns": meta["numeric"], **(enc.scale_stats or {})}
        meta["encoder"] = enc.to_json()
        return ds

    def output_count(self, cfg) -> Optional[Count]:
        d = cfg.dataset
        if cfg.task != "classification":
            return len(targets_of(d)), "dataset.target", "nothing"
        import pandas as pd

        self.check_present(d, getattr(cfg, "_source", None))
        col = pd.read_csv(d.path, usecols=targets_of(d)).iloc[:, 0]
        return int(col.nunique()), f"column '{col.name}' of {d.path}", "labels"

    def describe(self, dataset) -> Dict[str, Any]:
        meta = dataset.meta
        return {"features": meta.get("features"), "numeric": meta.get("numeric"),
                "categorical": meta.get("categorical"), "targets": meta.get("targets"),
                "encoder": meta.get("encoder")}

    def preview(self, dataset) -> List[str]:
        enc = dataset.meta.get("encoder") or {}
        kinds: Dict[str, int] = {}
        for c in enc.get("columns", []):
            kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
        return ["columns: " + ", ".join(f"{n} {k}" for k, n in kinds.items())] if kinds else []


def check_csv_targets(dataset, task: str) -> None:
    """``dlhw validate`` and ``dlhw run`` before TensorFlow: a regression / multilabel target that is text."""
    if task == "classification" or dataset.source != "csv" or not getattr(dataset, "target", None):
        return
    import pandas as pd

    from dlhw.data.table import text_target_error

    targets = targets_of(dataset)
    try:
        df = pd.read_csv(dataset.path, usecols=lambda c: str(c) in targets)
    except Exception:  # noqa: BLE001 - an unreadable file is the load's one line, with its reason
        return
    for t in targets:
        if t in df.columns:
            problem = text_target_error(df[t], t, task)
            if problem is not None:
                raise problem


SOURCES.register("csv", CsvSource())
