"""Early stopping across trials: a running trial that is clearly behind the others at the same epoch stops.

The decision is the oracle's, as keras-tuner intends ("to signal early stopping, set Trial.status to
STOPPED" in ``Oracle.update_trial``): after every epoch the trial reports its objective with
``oracle.update_trial(trial_id, {EPOCH_METRIC: value}, step=epoch)`` (:func:`epoch_reporter`), the
oracle keeps it in the trial's own metrics (so it is in ``trial.json``: a resumed run and a
distributed chief have every trial's per-epoch history), compares it with the other trials at the
same epoch and answers with the trial's status: ``STOPPED`` means stop now. A distributed worker only
has an ``OracleClient``: its ``update_trial`` goes to the chief's oracle and returns the chief's answer.

Rules (``tuner.early_stopping.rule``):

* ``median`` (Katib's median stop, Optuna's MedianPruner): after epoch e >= ``min_epochs``, stop when
  the trial's best value so far is worse than the median of the best-so-far values at epoch e of the
  completed trials (at least ``min_trials`` of them);
* ``asha`` (asynchronous successive halving, as Ray Tune's ASHA stopper): at the rungs e =
  ``min_epochs`` * ``reduction_factor``^k, stop when the trial is not in the top 1/``reduction_factor``
  of every trial (completed, stopped or running; at least ``min_trials`` others) that reached e.

A stopped trial ends with status ``STOPPED`` and score = its best value up to the epoch it reached
(:data:`STOPPED`); keras-tuner never takes it as the best trial. What the Bayesian oracle learns from it
is in :func:`stopped_observation`.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from kftune.kt_compat import oracle_lock, trial_status

__all__ = ["EPOCH_METRIC", "STOPPED", "epoch_reporter", "epochs_reached", "stopped_observation",
           "with_early_stopping"]

EPOCH_METRIC = "kftune/epoch_objective"  # the objective's value after each epoch (step = epoch index)
STOPPED = "STOPPED"  # keras-tuner's TrialStatus.STOPPED


def epoch_values(trial: Any) -> dict[int, float]:
    """step -> objective value after that epoch, from the trial's metrics (empty without early stopping)."""
    if not trial.metrics.exists(EPOCH_METRIC):
        return {}
    out: dict[int, float] = {}
    for obs in trial.metrics.get_history(EPOCH_METRIC):
        values = obs.value if isinstance(obs.value, (list, tuple)) else [obs.value]
        if values and math.isfinite(float(values[-1])):
            out[int(obs.step)] = float(values[-1])
    return out


def epochs_reached(trial: Any) -> int | None:
    """Epochs the trial reported (its last step + 1), or None when it reported none."""
    steps = epoch_values(trial)
    return max(steps) + 1 if steps else None


def _best_so_far(values: dict[int, float], step: int, sign: float) -> float | None:
    """Best (in minimisation terms: sign * value) over steps <= step; None if the trial has none."""
    seen = [sign * v for s, v in values.items() if s <= step]
    return min(seen) if seen else None


class Rule:
    """One ``tuner.early_stopping`` section, applied to an oracle's trials."""

    def __init__(self, rule: str = "median", min_epochs: int = 1, min_trials: int = 3, reduction_factor: int = 3,
                 max_epochs: int | None = None):
        if rule not in ("median", "asha"):
            raise ValueError(f"early_stopping.rule must be 'median' or 'asha', got {rule!r}")
        self.rule, self.min_epochs, self.min_trials = rule, int(min_epochs), int(min_trials)
        self.reduction_factor = int(reduction_factor)
        self.max_epochs = max_epochs  # a trial that reached it has finished: never "stopped" there

    @classmethod
    def from_spec(cls, section: Any, max_epochs: int | None = None) -> Rule:
        return cls(section.rule, section.min_epochs, section.min_trials, section.reduction_factor, max_epochs)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "min_epochs": self.min_epochs, "min_trials": self.min_trials,
                "reduction_factor": self.reduction_factor, "max_epochs": self.max_epochs}

    def is_rung(self, epochs: int) -> bool:
        r = self.min_epochs
        while r < epochs:
            r *= self.reduction_factor
        return r == epochs

    def should_stop(self, trial: Any, trials: list[Any], step: int, direction: str) -> bool:
        """Whether ``trial``, having just reported epoch ``step`` (0-based), stops now."""
        epochs = step + 1
        if self.max_epochs is not None and epochs >= self.max_epochs:
            return False
        if epochs < self.min_epochs or (self.rule == "asha" and not self.is_rung(epochs)):
            return False
        sign = -1.0 if direction == "max" else 1.0
        mine = _best_so_far(epoch_values(trial), step, sign)
        if mine is None:
            return False
        others = []
        for other in trials:
            if other.trial_id == trial.trial_id:
                continue
            status = trial_status(other)
            if self.rule == "median" and status != "COMPLETED":
                continue
            values = epoch_values(other)
            if not values:
                continue
            if self.rule == "asha" and max(values) < step:  # ASHA: only trials that reached this rung
                continue
            best = _best_so_far(values, step, sign)
            if best is not None:
                others.append(best)
        if len(others) < self.min_trials:
            return False
        others.sort()
        if self.rule == "median":
            n = len(others)
            median = others[n // 2] if n % 2 else 0.5 * (others[n // 2 - 1] + others[n // 2])
            return mine > median
        keep = max(1, int(math.floor((len(others) + 1) / self.reduction_factor)))  # top 1/eta of all at the rung
        return sum(o < mine for o in others) >= keep


def stopped_observation(score: float, completed_scores: list[float], direction: str) -> float:
    """The value a Bayesian surrogate is given for a stopped trial.

    Its best value up to the epoch it reached: a pessimistic stand-in for what it would have reached
    (it was still training), so the search treats its region as no better than it may be. A value
    far below the completed trials (a trial stopped after one epoch) is capped one range (worst −
    best of the completed trials) beyond the worst, so that it does not stretch the scale of the fit."""
    if len(completed_scores) < 2:
        return score
    sign = -1.0 if direction == "max" else 1.0
    worst, best = max(sign * c for c in completed_scores), min(sign * c for c in completed_scores)
    return sign * min(sign * score, worst + (worst - best))


def with_early_stopping(base: type, rule: Rule) -> type:
    """An oracle class that stops running trials by ``rule`` (see the module docstring)."""

    class EarlyStoppingOracle(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.early_stopping = rule
            self.stopped_at: dict[str, int] = {}  # trial id -> epochs reached when told to stop

        def update_trial(self, trial_id: str, metrics: dict[str, Any], step: int = 0) -> Any:
            if EPOCH_METRIC not in metrics:
                return super().update_trial(trial_id, metrics, step=step)
            with oracle_lock(self):
                # recorded here, not by keras-tuner's update_trial (which requires the objective itself);
                # the history reaches trial.json when the trial ends
                trial = self.trials[trial_id]
                if not trial.metrics.exists(EPOCH_METRIC):
                    trial.metrics.register(EPOCH_METRIC, direction=self.objective.direction)
                trial.metrics.update(EPOCH_METRIC, float(metrics[EPOCH_METRIC]), step=int(step))
                if trial_status(trial) != "RUNNING":
                    return trial
                if self.early_stopping.should_stop(trial, list(self.trials.values()), int(step),
                                                   self.objective.direction):
                    self.stopped_at[trial_id] = int(step) + 1
                    answer = copy.copy(trial)  # the oracle's own trial stays RUNNING until it ends
                    answer.status = STOPPED
                    return answer
                return trial

        def end_trial(self, trial: Any) -> None:
            with oracle_lock(self):
                known = self.trials.get(trial.trial_id)
                running = any(t.trial_id == trial.trial_id for t in self.ongoing_trials.values())
                if known is not None and trial_status(known) == STOPPED and not running:
                    return  # a retried end of a trial already ended as stopped
                if trial_status(trial) in ("COMPLETED", STOPPED) and trial.trial_id in self.stopped_at:
                    trial.status = STOPPED
                    if known is not None:  # the score keras-tuner gives only to completed trials
                        values = epoch_values(known)
                        sign = -1.0 if self.objective.direction == "max" else 1.0
                        best = _best_so_far(values, max(values), sign) if values else None
                        known.score = None if best is None else sign * best
                        known.best_step = min(values, key=lambda s: sign * values[s]) if values else 0
                super().end_trial(trial)

        def get_state(self) -> dict[str, Any]:
            state = super().get_state()
            state.update({"early_stopping": self.early_stopping.as_dict(), "stopped_at": dict(self.stopped_at)})
            return state

        def set_state(self, state: dict[str, Any]) -> None:
            super().set_state(state)
            self.stopped_at = {str(k): int(v) for k, v in (state.get("stopped_at") or {}).items()}

    EarlyStoppingOracle.__name__ = f"EarlyStopping{base.__name__}"
    return EarlyStoppingOracle


def epoch_reporter(oracle: Any, trial_id: str, metric: str) -> Any:
    """A Keras callback: reports ``metric`` after each epoch and stops training when the oracle says so.

    ``stopped_at`` is then the number of epochs trained. Keras is imported here, not at module level."""
    import keras

    class EpochReporter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.stopped_at: int | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            value = (logs or {}).get(metric)
            if value is None or not math.isfinite(float(value)):
                return
            answer = oracle.update_trial(trial_id, {EPOCH_METRIC: float(value)}, step=int(epoch))
            if answer is not None and trial_status(answer) == STOPPED:
                self.stopped_at = int(epoch) + 1
                self.model.stop_training = True

    return EpochReporter()
