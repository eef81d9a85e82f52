"""claims: in a sweep file: validated before training, judged by dlhw report --check, drawn in report.html."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.reports import make_report
from tests.conftest import REPO

runner = CliRunner()
FIXTURE = REPO / "tests" / "fixtures" / "claims_tiny"
BASE = {"name": "tiny", "seed": 0, "dataset": {"source": "sklearn", "name": "digits", "max_samples": 300},
        "model": {"type": "mlp", "layers": [{"units": 16}]},
        "training": {"epochs": 2, "batch_size": 32, "tensorboard": False, "checkpoint": False,
                     "optimizer": {"type": "adam", "learning_rate": 0.01}}}
LR = "training.optimizer.learning_rate"
TRUE = {"better": {LR: 0.01}, "than": {LR: 0.000001}, "metric": "val_accuracy"}
FALSE = {"better": {LR: 0.000001}, "than": {LR: 0.01}, "metric": "val_accuracy"}


def sweep_file(path: Path, claims: list, grid=(0.01, 0.000001), repeats: int = 3) -> Path:
    path.write_text(yaml.safe_dump({**BASE, "grid": {LR: list(grid)}, "repeats": repeats, "claims": claims}))
    return path


@pytest.fixture
def fixture_sweep(tmp_path) -> Path:
    """The committed tiny sweep (3 learning rates x 3 seeds, trained by dlhw) with its three claims."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "claims_tiny"))


def test_true_false_and_overlapping_claims_give_held_refuted_inconclusive(fixture_sweep):
    rep = make_report([fixture_sweep])
    verdicts = [r.verdict for r in rep.claims]
    assert verdicts == ["held", "refuted", "inconclusive"]
    held, refuted, unsure = rep.claims
    assert held.paired and held.low > 0 and held.p_holm < 0.05 and len(held.a) == len(held.b) == 3
    assert refuted.high < 0
    assert unsure.low < 0.001 < unsure.high or unsure.low < -0.001 < unsure.high  # straddles the margin
    assert unsure.level == pytest.approx(0.90) and unsure.method.startswith("TOST")
    # Holm over 3 claims: the smallest raw p-value is multiplied by 3
    assert held.p_holm == pytest.approx(min(1.0, 3 * held.p))


def test_check_exits_1_on_a_refuted_claim_and_strict_on_an_inconclusive_one(fixture_sweep, tmp_path):
    r = runner.invoke(app, ["report", str(fixture_sweep), "--check", "-q", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.output.splitlines() if ln.split(" ")[0] in ("HELD", "REFUTED", "INCONCLUSIVE")]
    assert [ln.split()[0] for ln in lines] == ["HELD", "REFUTED", "INCONCLUSIVE"]
    assert "claims: 1 held, 1 refuted, 1 inconclusive" in r.output
    import json

    manifest = fixture_sweep / "sweep.json"
    data = json.loads(manifest.read_text())
    data["claims"] = [c for c in data["claims"] if c["index"] != 1]  # the false claim removed
    manifest.write_text(json.dumps(data))
    r = runner.invoke(app, ["report", str(fixture_sweep), "--check", "-q", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["report", str(fixture_sweep), "--check", "--strict", "-q", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 1 and "INCONCLUSIVE" in r.output


def test_a_trained_sweep_with_a_true_and_a_false_claim(tmp_path):
    """The user's path: claims in the sweep file, dlhw sweep, dlhw report --check; then the false claim
    removed from the file and the sweep run again (its trials are done: skipped) -> exit 0."""
    f = sweep_file(tmp_path / "lr.yaml", [TRUE, FALSE])
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["report", str(out / "lr"), "--check", "-q"])
    assert r.exit_code == 1, r.output
    assert r.output.count("HELD ") == 1 and r.output.count("REFUTED ") == 1
    sweep_file(f, [TRUE])
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["report", str(out / "lr"), "--check", "-q"])
    assert r.exit_code == 0, r.output
    assert "claims: 1 held, 0 refuted, 0 inconclusive" in r.output


@pytest.mark.parametrize("claim, words", [
    ({"better": {"training.optimiser.learning_rate": 0.01}, "than": {LR: 0.000001}, "metric": "val_accuracy"},
     ["claims[0]", "'training.optimiser.learning_rate'", "no trial"]),
    ({"better": {LR: 0.5}, "than": {LR: 0.01}, "metric": "val_accuracy"}, ["claims[0]", LR, "0.5"]),
    ({"same": {LR: [0.01, 0.000001]}, "metric": "val_accuracy"}, ["claims[0].within"]),
    ({"better": {LR: 0.01}, "metric": "val_accuracy"}, ["claims[0]", "than:"]),
])
def test_a_bad_claim_is_exit_2_before_anything_trains(tmp_path, claim, words):
    f = sweep_file(tmp_path / "bad.yaml", [claim])
    out = tmp_path / "runs"
    r = runner.invoke(app, ["sweep", "--workers", "1", str(f), "--out", str(out), "-q"])
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert all(w in r.output for w in words), r.output
    assert not out.exists()  # nothing written, nothing trained


def test_the_report_page_has_a_claims_section_with_every_run_and_escaped_text(fixture_sweep, tmp_path):
    import json

    manifest = fixture_sweep / "sweep.json"
    data = json.loads(manifest.read_text())
    data["claims"][0]["name"] = "<script>alert(1)</script> wins"
    manifest.write_text(json.dumps(data))
    rep = make_report([fixture_sweep], tmp_path / "rep")
    page = (rep.out / "report.html").read_text()
    assert page.index('id="claims"') < page.index('id="runs-table"')
    assert "<script>alert(1)</script> wins" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; wins" in page
    assert page.count('class="claim-strip"') == 3
    assert page.count('<circle class="run"') == 3 * 6  # every seed of both sides of each claim
    assert page.count('<line class="ci"') == 6
