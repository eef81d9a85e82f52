"""Copies of runs in the tools users already have: MLflow (:mod:`dlhw.tracking.mlflow`), Weights &
Biases (:mod:`dlhw.tracking.wandb`, :mod:`dlhw.tracking.wandb_run`) and TensorBoard's HParams view of
a sweep (:mod:`dlhw.tracking.hparams`); :mod:`dlhw.tracking.trackers` starts a run's trackers as one.

The run folder is the record; tracking is a copy. Nothing here ever fails a run once it
has started: an unreachable server is one warning, and the run goes on.

Layering: above rundir and training (it reads run folders and writes TensorBoard protos),
below orchestration and sweeps (which call it). No heavy imports at module level.
"""
