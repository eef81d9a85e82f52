"""Frozen-backbone feature cache: pay the backbone's forward pass once, not every epoch.

When the backbone is frozen for a whole stage, no augmentation is on and
``cache: auto``, the features (the output of the model's ``features`` layer) of
each split are computed once and stored on disk under a key made of everything
that decides them: the backbone and its preprocessing, a hash of the backbone's
actual weights (so imagenet, null with a seed, a weights file and init_from are
all told apart, and an edited file is a miss), the input shape, the pooling, the
dataset fingerprint and the split's exact file list. Any change is a new key;
entries are never overwritten with different content.

The head is trained as a small Keras model that shares its layers with the full
model, so the full model (backbone + head) ends up with the trained weights and
model.keras predicts on raw images. The trainer feeds the cached features through
the same seeded per-epoch permutation as image files (training.epoch_data), so
cached and uncached runs give the same predictions within float tolerance (a
test checks it). A frozen stage followed by an unfreezing stage: the first trains
on features, the second on images, starting from the head's trained weights.

Cache folder: ``--cache-dir``, else $DLHW_CACHE_DIR, else $XDG_CACHE_HOME/dlhw
or ~/.cache/dlhw; entries live in its ``features/`` sub-folder.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from dlhw.data.image_cache import default_cache_dir
from dlhw.runtime.console import info

FORMAT = 2  # 2: a CRC32 of each entry in its .json (damaged entries are detected)


def cache_reason(cfg, model, dataset) -> Optional[str]:
    """None when a frozen stage may use the cache, else why not (for the log)."""
    if cfg.model.type != "backbone":
        return "not a backbone model"
    if cfg.cache == "off":
        return "cache: off"
    if cfg.dataset.augment and not dataset.in_memory():
        return "dataset.augment is on (features change every epoch)"
    from dlhw.models.backbones import is_frozen

    if not is_frozen(model):
        return "the backbone is trainable"
    return None


class FeaturePlan:
    """Features of a frozen backbone per split, from the disk cache or computed once."""

    def __init__(self, cfg, model, dataset, cache_dir: Optional[Path] = None):
        from dlhw.models.backbones import find_backbone

        self.cfg, self.model, self.dataset = cfg, model, dataset
        self.reason = cache_reason(cfg, model, dataset)
        self.store = self.reason is None
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.classifier = getattr(cfg.model, "classifier", None) is not None
        self._features: Dict[str, np.ndarray] = {}
        self._head = None
        self._extractor = None
        self._key: Optional[str] = None
        self._backbone = find_backbone(model)
        self.events: List[Dict[str, Any]] = []
        self.seconds = 0.0

    # -------------------------------------------------------------- which stages
    def stage_uses_cache(self, index: int) -> bool:
        """Stage ``index`` trains on cached features: cache allowed and nothing unfrozen so far."""
        if not self.store or self.classifier:
            return False
        return all(s.unfreeze is None for s in self.cfg.stages()[: index + 1])

    @property
    def final_model_frozen(self) -> bool:
        return self.store and all(s.unfreeze is None for s in self.cfg.stages())

    # ------------------------------------------------------------------ keys
    def _common_key(self) -> str:
        if self._key is None:
            spec = self.cfg.model.backbone
            from dlhw.models.backbones import get_entry, weights_digest

            parts = {
                "format": FORMAT,
                "backbone": spec.name,
                "preprocessing": get_entry(spec.name).preprocessing,
                "weights": weights_digest(self._backbone),
                "input_shape": list(self.dataset.input_shape),
                "pooling": spec.pooling,
                "dataset": self.dataset.fingerprint,
                "keras": _version("keras"),
            }
            self._key = json.dumps(parts, sort_keys=True)
        return self._key

    def split_key(self, split: str) -> str:
        s = self.dataset.splits[split]
        h = hashlib.sha256(self._common_key().encode())
        h.update(split.encode())
        if self.dataset.in_memory(s):
            h.update(np.ascontiguousarray(s.x).tobytes())
        else:
            h.update("\n".join(s.files).encode())
        return h.hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return self.cache_dir / "features" / key[:2] / f"{key}.npy"

    # -------------------------------------------------------------- features
    def extractor(self):
        """image -> features, sharing the full model's layers (built once)."""
        if self._extractor is None:
            import keras

            from dlhw.models.backbones import FEATURES_LAYER

            self._extractor = keras.Model(self.model.inputs, self.model.get_layer(FEATURES_LAYER).output,
                                          name="feature_extractor")
        return self._extractor

    def _compute(self, splits: List[str]) -> Dict[str, np.ndarray]:
        """Features of several splits in one pass. The extractor is called eagerly batch by
        batch: tracing a 700-layer graph for predict() costs more than a few hundred images."""
        ext = self.extractor()
        from dlhw.data.dataset import Split

        parts = [self.dataset.splits[s] for s in splits]
        batches = self.dataset.batches(Split.concat(parts), 64)
        out = np.concatenate([np.asarray(ext(b, training=False), dtype=np.float32) for b in batches])
        result, at = {}, 0
        for name, p in zip(splits, parts):
            result[name] = out[at:at + len(p)]
            at += len(p)
        return result

    def features(self, split: str) -> np.ndarray:
        """(N, D) float32 features of a split: from memory, the disk cache, or computed
        (every split missing from the cache is computed in the same pass)."""
        if split not in self._features:  # training needs train + val; test for evaluation when it is cached too
            wanted = ("train", "val", "test") if self.final_model_frozen else ("train", "val", split)
            self._load_all([s for s in dict.fromkeys(wanted + (split,)) if s not in self._features])
        return self._features[split]

    def _load_all(self, splits: List[str]) -> None:
        start = time.perf_counter()
        width = tuple(self.model.get_layer("features").output.shape[1:])
        missing: List[str] = []
        events: Dict[str, Dict[str, Any]] = {}
        for split in dict.fromkeys(splits):
            n = len(self.dataset.splits[split])
            if n == 0:
                self._features[split] = np.zeros((0,) + width, np.float32)
                continue
            events[split] = {"split": split, "samples": n, "hit": False}
            feats = None
            if self.store:
                key = self.split_key(split)
                events[split]["key"] = key
                feats = _read(self._path(key), n)
            if feats is None:
                missing.append(split)
            else:
                events[split]["hit"] = True
                self._features[split] = feats
        if missing and self.store:
            with self._computing_lock():
                # a concurrent trial (another sweep worker) may have written them while we waited
                for split in list(missing):
                    feats = _read(self._path(events[split]["key"]), events[split]["samples"])
                    if feats is not None:
                        events[split]["hit"] = True
                        self._features[split] = feats
                        missing.remove(split)
                if missing:
                    for split, feats in self._compute(missing).items():
                        self._features[split] = feats
                        self._write(self._path(events[split]["key"]), feats, split, len(feats))
        elif missing:
            for split, feats in self._compute(missing).items():
                self._features[split] = feats
        elapsed = time.perf_counter() - start
        self.seconds += elapsed
        for split, event in events.items():
            event["seconds"] = round(elapsed, 3)
            self.events.append(event)
        hits = [s for s, e in events.items() if e["hit"]]
        width_s = "x".join(str(v) for v in width)
        if hits:
            info(f"backbone features ({width_s}) of {', '.join(hits)} read from the cache")
        if missing:
            verb = "computed and cached" if self.store else "computed"
            info(f"backbone features ({width_s}) of {', '.join(missing)} {verb} in {elapsed:.1f}s")

    def _computing_lock(self):
        """An exclusive OS lock while this process computes the features of a backbone and
        data (released by the OS if it dies): concurrent sweep workers compute them once, the
        others wait and read them. Without fcntl, or a folder that cannot be written: no lock."""
        from contextlib import contextmanager

        @contextmanager
        def held():
            fh = None
            try:
                import fcntl

                folder = self.cache_dir / "features"
                folder.mkdir(parents=True, exist_ok=True)
                fh = open(folder / f".{hashlib.sha256(self._common_key().encode()).hexdigest()[:16]}.lock", "a")
                fcntl.flock(fh, fcntl.LOCK_EX)
            except (ImportError, OSError):
                if fh is not None:
                    fh.close()
                fh = None
            try:
                yield
            finally:
                if fh is not None:
                    fh.close()  # closing releases the lock

        return held()

    def _write(self, path: Path, feats: np.ndarray, split: str, n: int) -> None:
        from dlhw.errors import WriteError
        from dlhw.runtime.files import replacing, write_json

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with replacing(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, feats, allow_pickle=False)
            meta = json.loads(self._common_key())
            meta.update(split=split, samples=n, shape=list(feats.shape), created=time.time(), crc32=_crc(feats))
            write_json(path.with_suffix(".json"), meta, indent=1)
        except (OSError, WriteError) as exc:  # a read-only cache folder must not fail the run
            from dlhw.runtime.console import warn

            warn(f"feature cache: cannot write {path.parent} ({getattr(exc, 'reason', None) or exc.strerror or exc}); "
                 f"features were not cached")

    # ------------------------------------------------------------------ head
    def head_model(self):
        """A Keras model from features to the output, sharing the full model's head layers."""
        if self._head is None:
            import keras

            from dlhw.models.backbones import FEATURES_LAYER

            layers = self.model.layers
            idx = [layer.name for layer in layers].index(FEATURES_LAYER)
            inp = keras.Input(shape=tuple(self.model.get_layer(FEATURES_LAYER).output.shape[1:]), name="features_in")
            x = inp
            for layer in layers[idx + 1:]:
                x = layer(x)
            self._head = keras.Model(inp, x, name="head_on_cached_features")
        return self._head

    def raw_outputs(self, split: str) -> np.ndarray:
        """The model's raw outputs on a split, through the head on cached features."""
        feats = self.features(split)
        if len(feats) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        head = self.head_model()  # called eagerly: no predict() tracing for a few small matrices
        return np.concatenate([np.asarray(head(feats[i:i + 1024], training=False))
                               for i in range(0, len(feats), 1024)])

    def summary(self) -> Dict[str, Any]:
        """What metrics.json records about the cache."""
        return {
            "used": bool(self.events) and self.store,
            "reason_off": self.reason,
            "folder": str(self.cache_dir / "features") if self.store else None,
            "hits": [e["split"] for e in self.events if e.get("hit")],
            "misses": [e["split"] for e in self.events if not e.get("hit")],
            "seconds": round(self.seconds, 3),
        }


def _read(path: Path, n: int) -> Optional[np.ndarray]:
    """A cached array with n rows, or None: absent, truncated, unreadable or damaged (its CRC32
    differs from the one recorded when it was written; warned about): recomputed."""
    if not path.exists():
        return None
    try:
        feats = np.load(path, allow_pickle=False)
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    if feats.ndim < 2 or feats.shape[0] != n:
        return None
    if meta.get("crc32") != _crc(feats):
        from dlhw.runtime.console import warn

        warn(f"feature cache: damaged entry {path} (checksum mismatch); recomputing it")
        return None
    return feats


def _crc(feats: np.ndarray) -> int:
    import zlib

    return zlib.crc32(memoryview(np.ascontiguousarray(feats)).cast("B"))


def pin_checkpoints(callbacks: list, full_model) -> None:
    """Make weight-saving callbacks save the full model while the head model trains."""
    from dlhw.training.callbacks import BestWeights

    for cb in callbacks:
        if isinstance(cb, BestWeights):
            cb.set_model = (lambda m, cb=cb: type(cb).set_model(cb, full_model))


def plan_for(cfg, model, dataset, cache_dir=None) -> Optional[FeaturePlan]:
    """A FeaturePlan for backbone models (None otherwise); checks every stage's unfreeze first."""
    if cfg.model.type != "backbone":
        return None
    from dlhw.models.backbones import check_unfreeze

    check_unfreeze(model, cfg)
    if getattr(cfg.model, "classifier", None) is not None:
        from dlhw.config.schema import check_classifier

        check_classifier(cfg)
    plan = FeaturePlan(cfg, model, dataset, cache_dir)
    if plan.reason is not None and not plan.classifier:
        info(f"feature cache not used: {plan.reason}")
    return plan


def _version(pkg: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "?"
