"""dlhw: a configurable experiment runner for Keras studies.

The Python API (dlhw.api), for notebooks and scripts::

    import dlhw                       # light: TensorFlow, Keras, pandas load when a call needs them
    run = dlhw.run("configs/quickstart.yaml", overrides={"training.epochs": 5}, out="runs")
    sweep = dlhw.sweep("configs/mlp_optimizers", workers=2)
    dlhw.load("runs/quickstart"), dlhw.report("runs/mlp_optimizers")
"""

import sys as _sys
import types as _types

from dlhw.errors import ConfigError, DataError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "Run", "Sweep", "load", "report", "run", "sweep"]

_API = ("run", "load", "Run", "Sweep")


def __getattr__(name: str):
    if name in _API:
        import dlhw.api

        return getattr(dlhw.api, name)
    if name in _CALLABLE:  # dlhw.sweep / dlhw.report before their package was imported
        import importlib

        return importlib.import_module(f"dlhw.{name}")
    raise AttributeError(f"module 'dlhw' has no attribute '{name}'")


# `dlhw.sweep(...)` and `dlhw.report(...)` share their names with the packages dlhw/sweep/ and
# dlhw/report/, which the import system sets as attributes of this module whenever they are
# imported. So those two package modules are made callable: calling one calls the API function,
# and `dlhw.sweep.build_plan`, `import dlhw.report.table` and the like work as before.
class _CallablePackage(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        import dlhw.api

        return getattr(dlhw.api, self.__name__.rpartition(".")[2])(*args, **kwargs)


_CALLABLE = ("sweep", "report")


class _Dlhw(_types.ModuleType):
    def __setattr__(self, name, value):
        if name in _CALLABLE and type(value) is _types.ModuleType:
            value.__class__ = _CallablePackage
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Dlhw
