"""sweep.json plus its append-only log, sweep.jsonl: O(1) bookkeeping per finished trial.

While a sweep runs, each trial event (queued, finished, interrupted) appends one JSON line to
sweep.jsonl instead of rewriting sweep.json, whose size grows with the number of trials. The
log's first line names the sweep.json it extends (its inode, mtime and size), so a log left
over from an older sweep.json is never replayed onto a newer one. sweep.json is rewritten
whole (compacted, the log removed) when a sweep starts and when it ends.

The lines and the manifest are records (dlhw.rundir.records.sweep: SweepLogHeader,
SweepLogEvent, SweepManifest); readers call ``dlhw.rundir.records.read_manifest`` (typed) or
:func:`read_manifest` here (the same, as the dict sweep.json would hold had it been rewritten
after every event). No imports from above dlhw.rundir: any layer may read a sweep folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.rundir import layout
from dlhw.rundir.records import RecordError, count_statuses, read_manifest_optional
from dlhw.rundir.records.sweep import event_line, header_line, stamp_of

__all__ = ["manifest_stamp", "start_log", "append_event", "drop_log", "count_statuses", "read_manifest"]


def manifest_stamp(sweep_dir: Path) -> Optional[List[int]]:
    """What identifies the current sweep.json (None when there is none)."""
    try:
        return stamp_of(os.stat(Path(sweep_dir) / layout.SWEEP_MANIFEST))
    except OSError:
        return None


def start_log(sweep_dir: Path, base: List[int]) -> None:
    """A fresh sweep.jsonl extending the sweep.json identified by ``base``."""
    from dlhw.runtime.files import write_text

    write_text(Path(sweep_dir) / layout.SWEEP_LOG, header_line(base))


def append_event(sweep_dir: Path, trial: str, fields: Dict[str, Any], at: str) -> None:
    """One line: trial ``trial``'s entry gets ``fields`` (at time ``at``). Appends are single
    writes of one line, flushed on close: a reader sees whole lines (a torn last line is skipped)."""
    line = event_line(trial, fields, at)
    from dlhw.runtime.files import open_append

    with open_append(Path(sweep_dir) / layout.SWEEP_LOG) as fh:  # never through a link
        fh.write(line)


def drop_log(sweep_dir: Path) -> None:
    try:
        (Path(sweep_dir) / layout.SWEEP_LOG).unlink()
    except OSError:
        pass


def read_manifest(sweep_dir: Path) -> Optional[Dict[str, Any]]:
    """sweep.json with sweep.jsonl's events applied, as a dict (None: no sweep.json, or a damaged
    one: readers that must say so call dlhw.rundir.records.read_manifest, which raises RecordError)."""
    try:
        manifest = read_manifest_optional(sweep_dir)
    except RecordError:
        return None
    return manifest.plain() if manifest is not None else None
