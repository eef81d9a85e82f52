"""Property-based: configs and sweep files generated from dlhw's own JSON schemas, then mutated
(wrong types, extreme numbers, unknown keys, deep nesting, odd unicode, paths of every kind,
damaged YAML). ``dlhw validate`` (and the sweep planner) either accepts or refuses with one line
and exit 2: never a traceback, a hang, or a file written.

Seeded (``derandomize``) and bounded. Profiles, chosen with ``DLHW_FUZZ_PROFILE``:
``default`` (the default suite, ~1 minute here), ``long`` (thousands of examples, for a night:
``DLHW_FUZZ_PROFILE=long pytest tests/config/test_fuzz_configs.py tests/data/test_fuzz_data.py``).
The outcome counts are printed at the end of the run (accepted / clean refusal / other)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.conftest import DLHW, REPO, TINY, fuzz_profile, invoke_bounded, report_fuzz  # noqa: E402

PROFILE = fuzz_profile("dlhw-fuzz", default=100, long=3000)
CALL_SECONDS = 60  # one validate: a FIFO or a device read would block far longer
OUTCOMES: Counter = Counter()


def schema(name: str) -> dict:
    return json.loads((REPO / "configs" / name).read_text())


# ------------------------------------------------------------- schema -> values
def from_schema(node: dict, defs: dict, depth: int = 0) -> st.SearchStrategy:
    """A value the schema node describes (pattern-only strings and deep optional parts simplified)."""
    if "$ref" in node:
        return st.deferred(lambda: from_schema(resolve(node["$ref"], defs), defs, depth + 1))
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            return st.one_of([from_schema(n, defs, depth + 1) for n in node[key]])
    if "allOf" in node:
        return from_schema(node["allOf"][0], defs, depth + 1)
    if "if" in node:
        return from_schema(node.get("else") or node.get("then") or {}, defs, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**node, "type": k}, defs, depth) for k in kind])
    if kind == "object" or "properties" in node:
        props = node.get("properties", {})
        required = set(node.get("required", []))
        if depth > 8:
            props = {k: v for k, v in props.items() if k in required}
        optional = sorted(k for k in props if k not in required)
        return st.fixed_dictionaries(
            {k: from_schema(props[k], defs, depth + 1) for k in sorted(required) if k in props},
            optional={k: from_schema(props[k], defs, depth + 1) for k in optional[:12]})
    if kind == "array":
        items = node.get("prefixItems") or node.get("items", {})
        if isinstance(items, list):  # a fixed-length tuple ([low, high])
            return st.tuples(*[from_schema(n, defs, depth + 1) for n in items]).map(list)
        return st.lists(from_schema(items, defs, depth + 1) if items else scalars(), max_size=3)
    if kind == "integer":
        return st.integers(node.get("minimum", -5), node.get("maximum", 500))
    if kind == "number":
        lo, hi = node.get("minimum", node.get("exclusiveMinimum", -10)), node.get("maximum", 1e3)
        return st.floats(lo, hi, allow_nan=False, exclude_min="exclusiveMinimum" in node)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "string":
        return st.text(st.characters(codec="utf-8"), min_size=node.get("minLength", 0), max_size=12)
    return scalars()


def resolve(ref: str, defs: dict) -> dict:
    """'#/definitions/A/properties/b' -> that node."""
    node: Any = {"definitions": defs}
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def scalars() -> st.SearchStrategy:
    return st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=False), st.text(max_size=8))


# ------------------------------------------------------------------- mutations
EXTREME = [1e308, -1e308, float("inf"), float("-inf"), float("nan"), 2 ** 200, -(2 ** 63), 0, -0.0, 5e-324,
           10 ** 99, "1e999", True, None, "", [], {}]
ODD_TEXT = st.text(st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z", "Cf", "Co"]),
                   min_size=1, max_size=40) | st.sampled_from(
    ["\u202etxt.exe", "\u200b", "e\u0301", "\U0001f600" * 50, "$\\foo$", "$x^$", "[/bold]", "=cmd|'/C calc'!A0",
     "..\\..\\x", "a" * 5000, "\x00nul", "\\\\?\\C:\\x", "%s%n", "{0.__class__}"])


def path_cases(tmp: Path) -> list:
    special = tmp / "special"
    if not special.exists():
        special.mkdir()
        os.mkfifo(special / "fifo.csv")
        os.mkfifo(special / "fifo.yaml")
        (special / "loop.yaml").symlink_to(special / "loop.yaml")
        (special / "dangling.csv").symlink_to(special / "nowhere")
        (special / "to_zero.csv").symlink_to("/dev/zero")
        (special / "folder.csv").mkdir()
        (special / "empty.csv").write_text("")
        (special / "secret.txt").write_text("TOP_SECRET_VALUE=1\n")
    names = ["fifo.csv", "fifo.yaml", "loop.yaml", "dangling.csv", "to_zero.csv", "folder.csv", "empty.csv",
             "secret.txt"]
    return [str(special / n) for n in names] + ["/dev/zero", "/dev/null", "/dev/urandom", "/proc/self/mem",
                                                "/", "", ".", "..", "~", "x" * 5000, "a\x00b", "nul\\x00",
                                                "file:///etc/passwd", "http://example.invalid/x.csv"]


def mutate(data: Any, draw, tmp: Path, depth: int = 0) -> Any:
    """One mutation at a random place of ``data`` (a nested dict/list)."""
    if isinstance(data, dict) and data and depth < 6 and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(data, key=str)))
        return {**data, key: mutate(data[key], draw, tmp, depth + 1)}
    if isinstance(data, list) and data and depth < 6 and draw(st.booleans()):
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + [mutate(data[i], draw, tmp, depth + 1)] + data[i + 1:]
    how = draw(st.sampled_from(["type", "extreme", "unknown", "deep", "unicode", "path", "drop"]))
    if how == "type":
        return draw(scalars() | st.lists(scalars(), max_size=3) | st.dictionaries(st.text(max_size=4), scalars(),
                                                                                     max_size=2))
    if how == "extreme":
        return draw(st.sampled_from(EXTREME))
    if how == "unknown" and isinstance(data, dict):
        return {**data, draw(ODD_TEXT | st.sampled_from(["lerning_rate", "__class__", "!!python"])): 1}
    if how == "deep":
        value: Any = draw(scalars())
        for _ in range(draw(st.integers(20, 400))):
            value = [value] if draw(st.booleans()) else {"a": value}
        return value
    if how == "unicode":
        return draw(ODD_TEXT)
    if how == "path":
        return draw(st.sampled_from(path_cases(tmp)))
    return {} if isinstance(data, dict) else None


SEEDS = [TINY, {**TINY, "model": {"type": "mlp", "layers": [{"units": 8, "activation": "relu"}]},
               "training": {**TINY["training"], "optimizer": {"type": "sgd", "learning_rate": 0.1}}},
         yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())]
PATH_KEYS = [("dataset", "path"), ("dataset", "labels"), ("model", "init_from"), ("base",)]


@st.composite
def config_files(draw, tmp: Path, sweep: bool = False) -> str:
    s = schema("dlhw-sweep.schema.json" if sweep else "dlhw.schema.json")
    if draw(st.sampled_from(["seed", "schema"])) == "seed":
        data = draw(st.sampled_from(SEEDS))
    else:
        data = draw(from_schema(s["definitions"]["ExperimentConfig"], s["definitions"]))
    data = json.loads(json.dumps(data))  # a copy: mutations never reach SEEDS
    if sweep:
        good = {"seed": [0, 1], "training.epochs": [1, 2], "training.optimizer.learning_rate": [0.1, 0.01]}
        keys = draw(st.lists(st.sampled_from(sorted(good) + ["model.layers.0.units", "bogus.key"]), min_size=1,
                             max_size=2, unique=True))
        data["grid"] = {k: good[k] if k in good and draw(st.booleans()) else draw(st.lists(scalars(), min_size=1,
                                                                                             max_size=3))
                        for k in keys}
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        data = mutate(data, draw, tmp)
    if draw(st.integers(0, 4)) == 0:  # a path of every kind where the config names one
        keys = draw(st.sampled_from(PATH_KEYS))
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[keys[-1]] = draw(st.sampled_from(path_cases(tmp)))
    try:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))
    except (yaml.YAMLError, RecursionError, ValueError):
        text = "name: x\n"
    if draw(st.integers(0, 5)) == 0:  # damaged YAML: cut, a stray byte, an alias, a tag
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["\t", ":", "&a [*a]", "!!python/object:os.system ls", "\"",
                                                  "\ufeff", "*x", "{", "- - -", "%YAML 9.9"])) + text[cut:]
    return text


# -------------------------------------------------------------------- checking
def classify(exit_code: int, output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    if exit_code == 0:
        return "accepted"
    if exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in output:
        return "clean refusal"
    return "other"


def listing(folder: Path) -> set:
    return {p.relative_to(folder) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("fuzz")
    path_cases(folder)
    yield folder
    report_fuzz(request, "configs", OUTCOMES)


def check_config(workdir: Path, text: str, kind: str) -> None:
    cfg = workdir / "c.yaml"
    cfg.write_text(text, encoding="utf-8")
    before = listing(workdir)
    cwd = os.getcwd()
    os.chdir(workdir)  # a relative path in a config resolves here; nothing may appear here
    try:
        r = invoke_bounded(["validate", str(cfg)], CALL_SECONDS)
    finally:
        os.chdir(cwd)
    outcome = classify(r.exit_code, r.output)
    OUTCOMES[f"{kind} {outcome}"] += 1
    assert outcome != "other", f"exit {r.exit_code}:\n{r.output}\n--- config ---\n{text[:2000]}"
    assert listing(workdir) == before, "validate wrote files"
    assert "TOP_SECRET_VALUE" not in r.output


def test_generated_configs_validate_or_refuse_in_one_line(workdir):
    @settings(PROFILE)
    @given(config_files(workdir))
    def prop(text):
        check_config(workdir, text, "config")

    prop()


def test_generated_sweep_files_plan_or_refuse_in_one_line(workdir):
    from dlhw.errors import DlhwError
    from dlhw.sweeps import build_plan

    @settings(PROFILE, max_examples=max(20, PROFILE.max_examples // 3))
    @given(config_files(workdir, sweep=True))
    def prop(text):
        path = workdir / "s.yaml"
        path.write_text(text, encoding="utf-8")
        before = listing(workdir)
        box: dict = {}

        def plan() -> None:
            try:
                build_plan(path)
                box["outcome"] = "accepted"
            except DlhwError as exc:
                one = "\n" not in str(exc) and bool(str(exc))
                box["outcome"] = "clean refusal" if one and exc.exit_code == 2 else f"other ({exc})"
            except Exception as exc:  # noqa: BLE001 - what the property rules out
                box["outcome"] = f"other ({type(exc).__name__}: {exc})"

        t = threading.Thread(target=plan, daemon=True)
        t.start()
        t.join(CALL_SECONDS)
        assert not t.is_alive(), "the sweep planner hung"
        kind = box["outcome"] if box["outcome"] in ("accepted", "clean refusal") else "other"
        OUTCOMES[f"sweep {kind}"] += 1
        assert kind != "other", f"{box['outcome']}\n--- sweep file ---\n{text[:2000]}"
        assert listing(workdir) == before, "planning wrote files"

    prop()


@pytest.mark.parametrize("case", ["deep", "fifo-base", "dev-zero-data", "alias-bomb"])
def test_real_processes_refuse_the_worst_in_one_line(tmp_path, case):
    """As users run it (a console process, a real exit code), for the hardest cases."""
    cfg = tmp_path / "c.yaml"
    if case == "deep":
        cfg.write_text("name: x\nmodel: " + "[" * 5000 + "]" * 5000 + "\n")
    elif case == "fifo-base":
        os.mkfifo(tmp_path / "base.yaml")
        cfg.write_text("base: base.yaml\nname: x\n")
    elif case == "dev-zero-data":
        cfg.write_text("name: x\ndataset: {source: csv, path: /dev/zero, target: y}\nmodel: {type: mlp}\n")
    else:
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
        cfg.write_text("\n".join(lines) + "\nname: x\n")
    before = listing(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(DLHW + ["validate", str(cfg)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=env)  # this checkout's dlhw, whatever the venv's editable install points at
    outcome = classify(r.returncode, r.stdout + r.stderr)
    OUTCOMES[f"process {outcome}"] += 1
    assert outcome == "clean refusal", r.stdout + r.stderr
    assert listing(tmp_path) == before
