"""Every file a run folder and a sweep folder hold, as a typed record with a ``schema_version``
(pydantic models): one atomic ``write`` and one tolerant ``read`` per record. A damaged or
unknown file raises ``RecordError``, one line naming the file and what is wrong. No other
module parses these files (docs/RUN_FOLDER.md lists them; docs/schemas/ holds their JSON Schemas,
generated from these classes by ``dlhw schema --records``).

- base.py   Record, RecordError, RecordMissing
- run.py    StatusRecord (status.json), MetricsRecord (metrics.json), EnvRecord (env.json),
            MlflowRecord (mlflow.json), HistoryRow (history.csv); read_status, read_metrics
- sweep.py  SweepManifest and TrialEntry (sweep.json), SweepLogHeader and SweepLogEvent
            (sweep.jsonl); read_manifest
"""

from dlhw.rundir.records.base import Record, RecordError, RecordMissing
from dlhw.rundir.records.run import (EnvRecord, HistoryRow, MetricsRecord, MlflowRecord, StatusRecord,
                                     read_metrics, read_status)
from dlhw.rundir.records.sweep import (SweepLogEvent, SweepLogHeader, SweepManifest, TrialEntry, count_statuses,
                                       read_manifest, read_manifest_optional)

# every record with a file of its own, by the name of its JSON Schema in docs/schemas/
FILE_RECORDS = {"status": StatusRecord, "metrics": MetricsRecord, "env": EnvRecord, "mlflow": MlflowRecord,
                "sweep": SweepManifest}

__all__ = ["Record", "RecordError", "RecordMissing", "StatusRecord", "MetricsRecord", "EnvRecord", "MlflowRecord",
           "HistoryRow", "SweepManifest", "TrialEntry", "SweepLogHeader", "SweepLogEvent", "read_status",
           "read_metrics", "read_manifest", "read_manifest_optional", "count_statuses", "FILE_RECORDS"]
