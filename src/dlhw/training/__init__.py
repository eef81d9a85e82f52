"""Training: optimizers registry, callbacks and the stage-aware Trainer."""
