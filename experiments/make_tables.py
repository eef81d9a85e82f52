"""Regenerate the results tables of experiments/S*/README.md from run folders.

Each table in a write-up sits between two markers that say where its rows come from and
which columns to show:

    <!-- table: S1/densenet_heads/* [more globs] cols=run,head,params,trainable,train_acc,val_acc,test_acc -->
    ...generated rows...
    <!-- /table -->

Each glob (relative to --runs, default runs/) picks completed run folders (those with a
metrics.json), in sweep order when a sweep.json lists them, else by name. Nothing in a
table is typed by hand: rerun the study's run.sh, then

    python experiments/make_tables.py            # rewrite every README's tables
    python experiments/make_tables.py --check    # exit 1 if a README is out of date

Findings come from the report itself (dlhw.reports): ``<!-- table: groups S5/mlp_optimizers metric=test_accuracy -->``
lists each group of repeats (n, mean, std, 95% interval and its method), ``<!-- table: claims S5/mlp_optimizers -->``
each claim of the sweep file with its verdict, difference, interval, Holm-corrected p-value and runs, as
``dlhw report --check`` judges them.

A special marker ``<!-- table: params-s2 -->`` builds S2's Keras / PyTorch parameter-count
comparison from dlhw.models.backbones.param_breakdown (builds ResNet50, random weights);
``<!-- table: predictions S2/predictions/*.json -->`` lists saved `dlhw predict --json` answers.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
MARKER = re.compile(r"(<!-- table: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


# ------------------------------------------------------------------ run folders
def _json(path: Path) -> Dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _yaml(path: Path) -> Dict[str, Any]:
    import yaml

    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def find_runs(root: Path, pattern: str) -> List[Path]:
    """Completed run folders matching ``pattern`` under ``root``, in sweep order where known."""
    found = [p for p in sorted(root.glob(pattern)) if (p / "metrics.json").exists()]
    order: Dict[Path, int] = {}
    for sweep in {p.parent for p in found}:
        names = [t.get("name") for t in _json(sweep / "sweep.json").get("trials", [])]
        for i, n in enumerate(names):
            order[sweep / str(n)] = i
    return sorted(found, key=lambda p: (str(p.parent), order.get(p, 10_000), p.name))


def _history(run: Path) -> List[Dict[str, str]]:
    try:
        with (run / "history.csv").open() as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


# ---------------------------------------------------------------------- columns
def _acc(split: str) -> Callable[[Path, dict, dict], str]:
    return lambda run, m, c: _num((m.get(split) or {}).get("accuracy"))


def _num(v: Any, digits: int = 3) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def _layer(h: Dict[str, Any]) -> str:
    kind = h.get("type", "dense")
    if kind == "batch_norm":
        return "BatchNorm"
    if kind == "dropout":
        return f"Dropout({h.get('rate')})"
    act = h.get("activation")
    return f"Dense({h.get('units')}{', ' + act if act else ''})"


def _head(run: Path, m: dict, c: dict) -> str:
    model = c.get("model") or {}
    if model.get("classifier"):
        k = model["classifier"]
        return f"SVM ({k.get('kernel')})" if k.get("type") == "svm" else "logistic regression"
    layers = [_layer(h) for h in model.get("head") or []]
    out = model.get("output") or {}
    units = (m.get("output") or {}).get("units", out.get("units"))
    act = (m.get("output") or {}).get("activation", out.get("activation"))
    layers.append(f"Dense({units}, {act})" if act != "linear" else f"Dense({units}) logits")
    return " -> ".join(layers)


def _mlp(run: Path, m: dict, c: dict) -> str:
    model = c.get("model") or {}
    units = [str(layer.get("units")) for layer in model.get("layers") or []]
    opt = ((c.get("training") or {}).get("optimizer") or {}).get("type", "?")
    return f"{len(units) + 1} layers ({'-'.join(units)} + output), {opt}"


def _unfreeze(run: Path, m: dict, c: dict) -> str:
    parts = []
    for s in (c.get("training") or {}).get("stages") or []:
        u = s.get("unfreeze")
        if u:
            where = next(f"{k}={u[k]}" for k in ("from_layer", "last_layers", "from_block") if u.get(k) is not None)
            lr = (s.get("optimizer") or {}).get("learning_rate")
            parts.append(f"{where}, lr {lr:g}, BN {u.get('batch_norm', 'frozen')}")
    return "; ".join(parts) or "frozen backbone"


def _trainable(run: Path, m: dict, c: dict) -> str:
    stages = m.get("params_per_stage") or []
    if len(stages) > 1:
        return " / ".join(f"{s['trainable']:,}" for s in stages)
    return _num((m.get("params") or {}).get("trainable"))


def _best_val(run: Path, m: dict, c: dict) -> str:
    vals = [float(r["val_accuracy"]) for r in _history(run) if r.get("val_accuracy") not in (None, "", "nan")]
    return _num(max(vals)) if vals else _acc("val")(run, m, c)


def _output_loss(run: Path, m: dict, c: dict) -> str:
    o = m.get("output") or {}
    return f"{o.get('activation')} + {o.get('loss')}"


def _diag(run: Path, m: dict, c: dict) -> str:
    kinds = []
    for d in m.get("diagnostics") or []:
        k = d.get("kind") if isinstance(d, dict) else str(d)
        if k not in kinds:
            kinds.append(k)
    return ", ".join(kinds) or "-"


def _confusion(run: Path, m: dict, c: dict) -> str:
    cm = m.get("confusion_matrix")
    return json.dumps(cm).replace(" ", "") if cm is not None else "-"


def _rejected_of(classes: List[str]) -> Callable[[Path, dict, dict], str]:
    """The rejection rate over the unseen classes ``classes`` only (weighted by their samples), so
    open-set runs with different unseen sets (distance / max_prob: 5-9; known vs other: 7-9)
    compare on the digits all of them leave unseen."""
    def cell(run: Path, m: dict, c: dict) -> str:
        by = (m.get("open_set") or {}).get("unseen_rejection_by_class") or {}
        per = (m.get("unseen") or {}).get("per_class") or {}
        n = [per.get(k, {}).get("samples", 0) for k in classes]
        if not all(k in by for k in classes) or not sum(n):
            return "-"
        return _num(sum(by[k] * w for k, w in zip(classes, n)) / sum(n))
    return cell


def _open_acc_of(classes: List[str]) -> Callable[[Path, dict, dict], str]:
    """Open-set accuracy over the known test samples and the unseen ``classes`` only: (known
    accepted and right + those unseen rejected) / (known + those unseen)."""
    def cell(run: Path, m: dict, c: dict) -> str:
        o = m.get("open_set") or {}
        by, per = o.get("unseen_rejection_by_class") or {}, (m.get("unseen") or {}).get("per_class") or {}
        n = [per.get(k, {}).get("samples", 0) for k in classes]
        if not all(k in by for k in classes) or o.get("known_accuracy") is None:
            return "-"
        right = o["known_accuracy"] * o["known_samples"] + sum(by[k] * w for k, w in zip(classes, n))
        return _num(right / (o["known_samples"] + sum(n)))
    return cell


def _open_method(run: Path, m: dict, c: dict) -> str:
    o = m.get("open_set") or {}
    if o.get("method") == "other":
        return f"known vs other (trained on {', '.join(o.get('other_classes') or [])})"
    return f"{o.get('method', '-')} ({_num(o.get('percentile'), 0)}th percentile)" if o else "-"


COLUMNS: Dict[str, tuple] = {
    "run": ("run", lambda run, m, c: run.name),
    "head": ("head", _head),
    "mlp": ("network", _mlp),
    "unfreeze": ("fine-tuning", _unfreeze),
    "output_loss": ("output + loss", _output_loss),
    "params": ("params total", lambda run, m, c: _num((m.get("params") or {}).get("total"))),
    "trainable": ("trainable (per stage)", _trainable),
    "train_s": ("train s", lambda run, m, c: _num(m.get("train_seconds"), 1)),
    "epochs": ("epochs run", lambda run, m, c: _num(m.get("epochs_run"))),
    "best_epoch": ("best epoch", lambda run, m, c: _num(m.get("best_epoch"))),
    "train_acc": ("train acc", _acc("train")),
    "val_acc": ("val acc", _acc("val")),
    "best_val_acc": ("best val acc", _best_val),
    "test_acc": ("test acc", _acc("test")),
    "test_f1": ("test F1 (macro)", lambda run, m, c: _num((m.get("test") or {}).get("f1_macro"))),
    "test_precision": ("test precision (macro)", lambda run, m, c: _num((m.get("test") or {}).get("precision_macro"))),
    "test_recall": ("test recall (macro)", lambda run, m, c: _num((m.get("test") or {}).get("recall_macro"))),
    "mistaken_for": ("unseen digit -> taken for", lambda run, m, c: ", ".join(
        f"{k}->{v}" for k, v in ((m.get("unseen") or {}).get("mistaken_for") or {}).items()) or "-"),
    "unseen_rejected": ("unseen rejected", lambda run, m, c: _num((m.get("open_set") or {}).get("unseen_rejection_rate"))),
    "known_rejected": ("known rejected", lambda run, m, c: _num((m.get("open_set") or {}).get("known_false_rejection_rate"))),
    "open_method": ("open-set method", _open_method),
    "known_acc": ("known acc (accepted and right)", lambda run, m, c: _num((m.get("open_set") or {}).get("known_accuracy"))),
    "closed_acc": ("closed-set acc", lambda run, m, c: _num((m.get("open_set") or {}).get("closed_set_accuracy"))),
    "unseen_rejected_789": ("unseen 7-9 rejected", _rejected_of(["7", "8", "9"])),
    "open_acc_789": ("open-set acc (known + 7-9)", _open_acc_of(["7", "8", "9"])),
    "validation": ("validation data", lambda run, m, c: m.get("validation", "-")),
    "confusion": ("test confusion matrix", _confusion),
    "diagnostics": ("diagnostics", _diag),
}


def render(runs: List[Path], cols: List[str]) -> str:
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown:
        raise SystemExit(f"make_tables: unknown column {unknown[0]!r}; choose from {', '.join(COLUMNS)}")
    lines = ["| " + " | ".join(COLUMNS[c][0] for c in cols) + " |", "|" + " --- |" * len(cols)]
    for run in runs:
        m, c = _json(run / "metrics.json"), _yaml(run / "config.yaml")
        lines.append("| " + " | ".join(COLUMNS[col][1](run, m, c) for col in cols) + " |")
    if not runs:
        lines.append("| " + " | ".join(["(no completed runs found)"] + [""] * (len(cols) - 1)) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- S2 param counts
def params_s2() -> str:
    """Keras's counts of the study's ResNet50 + Dense(196) and what PyTorch counts of the same net."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from dlhw.config.schema import BackboneModel, UnfreezeConfig
    from dlhw.models.backbones import apply_unfreeze, build_backbone_model, param_breakdown
    from dlhw.models.outputs import OutputSpec

    spec = OutputSpec(196, "softmax", "sparse_categorical_crossentropy", False, "index", "sparse_categorical", 196)
    model = build_backbone_model(BackboneModel(backbone={"name": "resnet50", "weights": None, "pooling": "avg"}),
                                 (224, 224, 3), spec, bn_training=True)
    every = param_breakdown(model)
    apply_unfreeze(model, UnfreezeConfig(from_block="conv5", batch_norm="trainable"))
    d_bn = param_breakdown(model, trainable_only=True)
    d_frozen_bn = dict(d_bn, bn_gamma_beta=0)
    d_frozen_bn["total"] = d_bn["total"] - d_bn["bn_gamma_beta"]
    rows = [
        ("conv kernels", every["conv_kernel"], d_bn["conv_kernel"]),
        ("conv biases (Keras only: torchvision's convs have bias=False)", every["conv_bias"], d_bn["conv_bias"]),
        ("BatchNorm gamma + beta", every["bn_gamma_beta"], d_bn["bn_gamma_beta"]),
        ("BatchNorm moving mean + variance (Keras: non-trainable weights; PyTorch: buffers)",
         every["bn_moving"], d_bn["bn_moving"]),
        ("Dense(196) head: 2048 x 196 + 196", every["dense"], d_bn["dense"]),
        ("**Keras count**", every["total"], d_bn["total"]),
        ("**PyTorch count** (Keras - conv biases - moving statistics)", every["pytorch_equivalent"],
         d_bn["pytorch_equivalent"]),
        ("study's PyTorch figure", 23_909_636, 15_366_340),
        ("dlhw default (BatchNorm frozen while fine-tuning), Keras count", "-", d_frozen_bn["total"]),
    ]
    lines = ["| parameters | (a) all, ResNet50 + Dense(196) | (d) trainable, conv5 + head |", "| --- | --- | --- |"]
    lines += [f"| {name} | {_num(a)} | {_num(b)} |" for name, a, b in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- predictions
def predictions(root: Path, patterns: List[str]) -> str:
    """`dlhw predict --json` outputs (one file per model): the top classes, probability and logit."""
    lines = ["| model | input | #1 | #2 |", "| --- | --- | --- | --- |"]
    for path in [p for pattern in patterns for p in sorted(root.glob(pattern))]:
        try:
            answers = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for a in answers:
            cells = [f"{t['class']} {t['probability']:.3f}" + (f" (logit {t['logit']:.2f})" if "logit" in t else "")
                     for t in a.get("top", [])[:2]]
            lines.append(f"| {path.stem} | {Path(a['input']).name} | " + " | ".join(cells + ["-"] * (2 - len(cells))) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- the report's findings
def _records(root: Path, patterns: List[str]):
    from dlhw.reports.collect import collect

    folders = [p for pattern in patterns for p in sorted(root.glob(pattern)) if p.is_dir()]
    return collect(folders) if folders else []


def groups(root: Path, words: List[str]) -> str:
    """Each group of repeats of the sweeps matching ``words`` (globs; metric=NAME): n, mean ± std, 95% CI."""
    from dlhw.reports.table import build_rows

    metric = next((w[7:] for w in words if w.startswith("metric=")), "test_accuracy")
    records = _records(root, [w for w in words if "=" not in w])
    lines = [f"| group | n | {metric} mean ± std | 95% CI | interval |", "| --- | --- | --- | --- | --- |"]
    for row in build_rows(records, metric) if records else []:
        mean, std = row.values.get(metric, (None, None))
        iv = row.intervals.get(metric)
        label = ", ".join(_group_key(row, k, v) for k, v in row.varied.items()) or row.name
        lines.append(f"| {label} | {row.n} | {_num(mean)}" + (f" ± {_num(std)}" if std is not None else "")
                     + f" | {f'[{_num(iv.low)}, {_num(iv.high)}]' if iv else '-'} | {iv.method if iv else '-'} |")
    if len(lines) == 2:
        lines.append("| (no completed runs found) | | | | |")
    return "\n".join(lines) + "\n"


def _group_key(row, key: str, value: Any) -> str:
    """'kernel=poly'; a varied model.head is drawn as its layers, 'Dense(256) -> BatchNorm -> ...'."""
    from dlhw.reports.table import format_varied

    if key == "model.head" and row.runs:
        run = row.runs[0].path
        return _head(run, _json(run / "metrics.json"), _yaml(run / "config.yaml"))
    return f"{key.rsplit('.', 1)[-1]}={format_varied(value)}"


def claims(root: Path, words: List[str]) -> str:
    """The claims of the sweeps matching ``words`` with their verdicts (dlhw report --check's)."""
    from dlhw.reports.claims import check_claims

    records = _records(root, words)
    results = check_claims(records) if records else []
    lines = ["| claim | verdict | difference | interval | test | p (Holm) | runs |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        if r.diff is None:
            lines.append(f"| {r.claim.text} | **{r.verdict}** | - | - | - | - | {len(r.a)} + {len(r.b)} ({r.reason}) |")
            continue
        lines.append(f"| {r.claim.text} | **{r.verdict}** | {r.diff:+.4f} | {r.level:.0%} [{r.low:+.4f}, {r.high:+.4f}] "
                     f"| {r.method}{'' if r.paired else ', unpaired'} | {r.p_holm:.3g} | {len(r.a)} + {len(r.b)} |")
    if not results:
        lines.append("| (no claims: the sweep was not run, or states none) | | | | | | |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ main
def regenerate(text: str, root: Path) -> str:
    def one(match: re.Match) -> str:
        spec = match.group("spec").strip()
        if spec == "params-s2":
            body = params_s2()
        elif spec.startswith("predictions "):
            body = predictions(root, spec.split()[1:])
        elif spec.startswith("groups "):
            body = groups(root, spec.split()[1:])
        elif spec.startswith("claims "):
            body = claims(root, spec.split()[1:])
        else:
            words = spec.split()
            patterns = [w for w in words if not w.startswith("cols=")]
            cols = next((w[5:] for w in words if w.startswith("cols=")), "run,train_acc,val_acc,test_acc").split(",")
            runs = [r for pattern in patterns for r in find_runs(root, pattern)]
            body = render(runs, [c.strip() for c in cols if c.strip()])
        return match.group(1) + body + match.group(4)

    return MARKER.sub(one, text)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="root of the run folders (default runs/)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a README's tables are out of date")
    ap.add_argument("--experiments", type=Path, default=HERE, help="the folder holding S1/README.md ... (tests)")
    ap.add_argument("studies", nargs="*", default=["S1", "S2", "S3", "S4", "S5"])
    args = ap.parse_args(argv)
    stale = []
    for study in args.studies:
        readme = args.experiments / study / "README.md"
        text = readme.read_text()
        new = regenerate(text, args.runs)
        if new != text:
            stale.append(readme)
            if not args.check:
                readme.write_text(new)
    for r in stale:
        print(f"{'out of date' if args.check else 'updated'}: {r}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
