"""A search file's ``search:`` and ``space:`` blocks: read, checked, and turned into trial configs.

```yaml
base: ../quickstart.yaml
search: {trials: 40, sampler: tpe, metric: val_accuracy, seed: 0,
         pruner: {type: asha, min_epochs: 1, reduction_factor: 3}}
space:
  training.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-1]}
  training.optimizer.type: [sgd, adagrad, rmsprop, adam]      # a list: categorical
  model.layers.0.units: {int: [16, 512], step: 16}
```

Every mistake is found here, before Optuna or TensorFlow is imported, and named in one line by
its key (``search.sampler``, ``space.model.layers.0.units``...): an unknown sampler or pruner
(with did-you-mean), an empty space, reversed bounds, log bounds <= 0, a space key the config
schema does not have, ``grid:`` and ``search:`` in one file, a pruner on a multi-objective search.
A trial's config is the base config (``--set`` applied) with its sampled values set at their
dotted keys (list items by index); its folder is named by its number and values.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dlhw.config.fingerprint import fingerprint, shape_fingerprint
from dlhw.config.loader import SWEEP_KEYS, apply_overrides, load_raw, parse_override, set_path, validate
from dlhw.errors import ConfigError, did_you_mean, shorten
from dlhw.rundir.folder import sanitize_name
from dlhw.sweeps.planning.plan import MAX_TRIALS, SweepPlan, Trial, format_value, key_labels, trial_name

SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc", "nsga2")
PRUNERS = ("none", "median", "asha", "hyperband")
KINDS = ("log_uniform", "uniform", "int", "float")  # a space value: one of these, or a list (categorical)
OPTIONS = ("step", "log")
SPLIT_METRICS = ("accuracy", "loss", "auc", "precision_macro", "recall_macro", "f1_macro", "subset_accuracy",
                 "mae", "mse", "rmse", "r2")  # metrics.json's per-split names (evaluation.metrics)
EXTRA_METRICS = ("params_total", "params_trainable", "train_seconds", "best_epoch", "epochs_run")
MAX_GRID = 10_000  # grid sampler: combinations of a discretised space


class PrunerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field("none", description="none | median | asha | hyperband")
    min_epochs: int = Field(1, ge=1, description="Epochs every trial trains before it may be pruned.")
    reduction_factor: int = Field(3, ge=2, description="asha / hyperband: keep 1 in this many trials at each rung.")
    startup_trials: int = Field(1, ge=0, description="median: trials to finish before any is pruned.")


SCHEDULERS = ("none", "successive_halving", "hyperband", "pbt")


class SchedulerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field("none", description="none | successive_halving | hyperband: promote the best trials at each "
                                          "rung, continuing from their own checkpoint (needs training.checkpoint)")
    min_epochs: int = Field(1, ge=1, description="Epochs of the first rung.")
    reduction_factor: int = Field(3, ge=2, description="Keep 1 in this many trials at each rung (eta).")
    interval: int = Field(1, ge=1, description="pbt: epochs between two exploit/explore steps of the population "
                                               "(search.trials trials train at once).")
    quantile: float = Field(0.25, gt=0, le=0.5, description="pbt: the bottom quantile of the population copies a "
                                                            "checkpoint of the top quantile (exploit).")
    perturb: List[float] = Field([0.8, 1.2], min_length=1, description="pbt: factors a copied trial's numeric "
                                                                       "parameters are multiplied by (explore), "
                                                                       "clipped to the space's range.")
    keys: Optional[List[str]] = Field(None, description="pbt: the space keys explore perturbs (numeric ones); "
                                                        "default: every numeric key of the space.")


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trials: int = Field(..., ge=1, le=MAX_TRIALS, description="Trials in all, over every run of the command.")
    sampler: str = Field("tpe", description="tpe | random | grid | cmaes | qmc | nsga2")
    metric: Union[str, List[str]] = Field("val_accuracy", description="What the search optimises; a list: multi-objective.")
    pruner: Union[str, PrunerSpec, None] = Field(None, description="none | median | asha | hyperband, or {type: ...}")
    seed: int = Field(0, ge=0, description="The sampler's seed (with --workers 1: the same trials every time).")
    scheduler: Union[str, SchedulerSpec, None] = Field(
        None, description="successive_halving | hyperband | pbt, or {type: ..., min_epochs:, reduction_factor:} "
                          "({type: pbt, interval:, quantile:, perturb:, keys:}): promotion or population-based "
                          "training instead of pruning")
    enqueue: List[Dict[str, Any]] = Field(default_factory=list,
                                          description="Trials to try first: mappings of space keys to values.")
    warm_start: Optional[str] = Field(None, description="An earlier search's sweep folder: its finished trials "
                                                        "that fit this space seed the new study.")


@dataclass
class Param:
    """One dimension of the space: ``kind`` is categorical, float or int."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: Optional[float] = None
    choices: List[Any] = field(default_factory=list)

    @property
    def labels(self) -> Optional[List[str]]:
        """Categorical values Optuna cannot store (lists, mappings) go to it as these labels."""
        if self.kind != "categorical" or all(c is None or isinstance(c, (bool, int, float, str)) for c in self.choices):
            return None
        out: List[str] = []
        for c in self.choices:
            label = format_value(c)
            while label in out:
                label += "'"
            out.append(label)
        return out

    def distribution(self):
        import optuna

        d = optuna.distributions
        if self.kind == "categorical":
            return d.CategoricalDistribution(self.labels or self.choices)
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return d.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def value(self, stored: Any) -> Any:
        """The config value of what Optuna stored (a label back to its list or mapping)."""
        labels = self.labels
        if labels is not None and stored in labels:
            return copy.deepcopy(self.choices[labels.index(stored)])
        return stored

    def stored(self, value: Any) -> Any:
        """What Optuna stores for a config value (enqueue:)."""
        labels = self.labels
        if labels is not None:
            for label, choice in zip(labels, self.choices):
                if json.dumps(choice, sort_keys=True, default=str) == json.dumps(value, sort_keys=True, default=str):
                    return label
        return value

    def grid(self) -> Optional[List[Any]]:
        """The values of a discretised dimension (grid sampler), or None when it is continuous."""
        if self.kind == "categorical":
            return list(self.labels or self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            return None
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(n)]

    def describe(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(self.labels or [format_value(c) for c in self.choices])
        text = f"{self.kind} {format_value(self.low)} .. {format_value(self.high)}"
        return text + (", log scale" if self.log else "") + (f", step {format_value(self.step)}" if self.step else "")


@dataclass
class SearchPlan:
    """A search file, checked: its spec, space and base config; ``trial(number, params)`` makes trials."""

    name: str
    source: str
    spec: SearchSpec
    params: List[Param]
    base: Dict[str, Any]               # the config without sweep keys, --set applied
    overrides: List[str] = field(default_factory=list)
    epochs: int = 0                    # per trial (every stage), as the base config says
    space: Dict[str, Any] = field(default_factory=dict)  # the space: block as written (--set applied)

    @property
    def metrics(self) -> List[str]:
        return [self.spec.metric] if isinstance(self.spec.metric, str) else list(self.spec.metric)

    @property
    def multi(self) -> bool:
        return not isinstance(self.spec.metric, str)

    @property
    def directions(self) -> List[str]:
        from dlhw.evaluation.direction import higher_is_better

        return ["maximize" if higher_is_better(m) else "minimize" for m in self.metrics]

    @property
    def pruner(self) -> PrunerSpec:
        p = self.spec.pruner
        return p if isinstance(p, PrunerSpec) else PrunerSpec.model_validate({"type": p or "none"})

    @property
    def scheduler(self) -> SchedulerSpec:
        s = self.spec.scheduler
        return s if isinstance(s, SchedulerSpec) else SchedulerSpec(type=s or "none")

    @property
    def budget(self) -> int:
        """Trials in all: ``trials``, or fewer when the grid sampler's grid is smaller."""
        if self.spec.sampler == "grid":
            return min(self.spec.trials, grid_size(self.params))
        return self.spec.trials

    @property
    def keys(self) -> List[str]:
        return [p.key for p in self.params]

    def values(self, stored: Dict[str, Any]) -> Dict[str, Any]:
        """Config values, in space order, of a trial's stored parameters."""
        return {p.key: p.value(stored[p.key]) for p in self.params if p.key in stored}

    def trial(self, number: int, stored: Dict[str, Any]) -> Trial:
        """Trial ``number`` with Optuna's stored ``params``: its config validated, its folder name."""
        varied = self.values(stored)
        name = sanitize_name(f"{number:03d}_{trial_name(varied, key_labels(self.keys))}")[:120].rstrip("_-.")
        data = copy.deepcopy(self.base)
        for key, value in varied.items():
            set_path(data, key, copy.deepcopy(value))
        data["name"] = name
        cfg = validate(data, f"{self.source} (trial {number})")
        dump = cfg.dump()
        return Trial(name=name, group=name, varied=varied, raw=data, cfg=cfg, source=self.source,
                     hash=fingerprint(dump), shape=shape_fingerprint(dump))

    def as_sweep_plan(self, trials: List[Trial]) -> SweepPlan:
        return SweepPlan(name=self.name, source=self.source, trials=trials, varied_keys=self.keys,
                         overrides=self.overrides)

    def summary(self) -> Dict[str, Any]:
        """What sweep.json records of the search (its ``search`` entry)."""
        return {"trials": self.budget, "sampler": self.spec.sampler, "metric": self.spec.metric,
                "directions": self.directions, "pruner": self.pruner.model_dump(), "seed": self.spec.seed,
                "space": {p.key: p.describe() for p in self.params}, "epochs": self.epochs,
                **({"scheduler": self.scheduler.model_dump()} if self.scheduler.type != "none" else {}),
                **({"warm_start": self.spec.warm_start} if self.spec.warm_start else {})}


def grid_size(params: List[Param]) -> int:
    return math.prod(len(p.grid() or []) for p in params)


# ------------------------------------------------------------------- reading
def is_search(raw: Dict[str, Any]) -> bool:
    return "search" in raw or "space" in raw


def search_raw(path: str | Path) -> Optional[Dict[str, Any]]:
    """A sweep file's content when it is a search (search: or space:), else None (a folder, a grid)."""
    p = Path(path)
    if not p.is_file():
        return None
    raw = load_raw(p)
    return raw if is_search(raw) else None


def _one_line(exc: ValidationError, source: str, where: str, value: Any = None) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "union")))
    for kind in ("str", "int", "list[str]", "PrunerSpec", "SchedulerSpec", "none"):
        loc = loc.replace(f".{kind}", "").removeprefix(f"{kind}.")
    key = f"{where}.{loc}" if loc else where
    if err["type"] == "extra_forbidden":
        allowed = list((PrunerSpec if "pruner" in key else SchedulerSpec if "scheduler" in key
                        else SearchSpec).model_fields)
        name = str(err["loc"][-1])
        return ConfigError(f"{source}: {key}: unknown key '{name}'{did_you_mean(name, allowed)}; "
                           f"allowed here: {', '.join(allowed)}")
    from dlhw.errors import plain_words

    return ConfigError(f"{source}: {key}: {plain_words(err['msg'])}; received {shorten(err.get('input'))}")


def _choice(source: str, key: str, value: Any, names, what: str) -> None:
    if value not in names:
        raise ConfigError(f"{source}: {key}: unknown {what} {shorten(value, 40)}{did_you_mean(value, names)}; "
                          f"choose one of: {', '.join(names)}")


def read_spec(raw: Dict[str, Any], source: str) -> SearchSpec:
    search = raw.get("search")
    if not isinstance(search, dict):
        raise ConfigError(f"{source}: search: expected a mapping (trials:, sampler:, metric:, pruner:, seed:); "
                          f"received {shorten(search)}")
    if isinstance(search.get("pruner"), dict) and "type" in search["pruner"]:
        _choice(source, "search.pruner.type", search["pruner"]["type"], PRUNERS, "pruner")
    elif isinstance(search.get("pruner"), str):
        _choice(source, "search.pruner", search["pruner"], PRUNERS, "pruner")
    if "sampler" in search:
        _choice(source, "search.sampler", search["sampler"], SAMPLERS, "sampler")
    sched = search.get("scheduler")
    if isinstance(sched, dict) and "type" in sched:
        _choice(source, "search.scheduler.type", sched["type"], SCHEDULERS, "scheduler")
    elif isinstance(sched, str):
        _choice(source, "search.scheduler", sched, SCHEDULERS, "scheduler")
    try:
        spec = SearchSpec.model_validate(search)
    except ValidationError as exc:
        raise _one_line(exc, source, "search") from None
    metrics = [spec.metric] if isinstance(spec.metric, str) else spec.metric
    if not metrics:
        raise ConfigError(f"{source}: search.metric: an empty list; give a metric or a list of them")
    known = [f"{s}_{n}" for s in ("val", "test", "train") for n in SPLIT_METRICS] + list(EXTRA_METRICS)
    for m in metrics:
        split = m.split("_", 1)[0]
        typo = m not in known and did_you_mean(m, known)  # another name (a custom metric) is left to the run
        if typo or not ((split in ("train", "val", "test") and "_" in m) or m in EXTRA_METRICS):
            raise ConfigError(f"{source}: search.metric: unknown metric {shorten(m, 40)}{typo or ''}; "
                              f"give val_<name>, test_<name>, train_<name> (a metrics.json name) or one of "
                              f"{', '.join(EXTRA_METRICS)}")
    multi = not isinstance(spec.metric, str)
    pruner = spec.pruner if isinstance(spec.pruner, PrunerSpec) \
        else PrunerSpec.model_validate({"type": spec.pruner or "none"})
    if multi and pruner.type != "none":
        raise ConfigError(f"{source}: search.pruner: a multi-objective search (metric: {metrics}) cannot prune; "
                          f"remove the pruner or give one metric")
    if multi and spec.sampler in ("cmaes",):
        raise ConfigError(f"{source}: search.sampler: cmaes optimises one metric; use nsga2, tpe or random "
                          f"for a list of metrics")
    scheduler = spec.scheduler if isinstance(spec.scheduler, SchedulerSpec) else SchedulerSpec(type=spec.scheduler or "none")
    if scheduler.type != "none" and pruner.type != "none":
        raise ConfigError(f"{source}: search.scheduler: {scheduler.type} decides itself which trials go on; "
                          f"remove search.pruner ({pruner.type})")
    if scheduler.type != "none" and multi:
        raise ConfigError(f"{source}: search.scheduler: promotes on one metric; give search.metric one metric")
    if scheduler.type != "none" and metrics[0].split("_", 1)[0] not in ("train", "val"):
        raise ConfigError(f"{source}: search.scheduler: promotes on a metric logged every epoch (val_<name> or "
                          f"train_<name>); search.metric is '{metrics[0]}'")
    if pruner.type != "none" and metrics[0].split("_", 1)[0] not in ("train", "val"):
        raise ConfigError(f"{source}: search.pruner: prunes on a metric logged every epoch (val_<name> or "
                          f"train_<name>); search.metric is '{metrics[0]}'")
    return spec


def _number(source: str, key: str, value: Any, whole: bool) -> float:
    ok = isinstance(value, int) if whole else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"{source}: {key}: expected {'a whole number' if whole else 'a number'}; "
                          f"received {shorten(value)}")
    return value


def read_param(source: str, key: str, value: Any) -> Param:
    where = f"space.{key}"
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{source}: {where}: an empty list of choices")
        return Param(key, "categorical", choices=list(value))
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {where}: expected a list of choices or a range such as "
                          f"{{log_uniform: [1.0e-4, 1.0e-1]}} or {{int: [16, 512], step: 16}}; received {shorten(value)}")
    kinds = [k for k in value if k in KINDS]
    unknown = [k for k in value if k not in KINDS and k not in OPTIONS]
    if unknown:
        raise ConfigError(f"{source}: {where}: unknown key '{unknown[0]}'{did_you_mean(unknown[0], KINDS + OPTIONS)}; "
                          f"a range is one of {', '.join(KINDS)} (with step:, log:)")
    if len(kinds) != 1:
        raise ConfigError(f"{source}: {where}: expected one of {', '.join(KINDS)}; received {shorten(value)}")
    kind = kinds[0]
    bounds = value[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ConfigError(f"{source}: {where}.{kind}: expected [low, high]; received {shorten(bounds)}")
    whole = kind == "int"
    low, high = (_number(source, f"{where}.{kind}", b, whole) for b in bounds)
    log = kind == "log_uniform" or bool(value.get("log", False))
    if not isinstance(value.get("log", False), bool):
        raise ConfigError(f"{source}: {where}.log: expected true or false; received {shorten(value['log'])}")
    if low >= high:
        raise ConfigError(f"{source}: {where}.{kind}: bounds reversed or equal (low must be below high); "
                          f"received [{low}, {high}]")
    if log and low <= 0:
        raise ConfigError(f"{source}: {where}.{kind}: a log scale needs bounds above 0; received [{low}, {high}]")
    step = value.get("step")
    if step is not None:
        step = _number(source, f"{where}.step", step, whole)
        if step <= 0 or step > high - low:
            raise ConfigError(f"{source}: {where}.step: expected above 0 and at most high - low; received {step}")
        if log:
            raise ConfigError(f"{source}: {where}.step: a log scale takes no step (Optuna's rule); remove one")
    return Param(key, "int" if whole else "float", low=low, high=high, log=log, step=step)


def _check_key(source: str, base: Dict[str, Any], param: Param) -> None:
    """Every value of the dimension (categorical) or both bounds set into the base config must validate."""
    samples = param.choices if param.kind == "categorical" else [param.low, param.high]
    for v in samples:
        data = copy.deepcopy(base)
        try:
            set_path(data, param.key, copy.deepcopy(int(v) if param.kind == "int" else v))
            validate(data, "")
        except ConfigError as exc:
            why = str(exc).removeprefix(": ").replace("--set ", "")
            raise ConfigError(f"{source}: space.{param.key}: {why}") from None


def build_search(path: str | Path, sets=(), raw: Optional[Dict[str, Any]] = None) -> SearchPlan:
    """Read and check a search file (or its content as ``raw``); any mistake: one-line ConfigError."""
    p = Path(path)
    source = str(p)
    given = raw is not None  # a dict (dlhw.sweep): PATH only names the search
    raw = copy.deepcopy(raw) if raw is not None else load_raw(p)
    for other in ("grid", "random", "repeats", "vary"):
        if other in raw:
            raise ConfigError(f"{source}: {other}: a file has either grid: (every combination) or search: "
                              f"(Optuna), not both; move one to its own file")
    raw, sets = apply_search_sets(raw, list(sets))
    if "search" not in raw:
        raise ConfigError(f"{source}: search: required with space: (trials:, sampler:, metric:)")
    spec = read_spec(raw, source)
    space = raw.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{source}: space: expected a mapping of dotted keys to ranges or lists of choices; "
                          f"received {shorten(space) if space is not None else 'nothing'}")
    for item in sets:
        key = parse_override(item)[0]
        for g in space:
            if key == g or key.startswith(g + ".") or g.startswith(key + "."):
                raise ConfigError(f"--set {key}: {source} searches '{g}' in its space; drop it from --set or the space")
    base = apply_overrides({k: v for k, v in raw.items() if k not in SWEEP_KEYS}, sets)
    params = [read_param(source, str(k), v) for k, v in space.items()]
    for param in params:
        _check_key(source, base, param)
    if spec.sampler == "grid":
        missing = [q.key for q in params if q.grid() is None]
        if missing:
            raise ConfigError(f"{source}: space.{missing[0]}: the grid sampler needs discrete values; give it a "
                              f"step: or a list of choices")
        if grid_size(params) > MAX_GRID:
            raise ConfigError(f"{source}: space: the grid sampler's grid has {grid_size(params):,} points, more "
                              f"than {MAX_GRID:,}; coarsen the steps or use another sampler")
    for i, point in enumerate(spec.enqueue):
        extra = [k for k in point if k not in space]
        if extra:
            raise ConfigError(f"{source}: search.enqueue.{i}: '{extra[0]}' is not a key of space:"
                              f"{did_you_mean(extra[0], list(space))}")
    cfg = validate({**base, "name": "search"}, source)
    epochs = sum(s.epochs for s in cfg.stages())
    if spec.warm_start is not None:
        warm_start_folder(spec.warm_start, source)
    sched = spec.scheduler if isinstance(spec.scheduler, SchedulerSpec) else SchedulerSpec(type=spec.scheduler or "none")
    if sched.type == "pbt" and cfg.training.checkpoint == "off":
        raise ConfigError(f"{source}: search.scheduler: pbt continues trials from checkpoints (their own, or a "
                          f"better trial's it copies), and training.checkpoint is off; set training.checkpoint: auto")
    if sched.type != "none" and cfg.training.checkpoint == "off":
        raise ConfigError(f"{source}: search.scheduler: {sched.type} continues the trials it promotes from their "
                          f"checkpoints, and training.checkpoint is off; set training.checkpoint: auto")
    if sched.type == "pbt":
        pbt_keys(sched, params, source)
    name = sanitize_name(str(path) if given else p.stem)
    return SearchPlan(name=name, source=source, spec=spec, params=params, base=base, overrides=sets, epochs=epochs,
                      space=copy.deepcopy(space))


def apply_search_sets(raw: Dict[str, Any], sets: List[str]):
    """``--set search.KEY=V`` and ``--set space.KEY=V`` applied to the search file's blocks (a space
    key is dotted itself: ``space.training.optimizer.learning_rate={log_uniform: [1e-4, 1e-2]}``;
    ``null`` removes it); the other --set items are returned for the base config."""
    rest: List[str] = []
    for item in sets:
        key, value = parse_override(item)
        top, _, sub = key.partition(".")
        if top == "search" and sub:
            search = raw.setdefault("search", {})
            if isinstance(search, dict) and sub.startswith("pruner.") and isinstance(search.get("pruner"), str):
                search["pruner"] = {"type": search["pruner"]}
            if not isinstance(search, dict):
                raise ConfigError(f"--set {key}: search: is not a mapping in the file")
            set_path(search, sub, value)
        elif top == "space" and sub:
            space = raw.setdefault("space", {})
            if not isinstance(space, dict):
                raise ConfigError(f"--set {key}: space: is not a mapping in the file")
            inner = next((k for k in space if sub.startswith(str(k) + ".")), None)
            if value is None:
                space.pop(sub, None)
            elif inner is not None and isinstance(space[inner], dict):
                set_path(space[inner], sub[len(str(inner)) + 1:], value)
            else:
                space[sub] = value
        else:
            rest.append(item)
    return raw, rest


def warm_start_folder(value: Any, source: str) -> Path:
    """The earlier sweep folder ``search.warm_start`` names (relative: to the working folder, else to
    the search file's folder); ConfigError naming the key when it is no search's sweep folder."""
    from dlhw.rundir import layout
    from dlhw.rundir.folder import read_json

    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: search.warm_start: expected the path of an earlier search's sweep folder; "
                          f"received {shorten(value)}")
    here = Path(value).expanduser()
    candidates = [here] if here.is_absolute() else [here, Path(source).parent / here]
    for folder in candidates:
        if (folder / "study.json").is_file() or (read_json(folder / layout.SWEEP_MANIFEST) or {}).get("search"):
            return folder
    found = next((f for f in candidates if f.exists()), None)
    what = "does not exist" if found is None else "is no search's sweep folder (no study.json, no sweep.json with a search)"
    raise ConfigError(f"{source}: search.warm_start: {value} {what}")


def pbt_keys(sched: SchedulerSpec, params: List[Param], source: str) -> List[Param]:
    """The space's parameters PBT's explore perturbs: ``keys`` (each numeric), else every numeric one."""
    by_key = {p.key: p for p in params}
    if sched.keys is None:
        return [p for p in params if p.kind != "categorical"]
    for key in sched.keys:
        if key not in by_key:
            raise ConfigError(f"{source}: search.scheduler.keys: '{key}' is not a key of space:"
                              f"{did_you_mean(key, list(by_key))}")
        if by_key[key].kind == "categorical":
            raise ConfigError(f"{source}: search.scheduler.keys: pbt perturbs numbers, and space.{key} is "
                              f"categorical ({by_key[key].describe()}); remove it from keys (exploit still "
                              f"copies it from the better trial)")
    return [by_key[k] for k in sched.keys]
