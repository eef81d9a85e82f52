"""Run folders: their layout (every file name, defined once), creation and atomic writes,
status.json, env.json, history.csv, and resuming an unfinished run."""
