"""Every file a run folder and a sweep folder hold, as a typed record with a ``schema_version``
(pydantic models): one atomic ``write`` and one tolerant ``read`` per record. A damaged or
unknown file raises ``RecordError``, one line naming the file and what is wrong. No other
module parses these files (docs/RUN_FOLDER.md lists them; docs/schemas/ holds their JSON
Schemas, generated from these classes by ``dlhw schema --records``).

- base.py   Record, RecordError, RecordMissing
- run.py    StatusRecord (status.json), MetricsRecord (metrics.json), EnvRecord (env.json),
            MlflowRecord (mlflow.json), WandbRecord (wandb.json), PreprocessingRecord (preprocessing.json), HistoryRow
            (a history.csv row); read_status, read_metrics, settled_status, write_metrics, write_env
- sweep.py  SweepManifest and TrialEntry (sweep.json), SweepLogHeader and SweepLogEvent
            (sweep.jsonl's lines); read_manifest
- search.py StudyDefinition (study.json), TrialRecord (a search trial's trial.json), PbtState (pbt.json)
- slurm.py  SlurmTrialRecord (RUN/slurm.json), SlurmSweepRecord (SWEEP/slurm.json)
"""


from dlhw.rundir.records.base import Record, RecordError, RecordMissing
from dlhw.rundir.records.run import (
    NO_METRICS,
    EnvRecord,
    HistoryRow,
    MetricsRecord,
    MlflowRecord,
    PreprocessingRecord,
    StatusRecord,
    WandbRecord,
    read_metrics,
    read_status,
    settled_status,
    status_word,
    write_env,
    write_metrics,
)
from dlhw.rundir.records.search import PbtState, StudyDefinition, TrialRecord
from dlhw.rundir.records.slurm import SlurmSweepRecord, SlurmTrialRecord
from dlhw.rundir.records.sweep import (
    SweepLogEvent,
    SweepLogHeader,
    SweepManifest,
    TrialEntry,
    count_statuses,
    manifest_entries,
    read_manifest,
    read_manifest_optional,
)

# every record with a file of its own, by the name of its JSON Schema in docs/schemas/ (<name>.schema.json)
FILE_RECORDS: dict[str, type[Record]] = {
    "status": StatusRecord, "metrics": MetricsRecord, "env": EnvRecord, "mlflow": MlflowRecord, "wandb": WandbRecord,
    "preprocessing": PreprocessingRecord, "sweep": SweepManifest, "slurm_trial": SlurmTrialRecord,
    "slurm_sweep": SlurmSweepRecord, "study": StudyDefinition, "trial": TrialRecord, "pbt": PbtState,
}

__all__ = [
    "FILE_RECORDS",
    "NO_METRICS",
    "EnvRecord",
    "HistoryRow",
    "MetricsRecord",
    "MlflowRecord",
    "PreprocessingRecord",
    "Record",
    "RecordError",
    "RecordMissing",
    "SlurmSweepRecord",
    "SlurmTrialRecord",
    "StatusRecord",
    "SweepLogEvent",
    "SweepLogHeader",
    "SweepManifest",
    "TrialEntry",
    "WandbRecord",
    "count_statuses",
    "manifest_entries",
    "read_manifest",
    "read_manifest_optional",
    "read_metrics",
    "read_status",
    "settled_status",
    "status_word",
    "write_env",
    "write_metrics",
]
