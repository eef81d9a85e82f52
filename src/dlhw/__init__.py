"""dlhw: a configurable experiment runner for Keras studies."""

__version__ = "0.1.0"
