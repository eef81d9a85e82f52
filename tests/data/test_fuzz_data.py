"""Property-based: hostile data through ``dlhw data preview`` and a one-epoch ``dlhw run``.

Generated image folders (odd class names, broken, empty and mislabelled image files, every
image mode), CSVs (odd headers and labels, NaN, inf, huge and text values, BOMs, formulas) and
arrays (.npy/.npz of every dtype and shape, pickled objects) must be previewed or refused with
one ``error:`` line and exit 2: never a traceback, a hang, or exit 1. Text from the data (class
names like ``$\\foo$``, ``[/bold]``, ``=cmd``) must reach the plots and the terminal literally.

Seeded, bounded; ``DLHW_FUZZ_PROFILE=long`` for thousands of examples (tests/config/test_fuzz_configs.py
documents the profiles). The outcome counts are printed at the end."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.conftest import fuzz_profile, invoke_bounded, report_fuzz  # noqa: E402

PROFILE = fuzz_profile("dlhw-fuzz-data", default=30, long=1000)
RUNS = {"default": 2, "long": 30}[os.environ.get("DLHW_FUZZ_PROFILE", "default")]
CALL_SECONDS = 120
OUTCOMES: Counter = Counter()
HOSTILE_NAMES = ["$\\foo$", "$x^$", "[/bold]", "[red]x", "=cmd|'/C calc'!A0", "+1", "-x", "@SUM(A1)", "e\u0301",
                 "\u202eevil", "\U0001f600", "a b", "nan", "None", "1", "0", "true", "<script>", "&amp;", "{0}",
                 "%s", "\\", "..."]
LABEL = st.sampled_from(HOSTILE_NAMES) | st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                                                 min_size=1, max_size=10)


def folder_name(name: str) -> str:
    name = name.replace("/", "_").replace("\x00", "_")
    return name if name not in (".", "..") and not name.startswith(".") else "_" + name


# ------------------------------------------------------------------ generators
@st.composite
def image_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["png"] * 6 + ["jpeg", "gif", "bmp"] * 2 + ["empty", "text", "truncated"]))
    if kind == "empty":
        return b""
    if kind == "text":
        return draw(st.binary(max_size=64))
    from PIL import Image

    mode = draw(st.sampled_from(["RGB", "L", "RGBA", "P", "1", "I;16", "F", "CMYK", "LA"]))
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    arr = np.random.default_rng(draw(st.integers(0, 99))).integers(0, 255, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert(mode if mode not in ("I;16", "F") else "L")
    if mode in ("I;16", "F"):
        img = img.convert("I" if mode == "I;16" else "F")
    fmt = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "bmp": "BMP", "truncated": "PNG"}[kind]
    buf = io.BytesIO()
    try:
        img.save(buf, fmt)
    except (OSError, ValueError, KeyError):
        img.convert("RGB").save(buf, "PNG")
    data = buf.getvalue()
    return data[: len(data) // 2] if kind == "truncated" else data


@st.composite
def image_folder(draw, root: Path) -> dict:
    names = draw(st.lists(LABEL.map(folder_name), min_size=1, max_size=3, unique_by=lambda s: s.lower()))
    for name in names:
        d = root / "imgs" / name
        d.mkdir(parents=True, exist_ok=True)
        for j in range(draw(st.sampled_from([0, 1, 5, 6, 8]))):
            ext = draw(st.sampled_from([".png", ".jpg", ".jpeg", ".gif", ".bmp", ".PNG", ".txt", ""]))
            (d / f"{j}{ext}").write_bytes(draw(image_bytes()))
    return {"source": "image_folder", "path": str(root / "imgs"), "image_size": [16, 16]}


@st.composite
def csv_table(draw, root: Path) -> dict:
    n = draw(st.sampled_from([0, 1, 3, 30, 40]))
    header = draw(st.lists(st.sampled_from(["a", "b", "x 1", "$c$", "=f", "", "a", "\ufeffd", "é"]), min_size=1,
                           max_size=4))
    value = st.one_of(st.floats(-1e3, 1e3).map(repr), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.integers(-10 ** 30, 10 ** 30).map(str),
                      st.sampled_from(["", "NaN", "inf", "-inf", "1e999", "abc", "\"", "1,5", "=1+1", " 3 ", "None"]))
    if draw(st.booleans()):  # a table a model can learn from, with hostile labels only
        value = st.floats(-1e3, 1e3).map(repr)
    labels = draw(st.lists(LABEL, min_size=1, max_size=4))
    rows = [[draw(value) for _ in header] + [draw(st.sampled_from(labels))] for _ in range(n)]
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header + ["y"])
    w.writerows(rows)
    text = buf.getvalue()
    if draw(st.booleans()):
        text = "\ufeff" + text
    (root / "t.csv").write_text(text, encoding="utf-8")
    return {"source": "csv", "path": str(root / "t.csv"), "target": "y"}


@st.composite
def arrays(draw, root: Path) -> dict:
    n = draw(st.integers(0, 30))
    dtype = draw(st.sampled_from(["float32", "float64", "int8", "uint8", "int64", "bool", "complex64", "object",
                                  "U3", "float16"]))
    shape = (n,) + tuple(draw(st.lists(st.integers(0, 6), max_size=3)))
    x = np.zeros(shape, dtype=dtype) if dtype != "object" else np.empty(shape, dtype=object)
    if dtype.startswith("float") and x.size:
        x.flat[0] = draw(st.sampled_from([np.nan, np.inf, 1e30, 0.0]))
    y_kind = draw(st.sampled_from(["int", "str", "float-nan", "complex", "object", "2d", "short"]))
    y = {"int": lambda: np.arange(n) % 3, "str": lambda: np.array(["$a$", "[b]"] * n)[:n],
         "float-nan": lambda: np.where(np.arange(n) % 2, np.nan, 1.0), "complex": lambda: np.ones(n) * 1j,
         "object": lambda: np.array([{"a": 1}] * n + [None], dtype=object)[:n], "2d": lambda: np.zeros((n, 2)),
         "short": lambda: np.arange(max(n - 1, 0)) % 2}[y_kind]()
    if draw(st.booleans()):
        path = root / "d.npz"
        keys = draw(st.sampled_from([("x", "y"), ("x",), (), ("a", "b")]))
        with open(path, "wb") as fh:
            np.savez(fh, **{k: v for k, v in zip(keys, (x, y))})
        return {"source": "sequences", "path": str(path)}
    np.save(root / "x.npy", x, allow_pickle=True)
    np.save(root / "y.npy", y, allow_pickle=True)
    return {"source": "sequences", "path": str(root / "x.npy"), "labels": str(root / "y.npy")}


# -------------------------------------------------------------------- checking
def classify(exit_code: int, output: str) -> str:
    errors = [ln for ln in output.splitlines() if ln.startswith("error:")]
    if "Traceback" in output:
        return "other"
    if exit_code == 0:
        return "accepted"
    if exit_code == 2 and len(errors) == 1:
        return "clean refusal"
    return "other"


@pytest.fixture(scope="module")
def summary(request):
    yield OUTCOMES
    report_fuzz(request, "data", OUTCOMES)


def fresh(root: Path) -> Path:
    import uuid

    d = root / uuid.uuid4().hex[:8]
    d.mkdir()
    return d


def config(root: Path, dataset: dict, epochs: int = 1) -> Path:
    cfg = {"name": "fuzz", "seed": 0, "dataset": {**dataset, "split": {"train": 0.6, "val": 0.2, "test": 0.2}},
           "model": {"type": "mlp", "layers": [{"units": 4}]},
           "training": {"epochs": epochs, "batch_size": 8, "tensorboard": False, "checkpoint": False},
           "evaluation": {"samples": 4}}
    path = root / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def check_preview(root: Path, dataset: dict, kind: str) -> None:
    cfg = config(root, dataset)
    r = invoke_bounded(["data", "preview", str(cfg), "--out", str(root / "out")], CALL_SECONDS)
    outcome = classify(r.exit_code, r.output)
    OUTCOMES[f"{kind} preview {outcome}"] += 1
    assert outcome != "other", f"exit {r.exit_code}:\n{r.output[-3000:]}\n{r.exception!r}"


@pytest.mark.parametrize("kind", ["images", "csv", "arrays"])
def test_hostile_data_previews_or_refuses_in_one_line(tmp_path_factory, summary, kind):
    base = tmp_path_factory.mktemp(f"fuzz-{kind}")
    make = {"images": image_folder, "csv": csv_table, "arrays": arrays}[kind]

    @settings(PROFILE)
    @given(st.data())
    def prop(data):
        root = fresh(base)
        check_preview(root, data.draw(make(root)), kind)

    prop()


def test_hostile_class_names_train_plot_and_report(tmp_path, summary):
    """One-epoch runs on images whose class names are markup, formulas and mathtext: the run
    completes with every plot, and the report's summary.csv keeps formulas inert."""
    from PIL import Image

    @settings(PROFILE, max_examples=RUNS)
    @given(st.lists(st.sampled_from(HOSTILE_NAMES).map(folder_name), min_size=2, max_size=3, unique=True))
    def prop(names):
        root = fresh(tmp_path)
        for i, name in enumerate(names):
            d = root / "imgs" / name
            d.mkdir(parents=True)
            for j in range(6):
                Image.fromarray(np.full((8, 8, 3), 40 * i + j, dtype=np.uint8)).save(d / f"{j}.png")
        cfg = config(root, {"source": "image_folder", "path": str(root / "imgs"), "image_size": [8, 8]})
        r = invoke_bounded(["run", str(cfg), "--out", str(root / "runs")], CALL_SECONDS)
        outcome = classify(r.exit_code, r.output)
        OUTCOMES[f"run {outcome}"] += 1
        assert r.exit_code == 0, r.output[-3000:]
        run_dir = root / "runs" / "fuzz"
        assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
        for png in ("curves.png", "confusion_matrix.png", "roc.png", "samples.png"):
            assert (run_dir / png).stat().st_size > 0, png
        assert "not drawn" not in r.output
        rep = invoke_bounded(["report", str(run_dir), "--out", str(root / "report")], CALL_SECONDS)
        assert rep.exit_code == 0, rep.output[-3000:]
        import csv

        rows = list(csv.reader((root / "report" / "summary.csv").open(encoding="utf-8")))
        assert all(not cell or cell[0] not in "=+@" or cell.startswith("'") for row in rows for cell in row)

    prop()
