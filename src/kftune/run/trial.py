"""One trial: keras-tuner's Tuner runs it, kftune decides how.

keras-tuner's Oracle owns the algorithm and the trial state; this Tuner only runs a trial: seeded,
the previous trial's memory released once, NaN -> a failed trial, the best epoch's weights kept in
memory (no checkpoint per epoch), and the model written to disk only when the trial beats the best.
What differs between a single process, a chief and a worker is asked of the role hooks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from kftune import layout
from kftune.run.memory import custom_gradient_names, release_previous_trial

if TYPE_CHECKING:
    from kftune.run.hooks import RoleHooks
    from kftune.run.record import RunRecord


class ObjectiveMissing(Exception):
    """The model does not report the objective metric: the user's spec, not a trial's bad luck."""

    def __init__(self, metric: str, available: list[str]) -> None:
        super().__init__(metric)
        self.metric, self.available = metric, available


def make_tuner_class() -> type:
    """Defined lazily so importing kftune never imports keras/TensorFlow."""
    import keras

    from kftune.kt_compat import quiet_trial_tracebacks, tuner_base

    quiet_trial_tracebacks()

    class BestEpoch(keras.callbacks.Callback):
        """Remembers the best epoch's value, logs and weights (in memory: no checkpoint per epoch)."""

        def __init__(self, metric: str, direction: str) -> None:
            super().__init__()
            self.metric, self.direction = metric, direction
            self.value: float | None = None
            self.logs: dict[str, float] = {}
            self.weights: list[Any] | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            if self.metric not in logs:
                raise ObjectiveMissing(self.metric, sorted(logs))
            value = float(logs[self.metric])
            if not math.isfinite(value):
                return
            if self.value is None or (value > self.value if self.direction == "max" else value < self.value):
                self.value = value
                self.logs = {k: float(v) for k, v in logs.items()}
                self.weights = self.model.get_weights()

    class KftuneTuner(tuner_base()):  # type: ignore[misc]
        def __init__(self, *, run: RunRecord, hooks: RoleHooks, **kwargs: Any) -> None:
            self.run, self.hooks = run, hooks
            self.gradient_baseline = custom_gradient_names()
            super().__init__(**kwargs)

        def try_build(self, hp: Any) -> Any:
            release_previous_trial(self.gradient_baseline)
            model = self.build_hypermodel(hp)
            if not isinstance(model, keras.Model):
                import keras_tuner as kt

                from kftune.errors import ModelBuildError

                message = f"model {self.run.spec.model}: returned {type(model).__name__}, expected a keras.Model"
                raise kt.errors.FatalTypeError(message) from ModelBuildError(message)
            return model

        def build_hypermodel(self, hp: Any) -> Any:
            model = super().build_hypermodel(hp)
            parent = hp.values.get("tuner/trial_id")
            if parent is not None:  # Hyperband: continue from the promoted trial's weights
                weights = self.run.location.local_dir / layout.trial_weights_key(parent)
                self.hooks.fetch_parent_weights(self.run, parent, weights)
                if weights.exists():
                    model.load_weights(str(weights))
            return model

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            self.run.trial_started(trial.trial_id)
            self.hooks.trial_started(self.run, self.oracle, trial)

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            import keras_tuner as kt

            try:
                return fit_trial(self, trial, BestEpoch)
            except kt.errors.FatalError:
                raise
            except Exception as exc:  # the trial failed: one line for the console, the traceback to the log
                reason = self.run.trial_failed(trial.trial_id, exc)
                raise kt.errors.FailedTrialError(reason) from None

        def on_trial_end(self, trial: Any) -> None:
            if getattr(trial, "kftune_stopped_at", None) and trial.status == "COMPLETED":
                trial.status = "STOPPED"  # stopped early across trials (tuner.early_stopping)
            if trial.trial_id in self.run.failures and str(getattr(trial.status, "value", trial.status)) == "FAILED":
                trial.message = self.run.failures[trial.trial_id]  # the oracle keeps the one line, not a traceback
            self.hooks.before_trial_report(self.run, trial)
            super().on_trial_end(trial)  # the oracle records the trial and saves its state
            self.hooks.trial_ended(self.run, self.oracle, trial)

        def search(self, *args: Any, **kwargs: Any) -> None:
            self.hooks.search(self, super().search, *args, **kwargs)

        def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
            pass  # kftune saves only models that beat the best (see fit_trial)

        def load_model(self, trial: Any) -> Any:
            return keras.models.load_model(self.run.state_dir / layout.BEST_MODEL_STATE)

    return KftuneTuner


def fit_trial(tuner: Any, trial: Any, best_epoch_cls: type) -> dict[str, float]:
    """Train the trial's model ``executions_per_trial`` times; the objective is the mean of the best epochs."""
    import keras
    import keras_tuner as kt
    import numpy as np

    run: RunRecord = tuner.run
    spec, data = run.spec, run.dataset
    hp = trial.hyperparameters
    epochs = int(hp.values.get("tuner/epochs", spec.training.epochs))
    initial_epoch = int(hp.values.get("tuner/initial_epoch", 0))
    values, logs_per_execution = [], []
    best_execution: tuple[float, Any, Any] | None = None
    for execution in range(tuner.executions_per_trial):
        keras.utils.set_random_seed(run.trial_seed(trial.trial_id, execution))
        model = tuner.try_build(hp)
        best = best_epoch_cls(spec.objective.metric, spec.objective.direction)
        callbacks: list[Any] = [keras.callbacks.TerminateOnNaN(), best]
        es = spec.training.early_stopping
        if es is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=es.monitor or spec.objective.metric,
                    mode=spec.objective.direction,
                    patience=es.patience,
                    min_delta=es.min_delta,
                )
            )
        across = getattr(spec.tuner, "early_stopping", None)
        reporter = None
        if across is not None and execution == 0:  # tuner.early_stopping: the oracle may stop this trial
            from kftune.search.earlystop import epoch_reporter

            reporter = epoch_reporter(tuner.oracle, trial.trial_id, spec.objective.metric)
            callbacks.append(reporter)
        try:
            history = model.fit(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                epochs=epochs,
                initial_epoch=initial_epoch,
                batch_size=spec.training.batch_size,
                callbacks=callbacks,
                verbose=spec.training.verbose,
            )
        except ObjectiveMissing as exc:
            from kftune.errors import SpecError

            message = (
                f"objective.metric: '{exc.metric}' is not reported by the model "
                f"(it reports: {', '.join(exc.available) or 'nothing'})"
            )
            raise kt.errors.FatalError(message) from SpecError(message)
        losses = history.history.get("loss", [])
        if any(not math.isfinite(float(v)) for v in losses) or best.value is None:
            raise kt.errors.FailedTrialError(f"trial {trial.trial_id}: loss or {spec.objective.metric} became NaN/inf")
        values.append(best.value)
        if reporter is not None and reporter.stopped_at is not None:
            trial.kftune_stopped_at = reporter.stopped_at  # ends as STOPPED (on_trial_end), no more executions
        logs_per_execution.append(best.logs)
        if best_execution is None or run.better(best.value, best_execution[0]):
            best_execution = (best.value, model, best.weights)
        if getattr(trial, "kftune_stopped_at", None):
            break
    if "tuner/epochs" in hp.values and best_execution is not None:
        # Hyperband promotes trials; their successors continue from these weights.
        _, model, weights = best_execution
        model.set_weights(weights)
        path = run.location.local_dir / layout.trial_weights_key(trial.trial_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(str(path))
    score = float(np.mean(values))
    run.last_score = score
    if run.better(score, run.best_value) and best_execution is not None:
        # Only a trial that beats the best is written to disk; promoted after the oracle records it.
        _, model, weights = best_execution
        model.set_weights(weights)
        model.save(str(run.state_dir / layout.BEST_MODEL_PENDING))
        run.pending_value = score
    metrics = {k: float(np.mean([logs.get(k, np.nan) for logs in logs_per_execution])) for k in logs_per_execution[0]}
    metrics[spec.objective.metric] = score
    return metrics
