"""kftune's default ``bayesian`` search: a keras-tuner Oracle with a fast, properly fitted GP.

Why not keras-tuner's ``BayesianOptimizationOracle``: it encodes a ``Choice`` as an ordered index, uses
one length scale for every dimension, re-proposes evaluated points, and spends seconds per proposal in
50 per-point L-BFGS-B restarts. This oracle keeps keras-tuner's Oracle contract (the base class owns the
trials and ``oracle.json``; everything this class needs lives in ``get_state``) and replaces only
``populate_space``, which composes the pieces of this package:

* :mod:`.encoding`: each parameter is searched in its own scale (log / reverse_log), ``Int``/``step``
  values are snapped, a ``Choice`` is one-hot (unordered), a ``Boolean`` is 0/1, ``Fixed`` passes
  through, and only active conditional parameters get values;
* :mod:`.model`: the surrogate is a GP with an ARD Matern-5/2 kernel whose length scales, signal and
  noise variance are fitted by maximising the marginal likelihood plus weak priors (analytic
  gradients, warm-started);
* :mod:`.acquisition`: log expected improvement is maximised over a large quasi-random +
  local-perturbation candidate batch and a short batched gradient refinement, all as numpy matrix
  operations;
* here: an already evaluated (or running) configuration is never proposed again; a finite space that
  is exhausted stops the search cleanly; with >= 5 numeric parameters the GP's prior mean is
  pessimistic (:func:`.model.pessimistic_prior`: unexplored means worse than typical, so the search
  probes the box's boundary less) and, once log-EI stalls, the candidates are confined to a
  trust region around the incumbent (:func:`trust_region`).
"""

from __future__ import annotations

import keras_tuner as kt
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from kftune.search.gp.acquisition import Acquisition, CandidatePool, initial_batch, maximize
from kftune.search.gp.encoding import Space, row_keys
from kftune.search.earlystop import stopped_observation
from kftune.search.gp.model import GP, normalize_outputs, pessimistic_prior
from kftune.search.trials import trial_status

try:  # small matrices: one BLAS thread is faster than several fighting over a busy machine
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

__all__ = ["GPOracle", "default_initial_points"]


class GPOracle(kt.Oracle):
    """Bayesian optimization with a mixed-space ARD GP; drop-in for keras-tuner's Bayesian oracle.

    Args (beyond keras_tuner.Oracle's): num_initial_points: quasi-random (scrambled Sobol) trials
    before the GP takes over (default: :func:`default_initial_points`; prior observations count);
    acquisition: ``"log_ei"`` (default) or ``"ucb"``; beta: UCB exploration weight;
    num_candidates: size of the quasi-random candidate batch per proposal;
    prior_observations: warm-start data, a list of ``{"values": {...}, "score": float}`` that the
    surrogate treats as completed trials (scores in the objective's own direction).
    """

    def __init__(
        self,
        objective=None,
        max_trials=10,
        hyperparameters=None,
        num_initial_points=None,
        seed=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        acquisition="log_ei",
        beta=2.0,
        num_candidates=2048,
        prior_observations=None,
    ):
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        if acquisition not in ("log_ei", "ucb"):
            raise ValueError(f"GPOracle: acquisition must be 'log_ei' or 'ucb', got {acquisition!r}")
        self.num_initial_points = num_initial_points
        self.acquisition = acquisition
        self.beta = float(beta)
        self.num_candidates = int(num_candidates)
        self.prior_observations = _check_priors(prior_observations)
        self._gp_theta: list[float] | None = None  # warm start for the next fit (kept in state)
        self.rejected: set[str] = set()  # trials that ended FAILED, not INVALID (see _history; in state)

    # keras-tuner state ---------------------------------------------------------------------------
    def get_state(self):
        state = super().get_state()
        state.update(
            {
                "num_initial_points": self.num_initial_points,
                "acquisition": self.acquisition,
                "beta": self.beta,
                "num_candidates": self.num_candidates,
                "prior_observations": self.prior_observations,
                "gp_theta": self._gp_theta,
                "rejected": sorted(self.rejected),
            }
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        self.num_initial_points = state.get("num_initial_points", self.num_initial_points)
        self.acquisition = state.get("acquisition", self.acquisition)
        self.beta = state.get("beta", self.beta)
        self.num_candidates = state.get("num_candidates", self.num_candidates)
        self.prior_observations = state.get("prior_observations", self.prior_observations) or []
        self._gp_theta = state.get("gp_theta")
        self.rejected = set(state.get("rejected") or [])

    def end_trial(self, trial):
        # keras-tuner turns a crashed (INVALID) trial into FAILED once its retries are spent, so the
        # verdict is read here, as the trial arrives (from the tuner, or from a worker over gRPC)
        if trial_status(trial) == TrialStatus.FAILED:
            self.rejected.add(trial.trial_id)
        return super().end_trial(trial)

    # proposal ------------------------------------------------------------------------------------
    def populate_space(self, trial_id):
        if threadpool_limits is None:
            return self._populate_space_impl()
        with threadpool_limits(1):
            return self._populate_space_impl()

    def _populate_space_impl(self):
        space = Space(self.hyperparameters)
        if not space.params:  # nothing to tune: fixed values once, then stop
            codes = np.zeros((1, 0))
            values = space.values_of(codes[0], np.zeros(0, dtype=bool))
            if self._duplicate(values):
                return {"status": TrialStatus.STOPPED, "values": None}
            return {"status": TrialStatus.RUNNING, "values": values}

        seen_values, obs_values, obs_scores, pending_values = self._history()
        seen = set(row_keys(space.encode_values(seen_values))) if seen_values else set()
        sign = -1.0 if self.objective.direction == "max" else 1.0
        rng = np.random.default_rng(np.random.SeedSequence([int(self.seed), len(self.trials), 7]))
        n_init = self.num_initial_points or default_initial_points(len(space.params), self.max_trials)

        pool = CandidatePool(space)
        if len(obs_values) < n_init:
            pool.add(initial_batch(space, self.seed, len(self.trials), rng, self.num_candidates), None)
            acq = None
        else:
            y = sign * np.asarray(obs_scores)
            acq, raw_obs, ys = self._surrogate(space, obs_values, y, pending_values)
            box = None
            if _wide_numeric(space):
                # completed trials come first in y, in trial order: the recent trend of the search
                n_done = sum(trial_status(t) == TrialStatus.COMPLETED and _finite(t.score)
                             for t in self.trials.values())
                box = trust_region(acq.gp, space, raw_obs, y[np.isfinite(y)], n_done, n_init)
            maximize(space, pool, acq, raw_obs, ys, seen, rng, self.num_candidates, box)

        if space.finite:  # make exhaustion detectable and every remaining point reachable
            pool.add(space.enumerate_raw(), acq)
        choice = pool.best_new(seen, self._duplicate)
        if choice is None and not space.finite:  # an infinite space cannot be exhausted: fresh random points
            pool.add(rng.random((4 * self.num_candidates, len(space.params))), None)
            choice = pool.best_new(seen, self._duplicate)
        if choice is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": choice}

    def _history(self) -> tuple[list[dict], list[dict], list[float], list[dict]]:
        """(every configuration tried or given as a prior, the observed ones, their scores, the running ones)."""
        seen_values, obs_values, obs_scores, pending_values = [], [], [], []
        stopped: list[tuple[dict, float]] = []
        failed: list[dict] = []
        ongoing = {t.trial_id for t in self.ongoing_trials.values()}
        for trial in self.trials.values():
            values = trial.hyperparameters.values
            seen_values.append(values)
            if trial.trial_id in ongoing:
                pending_values.append(values)
            elif trial_status(trial) == TrialStatus.COMPLETED and _finite(trial.score):
                obs_values.append(values)
                obs_scores.append(float(trial.score))
            elif trial_status(trial) == TrialStatus.STOPPED and _finite(trial.score):
                stopped.append((values, float(trial.score)))  # stopped early (tuner.early_stopping)
            elif trial_status(trial) == TrialStatus.FAILED and trial.trial_id in self.rejected:
                failed.append(values)
        completed = list(obs_scores)
        for values, score in stopped:
            obs_values.append(values)
            obs_scores.append(stopped_observation(score, completed, self.objective.direction))
        if completed:
            # A trial that ended FAILED is keras-tuner's verdict on its values (FailedTrialError: kftune
            # raises it when the loss became NaN/inf; a hypermodel raises it for a model it rejects),
            # unlike INVALID (any other exception: a crash, retried). Observed at the worst completed
            # score (SMAC's crash cost); else the GP, having learnt nothing, proposes a near-twin again
            # (seen: five diverging learning rates within 3% of each other in a row, which aborted the search).
            worst = (min if self.objective.direction == "max" else max)(completed)
            for values in failed:
                obs_values.append(values)
                obs_scores.append(worst)
        for prior in self.prior_observations:
            seen_values.append(prior["values"])
            obs_values.append(prior["values"])
            obs_scores.append(float(prior["score"]))
        return seen_values, obs_values, obs_scores, pending_values

    def _surrogate(self, space, obs_values, y, pending_values):
        """Fit the GP (warm-started from, and saved to, the state); returns the acquisition and the
        observations it was fitted on (raw columns, standardised scores)."""
        x_obs = space.encode_values(obs_values)
        keep = np.isfinite(y)
        x_obs, y = x_obs[keep], y[keep]
        narrow = _narrow_numeric(space) and len(y) <= 12 * len(space.params)
        ys = normalize_outputs(y, warp=_numeric(space), blown_up_as_distances=not narrow)
        if _wide_numeric(space):  # elsewhere (2-D, a choice) it was greedier and worse: docs/benchmarks-search.md
            ys = pessimistic_prior(ys)

        gp = GP(x_obs, ys, short_scales=narrow)
        theta = gp.fit_warm(self._gp_theta)
        self._gp_theta = [float(t) for t in theta]
        if pending_values:  # distributed: condition on running trials at their predicted mean
            gp.condition_on(space.encode_values(pending_values))
        acq = Acquisition(gp, float(ys.min()), self.acquisition, self.beta)
        return acq, space.raw_from_values(obs_values)[keep], ys


def trust_region(gp, space, raw_obs, y, n_done, n_init):
    """A TuRBO-style box (raw columns) around the incumbent, for >= 5 numeric parameters: on
    multimodal functions global log-EI there keeps sampling the boundary and far modes. The search
    stays global until log-EI stalls (max(4, d) trials without improving the best by 1e-3 of the
    range); then the side is 0.8, halves after each such stall, doubles after 3 improvements, and
    restarts at 0.8 below 1/64 (side scaled per column by the GP's length scales). Replayed from the
    completed trials' order, so the same state gives the same box. A choice or a conditional branch
    needs jumps a box forbids (measured on the mixed spaces): not used there. None: no box."""
    side, succ, fail, tau = 1.6, 0, 0, max(4, len(space.params))
    done = y[:n_done]
    tol = 1e-3 * float(np.ptp(done)) if len(done) else 0.0
    for i in range(max(n_init, 1), len(done)):
        if done[i] < done[:i].min() - tol:
            succ, fail = succ + 1, 0
        else:
            succ, fail = 0, fail + 1
        if succ == 3:
            side, succ = min(2 * side, 1.6), 0
        elif fail == tau:
            side, fail = side / 2, 0
        if side < 1 / 64:
            side = 0.8
    if side >= 1.6:
        return None
    ls = np.array([gp.ls[p.col] for p in space.params])
    w = ls / np.exp(np.log(ls).mean())
    center = raw_obs[int(np.argmin(y))]
    return np.clip(center - side * w / 2, 0, 1), np.clip(center + side * w / 2, 0, 1)


def _numeric(space) -> bool:
    """Numbers only, none conditional: where the trust region and the output warp pay (a choice or a
    branch needs the jumps they discourage)."""
    return all(p.kind == "num" and not p.hp.conditions for p in space.params)


def _wide_numeric(space) -> bool:
    """At least 5 parameters, numbers only: where the trust region and the pessimistic prior mean pay."""
    return len(space.params) >= 5 and _numeric(space)


def _narrow_numeric(space) -> bool:
    """One or two numbers: where short length scales are resolvable and pay (:class:`.model.GP`); the
    oracle uses them while the trials are at most 12 per parameter."""
    return len(space.params) <= 2 and _numeric(space)


def default_initial_points(n_params: int, max_trials: int | None = None) -> int:
    """2 per parameter, 5..10 — never more than a third of a small budget (at least 3), so a
    12-trial search gets 8 model-guided trials instead of 2 — and only 3 when the budget is under 10
    trials per parameter: such a search cannot map the space anyway, and the GP's own choices
    beat more quasi-random ones (BBOB d=5 and d=10 at 25 trials: a lower median regret than with 8
    initial points on 30 of 45 problems, higher on 12; docs/benchmarks-search.md, fourth round)."""
    if max_trials and max_trials < 10 * n_params:
        return 3
    n = min(10, max(5, 2 * n_params))
    return min(n, max(3, max_trials // 3)) if max_trials else n


def _finite(score) -> bool:
    return score is not None and np.isfinite(score)


def _check_priors(priors) -> list[dict]:
    out = []
    for i, prior in enumerate(priors or []):
        if not isinstance(prior, dict) or "values" not in prior or "score" not in prior:
            raise ValueError(f"prior_observations[{i}]: expected {{'values': {{...}}, 'score': float}}")
        if not _finite(prior["score"]):
            continue
        out.append({"values": dict(prior["values"]), "score": float(prior["score"])})
    return out
