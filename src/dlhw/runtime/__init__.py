"""The process beneath the runs: TensorFlow start-up, signals, fast exit, folder locks,
atomic file writes, messages (logging: dlhw.runtime.log), the run options
(dlhw.runtime.options), safe model loading and work-arounds for Keras internals.

The lowest layer of dlhw: it imports nothing of dlhw but ``dlhw.errors`` and itself, and
every module-level (process-wide) state of dlhw lives here.
"""
