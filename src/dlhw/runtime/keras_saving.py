"""A work-around for Keras' saving cost on models with many layers.

``keras.src.saving.saving_lib.get_attr_skipset`` memoises the attribute names it
skips per object type under one global key (``saving_attr_skipset_<type>``) but
looks them up under another (``saving_attr_skiplist_<type>``), so the memo never
hits: every layer visited while saving or loading builds a throw-away ``Layer()``
to list its attributes. Saving a DenseNet121 model spends ~0.2 s of its ~0.7 s on
that. :func:`prime` stores the sets under the key Keras reads; their contents are
what Keras itself computes, so the files written are unchanged. Should a Keras
release fix or rename this, priming is skipped (or primes an unused key).
"""

from __future__ import annotations

_TYPES = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")


def prime() -> None:
    """Memoise Keras' per-type attribute skip sets (cleared by clear_session, so call before each save)."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib
    except ImportError:  # pragma: no cover - a Keras without this layout
        return
    for kind in _TYPES:
        key = f"saving_attr_skiplist_{kind}"
        if global_state.get_global_attribute(key, None) is None:
            try:
                global_state.set_global_attribute(key, saving_lib.get_attr_skipset(kind))
            except Exception:  # noqa: BLE001 - a renamed type: Keras computes it as before
                continue

