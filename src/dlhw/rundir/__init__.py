"""Run folders: their layout (every file name, defined once), creation and clearing,
status.json, env.json, history.csv, the checkpoint file, and resuming an unfinished run.
(Files are written atomically through dlhw.runtime.files.)"""
