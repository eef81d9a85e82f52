"""``source: sklearn``: scikit-learn's toy sets (they ship with the package: nothing to fetch)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.data.sources.base import SOURCES, Count, Shape, Source
from dlhw.errors import ConfigError, did_you_mean

SKLEARN_SETS = ("breast_cancer", "digits", "iris", "wine")
SKLEARN_FEATURES = {"digits": 64, "iris": 4, "wine": 13, "breast_cancer": 30}
SKLEARN_CLASSES = {"digits": 10, "iris": 3, "wine": 3, "breast_cancer": 2}


class SklearnSource(Source):
    name = "sklearn"

    def load(self, cfg, task: str, seed: int):
        import sklearn.datasets as skd

        from dlhw.data.dataset import Split
        from dlhw.data.sources.arrays import finish

        if cfg.name not in SKLEARN_SETS:
            raise ConfigError(
                f"dataset.name: unknown sklearn dataset '{cfg.name}'{did_you_mean(cfg.name, SKLEARN_SETS)}; "
                f"choose one of: {', '.join(SKLEARN_SETS)}"
            )
        bunch = getattr(skd, f"load_{cfg.name}")()
        x = np.asarray(bunch.data, dtype=np.float32)
        y = np.asarray(bunch.target, dtype=np.int64)
        names = [str(n) for n in getattr(bunch, "target_names", np.unique(y))]
        if task != "classification":
            raise ConfigError(f"task: sklearn dataset '{cfg.name}' is a classification set; received task={task}")
        meta = {"source": "sklearn", "name": cfg.name,
                "feature_names": [str(f) for f in getattr(bunch, "feature_names", [])]}
        return finish(Split(y=y, x=x), names, cfg, task, seed, meta)

    def offline(self, dcfg) -> str:
        return f"sklearn dataset '{dcfg.name}' ships with scikit-learn; install scikit-learn"

    def config_shape(self, dcfg) -> Optional[Shape]:
        if dcfg.name in SKLEARN_FEATURES:
            return (SKLEARN_FEATURES[dcfg.name],), f"the known shape of sklearn {dcfg.name}"
        return None

    def output_count(self, cfg) -> Optional[Count]:
        d = cfg.dataset
        if cfg.task == "classification" and d.name in SKLEARN_CLASSES:
            return SKLEARN_CLASSES[d.name], f"the known classes of sklearn {d.name}", "nothing"
        return None

    def describe(self, dataset) -> Dict[str, Any]:
        names: List[str] = dataset.meta.get("feature_names") or []
        return {"features": names or None}


SOURCES.register("sklearn", SklearnSource())
