"""Run folders: their layout (every file name, defined once), creation and clearing, the typed
records of the files a run folder and a sweep folder hold (records/: status.json, metrics.json,
env.json, mlflow.json, preprocessing.json, sweep.json, sweep.jsonl), the one status vocabulary
(states.Status), history.csv, the checkpoint file, and resuming an unfinished run.
(Files are written atomically through dlhw.runtime.files.)"""
