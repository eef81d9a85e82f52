"""Loading files a user may have been handed: ``.keras`` models in Keras safe mode only.

A ``.keras`` file can carry Python code (a ``Lambda`` layer holding a lambda's
bytecode). Keras refuses to deserialise such code in safe mode; dlhw always
loads with ``safe_mode=True`` and turns the refusal into one line naming the file.
Configs are read with a yaml SafeLoader (dlhw.config.loader); numpy arrays with
``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path

from dlhw.errors import ConfigError


def load_keras_model(path: str | Path, key: str = "model"):
    """``keras.saving.load_model(path, safe_mode=True, compile=False)`` with one-line errors."""
    import keras

    from dlhw.runtime.files import kind_problem

    path = Path(path)
    problem = kind_problem(path)
    if problem:
        raise ConfigError(f"{key}: {path} {problem}")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "arbitrary code" in str(exc):
            raise ConfigError(f"{key}: {path} holds Python code (e.g. a Lambda layer); dlhw loads .keras files in "
                              f"Keras safe mode and refuses to run code from a model file") from None
        raise ConfigError(f"{key}: {path} is not a loadable Keras model ({str(exc).splitlines()[0][:200]})") from None
    except (OSError, KeyError) as exc:
        raise ConfigError(f"{key}: {path} is not a readable .keras file ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
