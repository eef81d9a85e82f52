"""sweep.json plus its append-only log, sweep.jsonl: O(1) bookkeeping per finished trial.

While a sweep runs, each trial event (queued, finished, interrupted) appends one JSON line to
sweep.jsonl instead of rewriting sweep.json, whose size grows with the number of trials. The
log's first line names the sweep.json it extends (its inode, mtime and size), so a log left
over from an older sweep.json is never replayed onto a newer one. sweep.json is rewritten
whole (compacted, the log removed) when a sweep starts and when it ends.

Readers (``dlhw report``, the Python API's Sweep) call :func:`read_manifest`: sweep.json with
the log's events applied, the same dict sweep.json would hold had it been rewritten after
every event. No imports from above dlhw.rundir: any layer may read a sweep folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.rundir import layout


def _stamp(st: os.stat_result) -> List[int]:
    return [int(st.st_ino), int(st.st_mtime_ns), int(st.st_size)]


def manifest_stamp(sweep_dir: Path) -> Optional[List[int]]:
    """What identifies the current sweep.json (None when there is none)."""
    try:
        return _stamp(os.stat(Path(sweep_dir) / layout.SWEEP_MANIFEST))
    except OSError:
        return None


def start_log(sweep_dir: Path, base: List[int]) -> None:
    """A fresh sweep.jsonl extending the sweep.json identified by ``base``."""
    from dlhw.runtime.files import write_text

    write_text(Path(sweep_dir) / layout.SWEEP_LOG, json.dumps({"base": base}) + "\n")


def append_event(sweep_dir: Path, trial: str, fields: Dict[str, Any], at: str) -> None:
    """One line: trial ``trial``'s entry gets ``fields`` (at time ``at``). Appends are single
    writes of one line, flushed on close: a reader sees whole lines (a torn last line is skipped)."""
    line = json.dumps({"trial": trial, "set": fields, "at": at}, default=str) + "\n"
    from dlhw.runtime.files import open_append

    with open_append(Path(sweep_dir) / layout.SWEEP_LOG) as fh:  # never through a link
        fh.write(line)


def drop_log(sweep_dir: Path) -> None:
    try:
        (Path(sweep_dir) / layout.SWEEP_LOG).unlink()
    except OSError:
        pass


def count_statuses(trials: List[Dict[str, Any]]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for e in trials:
        counts[e.get("status")] = counts.get(e.get("status"), 0) + 1
    return counts


def read_manifest(sweep_dir: Path) -> Optional[Dict[str, Any]]:
    """sweep.json with sweep.jsonl's events applied (None: no readable sweep.json)."""
    path = Path(sweep_dir) / layout.SWEEP_MANIFEST
    try:
        with open(path, "rb") as fh:
            stamp = _stamp(os.fstat(fh.fileno()))
            data = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    events = _events(Path(sweep_dir) / layout.SWEEP_LOG, stamp)
    if events:
        by_name = {e.get("name"): e for e in data.get("trials", []) if isinstance(e, dict)}
        for ev in events:
            entry = by_name.get(ev.get("trial"))
            if entry is not None and isinstance(ev.get("set"), dict):
                entry.update(ev["set"])
            if ev.get("at"):
                data["updated"] = ev["at"]
        data["counts"] = count_statuses(list(by_name.values()))
    return data


def _events(log: Path, stamp: List[int]) -> List[Dict[str, Any]]:
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out: List[Dict[str, Any]] = []
    for i, line in enumerate(lines):
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a torn last line (the writer was killed mid-append)
        if i == 0:
            if not isinstance(item, dict) or item.get("base") != stamp:
                return []  # a log from an older sweep.json: already compacted into this one
            continue
        if isinstance(item, dict):
            out.append(item)
    return out
