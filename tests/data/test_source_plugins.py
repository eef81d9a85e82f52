"""Data sources as plugins (issue 25): one module and one registered Source object per source;
the package outside dlhw.data.sources never branches on a source's name."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from dlhw.config.names import DATASET_SOURCES
from dlhw.data.sources import SOURCES, Source, source_for
from dlhw.errors import ConfigError, DataError
from tests.conftest import REPO, make_csv

METHODS = ("load", "paths", "check_present", "offline", "config_shape", "header_shape", "output_count",
           "preview", "describe", "predict_inputs", "fingerprint")


def test_every_source_is_one_module_with_one_object():
    assert SOURCES.names() == sorted(DATASET_SOURCES)
    folder = REPO / "src" / "dlhw" / "data" / "sources"
    for name in SOURCES.names():
        source = source_for(name)
        assert isinstance(source, Source) and source.name == name
        assert all(callable(getattr(source, m)) for m in METHODS)
        assert type(source).__module__ == f"dlhw.data.sources.{name}"
        assert (folder / f"{name}.py").read_text().count("SOURCES.register(") == 1
    with pytest.raises(ConfigError, match="dataset.source"):
        source_for("parquet")


def test_no_source_name_branches_outside_the_sources():
    """None anywhere: the config schema reads each source's required and refused keys from
    dlhw.config.names.SOURCE_RULES (data), held against the registered sources below."""
    branch = re.compile(r"""source"?\]?\)? *(==|!=|in) """)
    found = []
    for path in sorted((REPO / "src" / "dlhw").rglob("*.py")):
        rel = path.relative_to(REPO / "src" / "dlhw").as_posix()
        if rel.startswith("data/sources/"):
            continue
        found += [f"{rel}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1) if branch.search(line)]
    assert found == []


def test_the_config_rules_name_every_registered_source():
    from dlhw.config.names import DATASET_SOURCES, SOURCE_RULES
    from dlhw.data.sources import SOURCES

    assert set(SOURCE_RULES) == set(DATASET_SOURCES) == set(SOURCES.names())
    for name, rules in SOURCE_RULES.items():  # a source reading a path requires it, and the other way round
        assert ("path" in rules["requires"]) == bool(SOURCES.get(name).path_kind), name


def test_presence_is_answered_without_tensorflow(tmp_path):
    csv = make_csv(tmp_path / "t.csv")
    code = textwrap.dedent(f"""
        import sys
        from types import SimpleNamespace as NS
        from dlhw.data.sources import check_data_paths, source_for
        from dlhw.errors import DataError
        print(check_data_paths(NS(source="csv", path={str(csv)!r})))
        for d in (NS(source="image_folder", path={str(tmp_path / 'none')!r}),
                  NS(source="sequences", path={str(csv)!r}, labels={str(tmp_path / 'y.npy')!r}),
                  NS(source="csv", path={str(tmp_path)!r})):
            try:
                check_data_paths(d, "c.yaml")
            except DataError as e:
                print(e)
        k = source_for("keras")
        print(k.present(NS(name="mnist")), k.offline(NS(name="mnist")))
        print(sorted(m for m in ("tensorflow", "keras", "pandas", "sklearn") if m in sys.modules))
    """)
    env = {"PYTHONPATH": str(REPO / "src"), "KERAS_HOME": str(tmp_path / "kh"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == repr([str(csv)])
    assert lines[1].startswith("c.yaml: dataset.path: image folder not found: ") and "none" in lines[1]
    assert lines[2].startswith("c.yaml: dataset.labels: labels file not found: ") and "y.npy" in lines[2]
    assert lines[3] == f"c.yaml: dataset.path: {tmp_path} is a folder; source 'csv' needs a .csv file"
    assert lines[4] == f"False place mnist.npz in {tmp_path / 'kh' / 'datasets'} (see data/README.md)"
    assert lines[5] == "[]"


def test_a_new_source_is_one_object(tmp_path):
    """A source registered from outside the package loads, checks and describes itself."""
    code = textwrap.dedent(f"""
        import numpy as np
        from dlhw.config import load_config
        from dlhw.data import load_dataset
        from dlhw.data.dataset import Split
        from dlhw.data.shapes import data_facts
        from dlhw.data.sources import SOURCES, Source
        from dlhw.data.sources.arrays import finish

        class Toy(Source):
            name = "toy"
            def load(self, cfg, task, seed):
                x = np.arange(80, dtype=np.float32).reshape(40, 2)
                return finish(Split(y=np.arange(40) % 2, x=x), ["even", "odd"], cfg, task, seed, {{"source": "toy"}})
            def config_shape(self, dcfg):
                return (2,), "the toy's known shape"
            def output_count(self, cfg):
                return 2, "the toy's classes", "nothing"
            def preview(self, dataset):
                return ["a toy"]

        SOURCES.register("toy", Toy())
        cfg = load_config({str(REPO / 'configs' / 'quickstart.yaml')!r})
        object.__setattr__(cfg.dataset, "source", "toy")
        ds = load_dataset(cfg)
        facts = data_facts(cfg)
        print(ds.class_names, len(ds.splits["train"]), facts.input_shape, facts.read, facts.shape_from)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("['even', 'odd'] ")
    assert out.stdout.strip().endswith("(2,) nothing the toy's known shape")


def test_fingerprints_follow_the_data(tmp_path):
    import yaml

    from dlhw.config import load_config
    from dlhw.data import load_dataset

    csv = make_csv(tmp_path / "t.csv")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "dataset": {"source": "csv", "path": str(csv), "target": "label"},
                                   "model": {"type": "mlp"}}))
    a, b = load_dataset(load_config(cfg)), load_dataset(load_config(cfg))
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 16
    make_csv(csv, seed=1)
    assert load_dataset(load_config(cfg)).fingerprint != a.fingerprint
    with pytest.raises(DataError, match="CSV file not found"):
        csv.unlink()
        load_dataset(load_config(cfg))
