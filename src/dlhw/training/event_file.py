"""TensorBoard event files written in the training thread, with no thread of their own.

An event file is a TFRecord file of serialised ``Event`` protocol buffers, the first
saying the file version. TensorBoard's ``EventFileWriter`` hands each event to a
background thread that writes it through ``tf.io.gfile``: on a 2-core machine that
thread's wake-ups cost a 50-epoch head search ~4% of its training time. Here each
event goes into TensorFlow's own ``TFRecordWriter`` buffer (a C++ call of a few
microseconds) and reaches the file at most every ``FLUSH_SECONDS`` and when the
stage ends, so TensorBoard, which re-reads the logs every few seconds, still shows
training as it goes.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

FLUSH_SECONDS = 2.0


class EventFile:
    """One events.out.tfevents.* file in ``folder`` (created)."""

    def __init__(self, folder: Path):
        import tensorflow as tf
        from tensorboard.compat.proto import event_pb2

        from dlhw.runtime.files import ensure_dir

        folder = ensure_dir(Path(folder))  # never a link planted as tb/
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
                f"{uuid.uuid4().hex[:8]}")
        self.path = folder / name
        self._writer = tf.io.TFRecordWriter(str(self.path))
        self._flushed = time.monotonic()
        self.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def write(self, event) -> None:
        self._writer.write(event.SerializeToString())
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._writer.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        self._writer.close()
