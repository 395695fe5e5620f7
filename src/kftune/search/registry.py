"""The algorithm registry: a spec's ``tuner.algorithm`` -> a configured keras-tuner Oracle.

One table (:data:`ORACLES`), so adding an algorithm is one entry; every oracle is keras-tuner's (or
subclasses it), so the Tuner, the state files and resume work the same for all of them. A warm
start's configurations are replayed first by wrapping the chosen class (:func:`with_queue`), never
by changing it. keras-tuner is imported only when an oracle is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from kftune.search.trials import same_values
from kftune.spec import TuningSpec

if TYPE_CHECKING:
    from kftune.search.warmstart import WarmStartPlan

__all__ = ["ORACLES", "make_oracle", "with_queue"]


def make_oracle(spec: TuningSpec, hyperparameters: Any, seed: int, warm: WarmStartPlan | None) -> Any:
    """The spec's Oracle over ``hyperparameters``, replaying ``warm.queued_values`` first if any."""
    import keras_tuner as kt

    t = spec.tuner
    objective = kt.Objective(spec.objective.metric, direction=spec.objective.direction)
    common = dict(
        objective=objective,
        hyperparameters=hyperparameters,
        seed=seed,
        tune_new_entries=t.tune_new_entries,
        allow_new_entries=True,  # undeclared names are recorded; fixed at defaults unless tune_new_entries
        max_consecutive_failed_trials=t.max_consecutive_failed_trials,
    )
    return ORACLES[t.algorithm](spec, common, warm)


def _queued(base: type, kwargs: dict[str, Any], warm: WarmStartPlan | None, spec: TuningSpec | None = None) -> Any:
    es = getattr(spec.tuner, "early_stopping", None) if spec is not None else None
    if es is not None:  # tuner.early_stopping: the oracle stops trials that are behind (search.earlystop)
        from kftune.search.earlystop import Rule, with_early_stopping

        base = with_early_stopping(base, Rule.from_spec(es, max_epochs=spec.training.epochs))
    queued = warm.queued_values if warm is not None else []
    if queued:
        base = with_queue(base)
        kwargs["queued_values"] = queued
    return base(**kwargs)


def _bayesian(spec: TuningSpec, common: dict[str, Any], warm: WarmStartPlan | None) -> Any:
    from kftune.search.gp import GPOracle

    t = spec.tuner
    priors = warm.prior_observations if warm is not None and spec.warm_start and spec.warm_start.use_as_prior else []
    extra: dict[str, Any] = {"prior_observations": priors} if priors else {}
    kwargs = dict(common, max_trials=t.max_trials, num_initial_points=t.num_initial_points, **extra)
    return _queued(GPOracle, kwargs, warm, spec)


def _keras_bayesian(spec: TuningSpec, common: dict[str, Any], warm: WarmStartPlan | None) -> Any:
    import keras_tuner as kt

    t = spec.tuner
    kwargs = dict(common, max_trials=t.max_trials, num_initial_points=t.num_initial_points, alpha=t.alpha, beta=t.beta)
    return _queued(kt.oracles.BayesianOptimizationOracle, kwargs, warm, spec)


def _random(spec: TuningSpec, common: dict[str, Any], warm: WarmStartPlan | None) -> Any:
    import keras_tuner as kt

    return _queued(kt.oracles.RandomSearchOracle, dict(common, max_trials=spec.tuner.max_trials), warm, spec)


def _grid(spec: TuningSpec, common: dict[str, Any], warm: WarmStartPlan | None) -> Any:
    import keras_tuner as kt

    return _queued(kt.oracles.GridSearchOracle, dict(common, max_trials=spec.tuner.max_trials), warm, spec)


def _hyperband(spec: TuningSpec, common: dict[str, Any], warm: WarmStartPlan | None) -> Any:
    """Hyperband schedules its own brackets (and ``tuner/`` values): no warm-start queue."""
    import keras_tuner as kt

    t = spec.tuner
    oracle = kt.oracles.HyperbandOracle(
        max_epochs=t.max_epochs or spec.training.epochs,
        factor=t.factor,
        hyperband_iterations=t.hyperband_iterations,
        **common,
    )
    oracle.max_trials = t.max_trials  # a cap on top of Hyperband's own schedule
    return oracle


# tuner.algorithm -> (spec, common Oracle arguments, warm-start plan or None) -> Oracle
ORACLES: dict[str, Callable[[TuningSpec, dict[str, Any], Any], Any]] = {
    "bayesian": _bayesian,
    "keras_bayesian": _keras_bayesian,
    "random": _random,
    "grid": _grid,
    "hyperband": _hyperband,
}


def with_queue(base: type) -> type:
    """An oracle that first proposes given configurations (warm start), each at most once across resumes."""

    class QueuedOracle(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, queued_values: list[dict[str, Any]] = (), **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._queued_values = list(queued_values)

        def populate_space(self, trial_id: str) -> dict[str, Any]:
            tried = [t.hyperparameters.values for t in self.trials.values()]
            while self._queued_values:
                values = self._queued_values.pop(0)
                if not any(same_values(values, v) for v in tried):
                    return {"status": "RUNNING", "values": values}
            return super().populate_space(trial_id)

    QueuedOracle.__name__ = f"Queued{base.__name__}"
    return QueuedOracle
