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

Larger than memory (training.feature_store): the backbone pass streams each batch of
features into its entry; splits over the memory budget ($DLHW_CACHE_MEMORY) stay on disk
and train through a tf.data pipeline with the same batches. A cache folder that cannot be
written during the pass: one warning, partial entries removed, the run goes on uncached
(in memory when the features fit, else on images; a classifier fails with one line).

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
from dlhw.runtime.log import get_logger

log = get_logger(__name__)

FORMAT = 2  # 2: a CRC32 of each entry in its .json (damaged entries are detected)


def cache_reason(cfg, model, dataset) -> Optional[str]:
    """None when a frozen stage may use the cache, else why not (for the log)."""
    if cfg.model.type != "backbone":
        return "not a backbone model"
    if cfg.cache == "off":
        return "cache: off"
    from dlhw.models.augment import augmenting

    if augmenting(cfg, dataset):  # a frozen backbone must see the augmented images: no cache while on
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
        self._features: Dict[str, Any] = {}  # arrays, or feature_store.FeatureFile over the memory budget
        self._resident = 0  # bytes of features held in memory
        self.writable = True  # False once the cache folder could not be written (a full disk)
        self._write_reason = ""
        self._warned = False
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
            import keras

            policy = keras.config.dtype_policy().name  # mixed precision computes other features
            if policy != "float32":  # (float32 entries keep their key)
                parts["precision"] = policy
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

    def _blocks(self, splits: List[str]):
        """(split, rows) blocks of features of several splits in one pass, in order, batch by
        batch, through ``extract_fn`` (eager for a few hundred images, a compiled graph for more
        or on a GPU)."""
        from dlhw.data.dataset import Split

        parts = [self.dataset.splits[s] for s in splits]
        ends = np.cumsum([len(p) for p in parts])
        ext = extract_fn(self.extractor(), int(ends[-1]) if len(ends) else 0)
        at, which = 0, 0
        for b in self.dataset.batches(Split.concat(parts), 64):
            out = np.asarray(ext(b), dtype=np.float32)
            i = 0
            while i < len(out):
                while at >= ends[which]:
                    which += 1
                take = min(len(out) - i, int(ends[which]) - at)
                yield splits[which], out[i:i + take]
                i, at = i + take, at + take

    def _compute(self, splits: List[str]) -> Dict[str, np.ndarray]:
        """Features of several splits in one pass, in memory (nothing written)."""
        width = self.feature_shape()
        result = {s: np.empty((len(self.dataset.splits[s]),) + width, np.float32) for s in splits}
        filled = dict.fromkeys(splits, 0)
        for split, block in self._blocks(splits):
            result[split][filled[split]:filled[split] + len(block)] = block
            filled[split] += len(block)
        return result

    def feature_shape(self) -> tuple:
        return tuple(int(v) for v in self.model.get_layer("features").output.shape[1:])

    def _fits(self, nbytes: int) -> bool:
        """Reserve ``nbytes`` of the memory budget for a split's features; False: keep them on disk."""
        from dlhw.data.image_cache import memory_budget

        if self._resident + nbytes > memory_budget():
            return False
        self._resident += nbytes
        return True

    def features(self, split: str):
        """(N, D) float32 features of a split: an array, or a feature_store.FeatureFile on disk
        when they exceed the memory budget; from memory, the disk cache, or computed (every
        split missing from the cache is computed in the same pass)."""
        self._ensure(split)
        return self._features[split]

    def _ensure(self, split: str) -> None:
        if split not in self._features:  # training needs train + val; test for evaluation when it is cached too
            wanted = ("train", "val", "test") if self.final_model_frozen else ("train", "val", split)
            self._load_all([s for s in dict.fromkeys(wanted + (split,)) if s not in self._features])

    def stage_ready(self, index: int) -> bool:
        """``stage_uses_cache(index)`` once the training features are in hand: False when the
        feature pass could not write the cache and the stage trains on images instead."""
        if not self.stage_uses_cache(index):
            return False
        self._ensure("train")
        return self.stage_uses_cache(index)

    def _load_all(self, splits: List[str]) -> None:
        from dlhw.training.feature_store import read_entry

        start = time.perf_counter()
        width = self.feature_shape()
        row = int(np.prod(width)) * 4
        missing: List[str] = []
        events: Dict[str, Dict[str, Any]] = {}
        for split in dict.fromkeys(splits):
            n = len(self.dataset.splits[split])
            if n == 0:
                self._features[split] = np.zeros((0,) + width, np.float32)
                continue
            events[split] = {"split": split, "samples": n, "hit": False, "memory": self._fits(n * row)}
            feats = None
            if self.store:
                key = self.split_key(split)
                events[split]["key"] = key
                feats = read_entry(self._path(key), n, events[split]["memory"])
            if feats is None:
                missing.append(split)
            else:
                events[split]["hit"] = True
                self._features[split] = feats
        if missing and self.store:
            with self._computing_lock():
                # a concurrent trial (another sweep worker) may have written them while we waited
                for split in list(missing):
                    e = events[split]
                    feats = read_entry(self._path(e["key"]), e["samples"], e["memory"])
                    if feats is not None:
                        e["hit"] = True
                        self._features[split] = feats
                        missing.remove(split)
                if missing and self.writable:
                    self._compute_and_store(missing, events, width)
                if missing and not self.writable:
                    missing = self._unwritable(missing, events)
        elif missing:
            self._features.update(self._compute(missing))
        elapsed = time.perf_counter() - start
        self.seconds += elapsed
        for event in events.values():
            event["seconds"] = round(elapsed, 3)
            self.events.append(event)
        hits = [s for s, e in events.items() if e["hit"]]
        width_s = "x".join(str(v) for v in width)
        disk = [s for s in self._features if s in events and not isinstance(self._features[s], np.ndarray)]
        where = f" (on disk, over the memory budget: {', '.join(disk)})" if disk else ""
        if hits:
            log.info(f"backbone features ({width_s}) of {', '.join(hits)} read from the cache{where}")
        if missing:
            verb = "computed and cached" if self.store and self.writable else "computed"
            log.info(f"backbone features ({width_s}) of {', '.join(missing)} {verb} in {elapsed:.1f}s{where}")

    def _meta(self, split: str, shape: tuple, crc: int) -> Dict[str, Any]:
        """An entry's .json: its key's parts, the split, its shape and CRC32."""
        meta = json.loads(self._common_key())
        meta.update(split=split, samples=shape[0], shape=list(shape), created=time.time(), crc32=crc)
        return meta

    def _compute_and_store(self, missing: List[str], events: Dict[str, Dict[str, Any]], width: tuple) -> None:
        """One backbone pass over ``missing``, streamed into the cache (feature_store). A cache folder
        that cannot be written (full, read-only): its partial entries are removed, one warning, and
        the cache is off for this run (the caller computes in memory or falls back to images)."""
        from dlhw.errors import WriteError
        from dlhw.training.feature_store import open_entry, write_entries

        targets = {s: (self._path(events[s]["key"]), (events[s]["samples"],) + width, events[s]["memory"])
                   for s in missing}
        try:
            from dlhw.runtime.files import ensure_dir

            ensure_dir(self.cache_dir / "features")
            for path, _, _ in targets.values():
                ensure_dir(path.parent)
            written = write_entries(targets, self._blocks(missing), self._meta)
        except (OSError, WriteError) as exc:
            self._write_reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            self.writable = False
            return
        for split, (array, _crc) in written.items():
            path, shape, _ = targets[split]
            self._features[split] = array if array is not None else open_entry(path, shape[0], None, False)

    def _unwritable(self, missing: List[str], events: Dict[str, Dict[str, Any]]) -> List[str]:
        """The cache folder cannot be written (its partial entries are gone): features that fit the
        memory budget are computed in memory for this run; larger ones: a Keras head's frozen stages
        train on images (uncached), a classifier fails. One line either way. Returns what was computed."""
        folder = self.cache_dir / "features"
        if all(events[s]["memory"] for s in missing):
            then, computed = "features kept in memory for this run, not cached", missing
        elif self.classifier:
            from dlhw.errors import WriteError

            raise WriteError(f"{folder}: cannot write the backbone features ({self._write_reason}) and they "
                             f"exceed the memory budget; free some disk space or point --cache-dir / "
                             f"$DLHW_CACHE_DIR at a larger disk")
        else:
            then, computed = "the frozen stages train on images (uncached, the backbone run every epoch)", []
            self.store = False
            self.reason = f"the cache folder {folder} cannot be written"
        if not self._warned:
            log.warning(f"feature cache: cannot write {folder} ({self._write_reason}); partial entries removed, {then}")
            self._warned = True
        if computed:
            self._features.update(self._compute(computed))
        return computed

    def _computing_lock(self):
        """Concurrent sweep workers compute a backbone's features once (feature_store.computing_lock)."""
        from dlhw.training.feature_store import computing_lock

        return computing_lock(self.cache_dir / "features", hashlib.sha256(self._common_key().encode()).hexdigest()[:16])

    def _write(self, path: Path, feats: np.ndarray, split: str, n: int) -> None:
        """Store one split's features computed in memory (a write error only warns)."""
        from dlhw.errors import WriteError
        from dlhw.training.feature_store import write_entries

        try:
            from dlhw.runtime.files import ensure_dir

            ensure_dir(path.parent)
            write_entries({split: (path, feats.shape, False)}, [(split, feats)], self._meta)
        except (OSError, WriteError) as exc:  # a read-only cache folder must not fail the run
            log.warning(f"feature cache: cannot write {path.parent} ({getattr(exc, 'reason', None) or exc.strerror or exc}); "
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
        from dlhw.training.feature_store import chunks

        head = self.head_model()  # called eagerly: no predict() tracing for a few small matrices
        return np.concatenate([np.asarray(head(block, training=False)) for block in chunks(feats)])

    def summary(self) -> Dict[str, Any]:
        """What metrics.json records about the cache."""
        return {
            "used": bool(self.events) and self.store,
            "reason_off": self.reason,
            "folder": str(self.cache_dir / "features") if self.store else None,
            "hits": [e["split"] for e in self.events if e.get("hit")],
            "misses": [e["split"] for e in self.events if not e.get("hit")],
            "seconds": round(self.seconds, 3),
            "on_disk": [s for s, f in self._features.items() if not isinstance(f, np.ndarray)],
        }


# Up to this many images the extractor is called eagerly on CPU: tracing a 700-layer graph costs
# seconds, more than Python's per-op dispatch over a few hundred images. Past it, or on a GPU
# (where dispatching each op from Python costs more than computing it: eager was 0.2-0.35x of
# a compiled predict in benchmarks/gpu.py --small), one graph is traced and reused.
EAGER_MAX_IMAGES = 2048


def extract_fn(extractor, images: int):
    """batch -> features: ``extractor`` called eagerly, or through one traced tf.function (any
    batch size: the last, smaller batch does not trace again)."""
    import tensorflow as tf

    gpu = bool(tf.config.list_logical_devices("GPU"))
    if images <= EAGER_MAX_IMAGES and not gpu:
        return lambda batch: extractor(batch, training=False)
    shape = (None,) + tuple(extractor.inputs[0].shape[1:])
    return tf.function(lambda batch: extractor(batch, training=False),
                       input_signature=[tf.TensorSpec(shape, extractor.inputs[0].dtype)])


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
        log.info(f"feature cache not used: {plan.reason}")
    return plan


def _version(pkg: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "?"
