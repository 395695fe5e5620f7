"""Keep memory flat across hundreds of trials in one process.

Two TensorFlow facts make a long search grow: Keras' train step registers a custom gradient per trace
in TensorFlow's global registry and never removes it (each pins a whole trial's graph), and
keras-tuner runs two full garbage collections per build over a heap that holds TensorFlow itself.
Measured in docs/benchmarks-overhead.md.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from typing import Iterator


def custom_gradient_names() -> set[str] | None:
    """Names in TensorFlow's gradient registry now (None on other Keras backends)."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return None
    try:
        from tensorflow.python.framework import ops
    except ImportError:
        return None
    return set(ops._gradient_registry._registry)


def release_custom_gradients(baseline: set[str] | None) -> None:
    """Drop gradient functions the previous trial's traces registered.

    Every trace of Keras' train step registers a ``CustomGradient-<uid>`` function in TensorFlow's
    global gradient registry and never removes it; the closure pins that trial's whole FuncGraph,
    so memory grew ~4-7 MB per trial (docs/benchmarks.md). After ``clear_session`` no graph of an
    earlier trial is used again, so their entries can go.
    """
    if baseline is None:
        return
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    for name in [n for n in registry if n.startswith("CustomGradient-") and n not in baseline]:
        del registry[name]


def release_previous_trial(baseline: set[str] | None) -> None:
    """One clear_session and one collection per build (keras-tuner's own build runs two collections)."""
    import keras

    keras.backend.clear_session(free_memory=False)
    release_custom_gradients(baseline)
    gc.collect()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Move everything alive now (TensorFlow's modules, the data) out of the collector's sight, so the
    per-trial collection that frees the last model scans only what trials allocate."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
