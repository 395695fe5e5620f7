"""kftune: hyperparameter tuning as a Kubeflow Pipelines step.

Importing kftune is cheap: TensorFlow/Keras load only when a search or a model is run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kftune.errors import (
    DataError,
    KftuneError,
    LockError,
    MissingExtraError,
    ModelRefError,
    ResumeError,
    SpecError,
    StorageError,
)
from kftune.spec import TuningSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "KftuneError",
    "LockError",
    "MissingExtraError",
    "ModelRefError",
    "ResumeError",
    "SpecError",
    "StorageError",
    "TuningResult",
    "TuningSpec",
    "__version__",
    "load_spec",
    "train_final",
    "tune",
]

if TYPE_CHECKING:
    from kftune.engine import TuningResult, tune
    from kftune.final import train_final


def __getattr__(name: str) -> Any:
    if name in ("tune", "TuningResult"):
        from kftune import engine

        return getattr(engine, name)
    if name == "train_final":
        from kftune.final import train_final

        return train_final
    raise AttributeError(f"module 'kftune' has no attribute {name!r}")
