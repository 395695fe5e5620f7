"""kftune: hyperparameter tuning as a Kubeflow Pipelines step.

Importing kftune is cheap: TensorFlow/Keras load only when a search or a model is run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kftune import errors
from kftune.errors import *  # noqa: F403 (every error type: errors.__all__)
from kftune.spec import TuningSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    *errors.__all__,
    "TuningResult",
    "TuningSpec",
    "__version__",
    "load_spec",
    "train_final",
    "tune",
]

if TYPE_CHECKING:
    from kftune.run.entry import tune
    from kftune.run.record import TuningResult
    from kftune.final import train_final


def __getattr__(name: str) -> Any:
    if name == "tune":
        from kftune.run.entry import tune

        return tune
    if name == "TuningResult":
        from kftune.run.record import TuningResult

        return TuningResult
    if name == "train_final":
        from kftune.final import train_final

        return train_final
    raise AttributeError(f"module 'kftune' has no attribute {name!r}")
