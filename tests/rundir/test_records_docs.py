"""The JSON Schemas in docs/schemas/ and the record section of docs/RUN_FOLDER.md are what the
records generate (so code, files and docs cannot disagree), and the files dlhw writes validate
against them."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from dlhw.cli import app
from dlhw.rundir.records import FILE_RECORDS, read_manifest
from dlhw.rundir.records.docs import (
    dumps,
    record_schemas,
    record_section,
    replace_section,
)
from dlhw.rundir.states import Status
from tests.conftest import REPO

SCHEMAS = REPO / "docs" / "schemas"
DOC = REPO / "docs" / "RUN_FOLDER.md"
FIXTURES = REPO / "tests" / "fixtures" / "folders"
REGEN = "regenerate: dlhw schema --records --out docs/schemas"


def test_committed_schemas_are_what_the_records_generate():
    generated = record_schemas()
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(generated), REGEN
    for name, schema in generated.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == dumps(schema), f"{name} is stale; {REGEN}"
        Draft202012Validator.check_schema(schema)


def test_the_run_folder_doc_section_is_what_the_records_generate():
    text = DOC.read_text(encoding="utf-8")
    assert record_section() in text, ("docs/RUN_FOLDER.md is stale; regenerate: python -c \"from "
                                      "dlhw.rundir.records.docs import write_run_folder_doc; "
                                      "write_run_folder_doc('docs/RUN_FOLDER.md')\"")
    assert replace_section(text) == text
    for s in Status:
        assert f"| `{s.value}` |" in text
    for rec in FILE_RECORDS.values():
        assert f"### {rec.FILE} " in text and all(f"| `{k}` |" in text for k in rec.model_fields)


@pytest.mark.parametrize("name", sorted(FILE_RECORDS))
def test_files_the_release_wrote_validate_once_migrated(name):
    record = FILE_RECORDS[name]
    validator = Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text()))
    folders = [FIXTURES / "run_v0"] if name != "sweep" else [FIXTURES / "sweep_v0"]
    for folder in folders:
        path = folder / record.FILE
        if not path.exists() and any(f.is_required() for f in record.model_fields.values()):
            continue  # study.json, trial.json: the release before records wrote none (no search kept them)
        if not path.exists():  # mlflow.json: the fixtures were not tracked
            data = record.build({}).to_dict()
        elif name == "sweep":
            data = read_manifest(folder).to_dict()
        else:
            data = record.read(path).to_dict()
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
        assert problems == []
    bad = {"schema_version": 1, "status": 3} if name == "status" else {"schema_version": "x"}
    assert list(validator.iter_errors(bad))


def test_schema_command_prints_and_writes_the_record_schemas(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["schema", "--records"])
    assert res.exit_code == 0 and sorted(json.loads(res.output)) == sorted(record_schemas())
    res = runner.invoke(app, ["schema", "--records", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0 and f"wrote {len(record_schemas())} record schemas" in res.output
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(record_schemas())
    (tmp_path / "f.json").write_text("{}")
    res = runner.invoke(app, ["schema", "--records", "--out", str(tmp_path / "f.json")])
    assert res.exit_code == 2 and "with --records give a folder" in res.output
