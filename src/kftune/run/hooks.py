"""What differs between a single process, a distributed chief and a worker, as one protocol.

The session and the tuner call these hooks at fixed points and never ask which role they serve;
``SingleProcess`` is the plain behaviour, and kftune.run.distributed implements the chief and the
worker. A new role (a pod rendezvous, a launcher) is a new implementation, not a new branch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from kftune import kt_compat

if TYPE_CHECKING:
    from kftune.run.location import RunLocation
    from kftune.run.record import RunRecord, TuningResult


class RoleHooks(Protocol):
    kind: str  # "single", "chief" or "worker": recorded in events
    tuner_id: str | None
    owns_results: bool  # holds the lock, warm-starts, writes the results

    def state_ready(self, location: RunLocation) -> None:
        """The state file exists (the chief publishes it: its seed fixes every worker's data split)."""

    def tuner_ready(self, run: RunRecord, oracle: Any) -> None:
        """The oracle has reloaded whatever state there was; before the first trial."""

    def search(self, tuner: Any, search: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Run the search (``search`` is keras-tuner's own loop)."""

    def fetch_parent_weights(self, run: RunRecord, parent: str, dest: Path) -> None:
        """Hyperband: make the promoted trial's weights available at ``dest`` if they exist anywhere."""

    def trial_started(self, run: RunRecord, oracle: Any, trial: Any) -> None: ...

    def before_trial_report(self, run: RunRecord, trial: Any) -> None:
        """The trial ran; the oracle has not been told yet."""

    def trial_ended(self, run: RunRecord, oracle: Any, trial: Any) -> None:
        """The oracle recorded the trial."""

    def finish(self, run: RunRecord, oracle: Any) -> TuningResult: ...


class SingleProcess:
    """One process runs the trials and owns the results (no KERASTUNER_* environment)."""

    kind = "single"
    tuner_id: str | None = None
    owns_results = True

    def state_ready(self, location: RunLocation) -> None:
        pass

    def tuner_ready(self, run: RunRecord, oracle: Any) -> None:
        kt_compat.repair_reloaded(oracle)
        run.reconcile_best_model(oracle)

    def search(self, tuner: Any, search: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        search(*args, **kwargs)

    def fetch_parent_weights(self, run: RunRecord, parent: str, dest: Path) -> None:
        pass  # written by this process, into its own state

    def trial_started(self, run: RunRecord, oracle: Any, trial: Any) -> None:
        pass

    def before_trial_report(self, run: RunRecord, trial: Any) -> None:
        pass

    def trial_ended(self, run: RunRecord, oracle: Any, trial: Any) -> None:
        run.record_trial_end(oracle, trial.trial_id)

    def finish(self, run: RunRecord, oracle: Any) -> TuningResult:
        return run.finish(oracle)
