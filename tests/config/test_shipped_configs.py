"""Every shipped config and sweep file validates, has the study's protocol and trial count, and
runs end to end with tiny overrides; and validation on the test split (S2, S3, S4), which
several of them use."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.config import validate
from dlhw.config.loader import apply_overrides
from dlhw.errors import ConfigError, DataError
from dlhw.sweeps import build_plan
from tests.conftest import REPO, fake_reuters, make_image_folder

runner = CliRunner()
CONFIGS = REPO / "configs"
SHIPPED = sorted([p for p in CONFIGS.glob("*.yaml")] + [p for p in CONFIGS.iterdir() if p.is_dir()
                                                       and p.name != "search"])  # searches: tests/sweeps/test_search.py
# Built at 32x32 with random weights they still take 10-60 s each on 2 cores: opt-in (-m slow).
HEAVY_BACKBONES = ("densenet201", "resnet152", "resnet50")
# ...except these, the representative backbone configs of the default suite.
QUICK_BACKBONE_FILES = ("resnet50_svm_kernels.yaml",)


def _ids(p):
    return p.name


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DLHW_CACHE_DIR", str(tmp_path / "feature-cache"))


# ------------------------------------------------------------ validate / protocol
@pytest.mark.parametrize("path", SHIPPED, ids=_ids)
def test_every_shipped_config_and_sweep_validates(path):
    plan = build_plan(path)
    assert plan.trials and all(t.cfg is not None for t in plan.trials)


def test_sweeps_have_the_trial_counts_the_studies_compared():
    counts = {name: len(build_plan(CONFIGS / name).trials) for name in (
        "densenet_heads.yaml", "resnet50_svm_kernels.yaml", "resnet152_heads.yaml", "resnet152_finetune.yaml",
        "densenet_finetune_layers.yaml", "mlp_layers", "mlp_neurons")}
    # the heads and kernels carry claims, so each variant runs with 5 seeds (repeats: 5)
    assert counts == {"densenet_heads.yaml": 5 * 5, "resnet50_svm_kernels.yaml": 4 * 5, "resnet152_heads.yaml": 8,
                      "resnet152_finetune.yaml": 5, "densenet_finetune_layers.yaml": 4, "mlp_layers": 8,
                      "mlp_neurons": 6}


def test_s1_protocol():
    heads = build_plan(CONFIGS / "densenet_heads.yaml").trials
    for t in heads:
        c = t.cfg
        assert (c.dataset.split.train, c.dataset.split.val, c.dataset.split.test) == (0.7, 0.2, 0.1)
        assert (c.training.epochs, c.training.optimizer.type, c.training.optimizer.learning_rate) == (100, "adam", 1e-3)
        assert c.model.backbone.name == "densenet201" and c.model.output.activation == "sigmoid"
    described = []
    for t in heads:
        head = [(h.type, h.units, h.activation) for h in t.cfg.model.head]
        described += [head] if head not in described else []
    assert sorted({t.cfg.seed for t in heads}) == [0, 1, 2, 3, 4]
    assert described == [
        [("dense", 256, None)],
        [("dense", 1024, None), ("dense", 256, "relu")],
        [("dense", 512, None), ("dense", 128, "sigmoid")],
        [("dense", 512, None)],
        [("dense", 256, None), ("batch_norm", None, None)],
    ]
    layers = [t.cfg.training.stages[1] for t in build_plan(CONFIGS / "densenet_finetune_layers.yaml").trials]
    assert [(s.unfreeze.from_layer, s.optimizer.learning_rate) for s in layers] == \
        [(190, 1e-4), (180, 1e-5), (170, 1e-5), (160, 1e-5)]
    assert all(s.early_stopping.patience == 5 and s.epochs == 100 and s.unfreeze.batch_norm == "trainable"
               for s in layers)
    r152 = build_plan(CONFIGS / "resnet152_heads.yaml").trials
    assert all(t.cfg.model.output.units == 2 and t.cfg.model.output.activation == "linear"
               and t.cfg.training.optimizer.learning_rate == 1e-3 and t.cfg.training.early_stopping for t in r152)
    assert len({json.dumps([h.model_dump() for h in t.cfg.model.head]) for t in r152}) == 8
    fine = build_plan(CONFIGS / "resnet152_finetune.yaml").trials
    assert [t.cfg.training.stages[1].unfreeze.last_layers for t in fine] == [10, 20, 30, 40, 50]
    assert all(s.optimizer.learning_rate == 1e-3 for t in fine for s in t.cfg.training.stages)


def test_s2_to_s5_protocol():
    kernels = [t.cfg.model.classifier.kernel for t in build_plan(CONFIGS / "resnet50_svm_kernels.yaml").trials]
    assert list(dict.fromkeys(kernels)) == ["linear", "poly", "rbf", "sigmoid"] and len(kernels) == 4 * 5
    for name in ("resnet50_scratch", "resnet50_frozen", "resnet50_svm", "resnet50_finetune", "small_cnn_sequential",
                 "small_cnn_functional", "tabular_mlp", "reuters"):
        assert build_plan(CONFIGS / f"{name}.yaml").trials[0].cfg.dataset.validation == "test", name
    tab = build_plan(CONFIGS / "tabular_mlp.yaml").trials[0].cfg.dataset.split
    assert (tab.train, tab.val, tab.test) == (0.8, 0.0, 0.2)  # 1600 / 400
    layers = build_plan(CONFIGS / "mlp_layers").trials
    # the study counts the output layer: 3 layers = 2 hidden + output; its 10-layer net used RMSprop
    assert [(len(t.cfg.model.layers) + 1, t.cfg.training.optimizer.type) for t in layers] == \
        [(n, "adam") for n in range(3, 10)] + [(10, "rmsprop")]
    neurons = build_plan(CONFIGS / "mlp_neurons").trials
    assert all(len(t.cfg.model.layers) == 2 for t in neurons)
    assert [u.units for u in neurons[-1].cfg.model.layers] == [256, 512]


def test_dry_run_shows_the_plan(tmp_path):
    """`dlhw sweep FILE --dry-run`: the four fine-tuning depths, named by what differs between them,
    nothing trained; without the data the plan is still shown and the command exits 2 saying why."""
    r = runner.invoke(app, ["sweep", str(CONFIGS / "densenet_finetune_layers.yaml"), "--dry-run", "--out",
                            str(tmp_path), "--set", f"dataset.path={tmp_path / 'absent'}"])
    assert r.exit_code == 2 and "image folder not found" in r.output, r.output
    for name in ("from_layer-190_learning_rate-0.0001", "from_layer-180_learning_rate-1e-05",
                 "from_layer-170_learning_rate-1e-05", "from_layer-160_learning_rate-1e-05"):
        assert name in r.output
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------ run each, tiny
def _tiny(raw: dict, folders: dict) -> dict:
    """Overrides that make a shipped config train in seconds on data the tests make."""
    sets = ["training.tensorboard=false", "training.checkpoint=false", "evaluation.samples=0"]
    ds, model = raw["dataset"], raw.get("model", {})
    if ds.get("source") == "image_folder":
        sets += [f"dataset.path={folders['images']}", "dataset.image_size=[32,32]", "training.batch_size=8"]
    elif ds.get("source") == "image_csv":
        sets += [f"dataset.path={folders['landmarks']}", "dataset.image_size=[32,32]", "training.batch_size=8"]
    elif ds.get("source") in ("sklearn", "csv"):
        sets += ["dataset.max_samples=200"]
    if model.get("type") == "backbone":
        sets += ["model.backbone.weights=null", "model.init_from=null"]
        if (model.get("output") or {}).get("units") not in (None, 1, 2):
            sets += ["model.output.units=null"]  # S2's 196 classes -> the stand-in's 2
    stages = (raw.get("training") or {}).get("stages")
    sets += [f"training.stages.{i}.epochs=1" for i in range(len(stages))] if stages else ["training.epochs=1"]
    return apply_overrides(copy.deepcopy(raw), sets)


def _heavy(path) -> bool:
    if path.name in QUICK_BACKBONE_FILES:
        return False
    model = build_plan(path).trials[0].cfg.model
    return model.type == "backbone" and model.backbone.name in HEAVY_BACKBONES


# issue 28: the default suite keeps one config of a kind (15-40 s each); these run with -m slow
SLOW_SHIPPED = {"s4_landmarks.yaml", "small_cnn_inception.yaml", "inception_host.yaml", "resnet50_svm_kernels.yaml",
                "small_cnn_functional.yaml", "mnist_open_set.yaml"}
RUNS = [pytest.param(p, marks=pytest.mark.slow, id=p.name) if p.name in SLOW_SHIPPED or _heavy(p)
        else pytest.param(p, id=p.name) for p in SHIPPED]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("shipped")
    from tests.models.test_multiout import GEN  # data/make_landmark_images.py

    return {"images": make_image_folder(root / "images", classes=("0", "1"), per_class=8, size=32),
            "landmarks": GEN.make(root / "landmarks" / "landmarks.csv", count=20, size=32, seed=0)}


def _stand_ins(monkeypatch):
    import keras

    fake_reuters(monkeypatch, n=120, vocab=60, n_test=30, lengths=(4, 12))
    rng = np.random.default_rng(0)

    def cifar():
        def part(n):
            return rng.integers(0, 255, size=(n, 32, 32, 3)).astype("uint8"), (np.arange(n) % 10).reshape(-1, 1)
        return part(80), part(20)

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", cifar)


@pytest.mark.parametrize("path", RUNS)
def test_shipped_config_runs_with_tiny_overrides(path, folders, tmp_path, monkeypatch):
    """The first trial of every shipped config / sweep, tiny: 1 epoch per stage, few samples,
    32 px images, random backbone weights; Keras sets replaced by in-process stand-ins."""
    from dlhw.orchestration.experiment import run_experiment

    _stand_ins(monkeypatch)
    trial = build_plan(path).trials[0]
    cfg = validate(_tiny(trial.raw, folders), f"{path.name} (tiny)")
    out = run_experiment(cfg, out=tmp_path / "runs", quiet=True)
    assert out.status == "completed"
    metrics = json.loads((out.run_dir / "metrics.json").read_text())
    assert metrics["validation"] == ("test split" if cfg.dataset.validation == "test" else "val split")


# --------------------------------------------------- validation on the test split
def _digits(**dataset):
    return validate({"name": "vt", "dataset": {"source": "sklearn", "name": "digits", "max_samples": 300, **dataset},
                     "model": {"type": "mlp", "layers": [{"units": 16}]},
                     "training": {"epochs": 2, "tensorboard": False, "checkpoint": False,
                                  "early_stopping": {"monitor": "val_loss", "patience": 3}},
                     "evaluation": {"samples": 0}})


def test_validation_on_the_test_split_is_said_plainly(tmp_path, caplog):
    from dlhw.data import load_dataset
    from dlhw.orchestration.experiment import run_experiment

    cfg = _digits(split={"train": 0.8, "val": 0.0, "test": 0.2}, validation="test")
    ds = load_dataset(cfg)
    assert ds.splits["val"] is ds.splits["test"] and len(ds.splits["test"]) == 60 and len(ds.splits["train"]) == 240
    caplog.clear()
    out = run_experiment(cfg, out=tmp_path, quiet=True)
    from tests.conftest import warned

    err = warned(caplog)
    assert "test figures are optimistic" in err  # early stopping watches the test split
    m = json.loads((out.run_dir / "metrics.json").read_text())
    assert m["validation"] == "test split"
    assert m["val"]["accuracy"] == m["test"]["accuracy"] and m["val"]["loss"] == pytest.approx(m["test"]["loss"])
    assert m["diagnostics"][0]["kind"] == "val_is_test" and "test split" in m["diagnostics"][0]["message"]
    status = json.loads((out.run_dir / "status.json").read_text())
    assert any("optimistic" in w for w in status.get("warnings", []))
    from dlhw.reports import make_report

    make_report([out.run_dir], out=tmp_path / "report")
    html = (tmp_path / "report" / "report.html").read_text()
    assert "validation data is the test split" in html
    plain = run_experiment(_digits(), out=tmp_path, quiet=True)
    assert plain.metrics["validation"] == "val split" and not any(
        d["kind"] == "val_is_test" for d in plain.metrics["diagnostics"])


def test_validation_on_test_needs_an_empty_val_fraction_and_a_test_split(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset: validation: test .* split.val must be 0.*received split.val=0.15"):
        _digits(validation="test")
    from dlhw.data import load_dataset

    root = tmp_path / "pre"
    for split in ("train", "val", "test"):
        make_image_folder(root / split, per_class=3, size=16, seed=len(split))
    cfg = validate({"dataset": {"source": "image_folder", "path": str(root), "image_size": [16, 16],
                                "split": {"train": 0.8, "val": 0.0, "test": 0.2}, "validation": "test"}})
    with pytest.raises(DataError, match=r"already has a validation split \(6 samples"):
        load_dataset(cfg)


def test_validation_on_test_for_image_folders_and_the_keras_split(tmp_path, monkeypatch):
    from dlhw.data import load_dataset

    folder = make_image_folder(tmp_path / "img", per_class=10, size=16)
    cfg = validate({"dataset": {"source": "image_folder", "path": str(folder), "image_size": [16, 16],
                                "split": {"train": 0.8, "val": 0.0, "test": 0.2}, "validation": "test"}})
    ds = load_dataset(cfg)
    assert ds.splits["val"].files == ds.splits["test"].files and len(ds.splits["train"]) == 16
    fake_reuters(monkeypatch, n=100, vocab=40, n_test=25)
    cfg = validate({"dataset": {"source": "keras", "name": "reuters", "num_words": 40,
                                "split": {"train": 0.8, "val": 0.0, "test": 0.2}, "validation": "test"}})
    ds = load_dataset(cfg)  # the official test set (25) is the validation data; train keeps all 75
    assert len(ds.splits["train"]) == 75 and len(ds.splits["val"]) == 25 and ds.splits["val"] is ds.splits["test"]
