"""TensorBoard's HParams view of a sweep: ``tensorboard --logdir runs/<sweep>``.

The HParams plugin reads two kinds of summaries:

- a *session* per trial, in the trial's ``tb/`` folder (next to its epoch scalars in
  ``tb/train`` and ``tb/validation``): the trial's varied values (``session_start_info``),
  its final figures from metrics.json as scalars (``test_accuracy``, ``val_loss``, ...,
  the same names as the MLflow copy: dlhw.tracking.mlflow.final_metrics) and how it ended
  (``session_end_info``). Repeats of one trial share a group (mean over seeds);
- the *experiment*, in the sweep folder itself: every varied key with the values the
  sweep gives it, and every final metric the trials have so far.

Both are rewritten as trials finish (the sweep's parent process writes them, one small
file each, atomically, named ``events.out.tfevents.*.dlhw-hparams``; the previous one
is replaced), so TensorBoard shows the table and the parallel-coordinates view while the
sweep runs. Trials with ``training.tensorboard: false`` get none (and a sweep where no
trial writes TensorBoard logs writes no experiment either). Values that are not a number, a bool or a string (a list of layers) are
shown as compact JSON text. Plain protocol buffers and TensorBoard's own record writer:
no TensorFlow import.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from dlhw.rundir import layout
from dlhw.rundir.states import Status
from dlhw.runtime.log import get_logger

logger = get_logger(__name__)

def hparams_status(state: object) -> str:
    """The TensorBoard HParams session status for a dlhw status (interrupted, pruned...: STATUS_UNKNOWN)."""
    s = Status.parse(state)
    return ("STATUS_SUCCESS" if s.succeeded else "STATUS_FAILURE" if s.failure
            else "STATUS_RUNNING" if s is Status.RUNNING else "STATUS_UNKNOWN")


def _kind(values: List[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "bool"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return "number"
    return "string"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _set_value(target, kind: str, value: Any) -> None:
    """Put ``value`` into a google.protobuf Value as ``kind``."""
    if kind == "bool":
        target.bool_value = bool(value)
    elif kind == "number":
        target.number_value = float(value)
    else:
        target.string_value = _text(value)


def _write_events(folder: Path, summaries: List[Any], step: int = 0) -> Path:
    """One event file in ``folder`` holding ``summaries``, replacing the previous one dlhw wrote there."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    from dlhw.runtime.files import ensure_dir, write_bytes

    ensure_dir(folder)
    old = [p for p in folder.iterdir() if p.name.startswith("events.out.tfevents.")
           and p.name.endswith(layout.HPARAMS_SUFFIX)]
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    now = time.time()
    writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
    for summary in summaries:
        writer.write(event_pb2.Event(wall_time=now, step=step, summary=summary).SerializeToString())
    path = folder / (f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}.{os.getpid()}"
                     f"{layout.HPARAMS_SUFFIX}")
    write_bytes(path, buf.getvalue())
    for p in old:
        if p != path:
            p.unlink(missing_ok=True)
    return path


def _plugin_summary(tag: str, data):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import metadata

    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR)])


class HParamsLog:
    """A sweep's HParams summaries (see the module doc): ``add(trial)`` for each trial planned,
    ``trial(...)`` as each one ends. ``kinds``: dotted key -> bool / number / string;
    ``domains``: dotted key -> the list of its values, or (low, high) for a search range."""

    def __init__(self, sweep_dir: Path, kinds: Dict[str, str], domains: Dict[str, Any]):
        self.sweep_dir = Path(sweep_dir)
        self.kinds = kinds
        self.domains = domains
        self.by_name: Dict[str, Any] = {}
        self.metrics: Dict[str, None] = {}  # every final metric seen, in order

    @classmethod
    def for_plan(cls, plan, sweep_dir: Path) -> "HParamsLog":
        """A grid or folder sweep: every trial known up front."""
        kinds = {k: _kind([t.varied.get(k) for t in plan.trials]) for k in plan.varied_keys}
        domains: Dict[str, List[Any]] = {k: [] for k in kinds}
        for k, kind in kinds.items():
            for t in plan.trials:
                v = t.varied.get(k)
                v = _text(v) if kind == "string" else v
                if v not in domains[k]:
                    domains[k].append(v)
        log = cls(sweep_dir, kinds, domains)
        for t in plan.trials:
            log.add(t)
        return log

    @classmethod
    def for_search(cls, plan, sweep_dir: Path) -> "HParamsLog":
        """A search (dlhw.sweeps.search): its space says each key's kind and domain; trials are
        added as the study asks for them."""
        kinds: Dict[str, str] = {}
        domains: Dict[str, Any] = {}
        for p in plan.params:
            if p.kind == "categorical":
                kinds[p.key] = _kind(list(p.choices))
                domains[p.key] = [_text(c) if kinds[p.key] == "string" else c for c in p.choices]
            else:
                kinds[p.key], domains[p.key] = "number", (float(p.low), float(p.high))
        return cls(sweep_dir, kinds, domains)

    def add(self, trial) -> None:
        """A trial to show (not with ``training.tensorboard: false``: that trial writes no logs)."""
        if trial.cfg.training.tensorboard:
            self.by_name[trial.name] = trial

    def trial(self, name: str, run_dir: Path, status: str) -> None:
        """Write the session of trial ``name`` (its folder ``run_dir``, how it ended), then the
        experiment again with any new metric. Never raises: TensorBoard's view is a copy."""
        try:
            self._trial(name, Path(run_dir), status)
            self.write_experiment()
        except Exception as exc:  # noqa: BLE001 - a failed write of a view never stops the sweep
            logger.warning(f"{run_dir}: TensorBoard HParams summary not written ({' '.join(str(exc).split())[:200]})")

    def _trial(self, name: str, run_dir: Path, status: str) -> None:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

        from dlhw.rundir.records import read_metrics
        from dlhw.tracking.mlflow import final_metrics

        t = self.by_name.get(name)
        if t is None or not run_dir.is_dir():
            return
        start = plugin_data_pb2.SessionStartInfo(group_name=t.group, start_time_secs=time.time())
        for key, kind in self.kinds.items():
            _set_value(start.hparams[key], kind, t.varied.get(key))
        metrics = read_metrics(run_dir, tolerant=True) or {}
        finals = final_metrics(metrics) if Status.parse(status).succeeded else {}
        for k in finals:
            self.metrics.setdefault(k)
        end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value(hparams_status(status)),
                                             end_time_secs=time.time())
        from tensorboard.plugins.hparams import metadata

        summaries = [
            _plugin_summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)),
            summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in finals.items()]),
            _plugin_summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)),
        ]
        _write_events(run_dir / layout.TENSORBOARD, summaries, step=int(metrics.get("epochs_run") or 0))

    def write_experiment(self) -> Optional[Path]:
        """The sweep folder's experiment summary: the varied keys, their values, the metrics."""
        from google.protobuf import struct_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        if not self.kinds or not self.by_name:
            return None
        types = {"bool": api_pb2.DATA_TYPE_BOOL, "number": api_pb2.DATA_TYPE_FLOAT64,
                 "string": api_pb2.DATA_TYPE_STRING}
        infos = []
        for key, kind in self.kinds.items():
            values = self.domains.get(key)
            if isinstance(values, tuple):  # a search range
                infos.append(api_pb2.HParamInfo(name=key, type=types[kind], domain_interval=api_pb2.Interval(
                    min_value=values[0], max_value=values[1])))
                continue
            domain = struct_pb2.ListValue()
            for v in values or []:
                _set_value(domain.values.add(), kind, v)
            infos.append(api_pb2.HParamInfo(name=key, type=types[kind], domain_discrete=domain))
        metric_infos = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k), display_name=k) for k in self.metrics]
        experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metric_infos,
                                        time_created_secs=time.time())
        return _write_events(self.sweep_dir, [_plugin_summary(
            metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment))])
