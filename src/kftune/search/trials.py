"""Small facts about keras-tuner trials that several parts of kftune need to agree on.

Pure Python (no keras-tuner import), so any layer above ``search`` can use them cheaply.
"""

from __future__ import annotations

import math
from typing import Any

from kftune.kt_compat import trial_status  # re-exported: one definition

__all__ = ["same_values", "trial_status"]


def same_values(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two hyperparameter dicts are the same configuration: floats compared with a relative
    tolerance (a value read back from trials.csv is not bit-identical), keras-tuner's bookkeeping
    entries (``tuner/...``, e.g. Hyperband's epochs) ignored."""
    keys = {k for k in a if not k.startswith("tuner/")} | {k for k in b if not k.startswith("tuner/")}
    for k in keys:
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) or isinstance(y, float):
            if x is None or y is None or not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True
