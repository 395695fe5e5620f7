"""Which trial next: kftune's search algorithms, as keras-tuner Oracles.

``registry.make_oracle`` turns a spec's ``tuner`` section into an Oracle (kftune's GP, or one of
keras-tuner's), ``warmstart`` maps a previous run onto the new space (configurations to re-evaluate
first, prior observations for the GP), ``gp`` is the GP oracle, and ``trials`` holds the small
trial helpers the rest of kftune shares. Names are re-exported lazily: importing ``kftune.search``
must not import keras-tuner, TensorFlow or scipy (``kftune --help`` stays fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["GPOracle", "make_oracle", "prepare_warm_start", "same_values", "trial_status"]

_EXPORTS = {
    "GPOracle": "kftune.search.gp",
    "make_oracle": "kftune.search.registry",
    "prepare_warm_start": "kftune.search.warmstart",
    "same_values": "kftune.search.trials",
    "trial_status": "kftune.search.trials",
}

if TYPE_CHECKING:
    from kftune.search.gp import GPOracle
    from kftune.search.registry import make_oracle
    from kftune.search.trials import same_values, trial_status
    from kftune.search.warmstart import prepare_warm_start


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kftune.search' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
