"""Run the trials: the entry point, the run's location and state, one trial, the bookkeeping, the
search loop and the role hooks it calls (single process here; chief and worker in run.distributed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kftune.run.record import TuningResult
    from kftune.run.entry import tune

__all__ = ["TuningResult", "tune"]


def __getattr__(name: str) -> Any:
    if name == "tune":
        from kftune.run.entry import tune

        return tune
    if name == "TuningResult":
        from kftune.run.record import TuningResult

        return TuningResult
    raise AttributeError(f"module 'kftune.run' has no attribute {name!r}")
