"""dlhw: a configurable experiment runner for Keras studies.

The Python API (dlhw.api), for notebooks and scripts::

    import dlhw                       # light: TensorFlow, Keras, pandas load when a call needs them
    run = dlhw.run("configs/quickstart.yaml", overrides={"training.epochs": 5}, out="runs")
    sweep = dlhw.sweep("configs/mlp_optimizers", workers=2)
    dlhw.load("runs/quickstart"), dlhw.report("runs/mlp_optimizers")
    dlhw.summary("configs/s3_conv1d.yaml")  # layers and parameter counts, nothing trained

The packages beneath are named apart from these functions (dlhw.sweeps, dlhw.reports), so
``dlhw.sweep`` and ``dlhw.report`` are always the functions.
"""

from dlhw.errors import ConfigError, DataError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "Run", "Sweep", "load", "report", "run", "summary", "sweep"]

_API = ("run", "sweep", "load", "report", "summary", "Run", "Sweep")


def __getattr__(name: str):
    if name in _API:
        import dlhw.api

        value = getattr(dlhw.api, name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'dlhw' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(_API))
