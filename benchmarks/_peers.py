"""The peer searches of the search-quality benchmark: Optuna (TPE, GP) and a standard BoTorch loop.

All are benchmark-only dependencies (``pip install -e '.[bench]'``). Each search has the harness's
ask/tell/inject interface over a :class:`_objectives.Problem` (values dicts in, floats out).

BoTorch loop (the textbook one, BoTorch's defaults): inputs scaled to [0, 1] (one column per
parameter: numbers in their own scale, log ones in log space; a choice as equal bins of its column;
ints rounded), ``SingleTaskGP`` with its default (dimension-scaled, BoTorch >= 0.12) priors and a
``Standardize`` outcome transform, fitted with ``fit_gpytorch_mll``; ``LogExpectedImprovement``
maximised by ``optimize_acqf`` with 10 restarts and 512 raw samples; scrambled Sobol initial points.
A conditional parameter is a column like any other and ignored by the objective when inactive. The
candidate is rounded to a legal configuration after the optimiser, as a plain BoTorch loop does, so
it can propose an evaluated configuration again (counted as a duplicate).
"""

from __future__ import annotations

import math

import numpy as np

from _objectives import Param, Problem, active, to_optuna


# --------------------------------------------------------------------------------------------------
# a problem's parameters as [0, 1] columns (BoTorch)
# --------------------------------------------------------------------------------------------------
def _decode(p: Param, u: float):
    u = min(max(float(u), 0.0), 1.0)
    if p.kind == "choice":
        return p.choices[min(int(u * len(p.choices)), len(p.choices) - 1)]
    lo, hi = float(p.low), float(p.high)
    v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if p.log else lo + u * (hi - lo)
    return int(min(max(round(v), lo), hi)) if p.kind == "int" else min(max(v, lo), hi)


def _encode(p: Param, v) -> float:
    if p.kind == "choice":
        return (p.choices.index(v) + 0.5) / len(p.choices)
    lo, hi = float(p.low), float(p.high)
    if p.log:
        return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (float(v) - lo) / (hi - lo)


def values_from_unit(problem: Problem, u: np.ndarray) -> dict:
    values: dict = {}
    for j, p in enumerate(problem.params):
        if active(p, values):
            values[p.name] = _decode(p, u[j])
    return values


def unit_from_values(problem: Problem, values: dict) -> np.ndarray:
    return np.array([_encode(p, values[p.name]) if p.name in values else 0.5 for p in problem.params])


class BotorchSearch:
    """SingleTaskGP + LogEI, optimize_acqf(num_restarts=10, raw_samples=512), Sobol start."""

    def __init__(self, method: str, problem: Problem, seed: int, max_trials: int):
        import torch

        self.torch = torch
        self.problem, self.seed = problem, seed
        self.d = len(problem.params)
        self.n_init = min(10, max(5, 2 * self.d))  # the same initial design size as kftune's default
        self.x: list[np.ndarray] = []
        self.y: list[float] = []
        self._pending: np.ndarray | None = None
        self._sobol = torch.quasirandom.SobolEngine(self.d, scramble=True, seed=seed)
        torch.manual_seed(seed)

    def ask(self) -> dict:
        torch = self.torch
        if len(self.y) < self.n_init:
            u = self._sobol.draw(1).double().numpy()[0]
        else:
            u = self._next()
        values = values_from_unit(self.problem, u)
        self._pending = unit_from_values(self.problem, values)
        return values

    def _next(self) -> np.ndarray:
        import warnings

        torch = self.torch
        from botorch.acquisition import LogExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from botorch.optim import optimize_acqf
        from gpytorch.mlls import ExactMarginalLogLikelihood

        x = torch.tensor(np.array(self.x), dtype=torch.double)
        y = -torch.tensor(self.y, dtype=torch.double).unsqueeze(-1)  # BoTorch maximises
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = SingleTaskGP(x, y, outcome_transform=Standardize(m=1))
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            try:
                fit_gpytorch_mll(mll)
            except Exception:  # a failed fit keeps the initial hyperparameters, as BoTorch's loop would
                pass
            acq = LogExpectedImprovement(model, best_f=y.max())
            bounds = torch.stack([torch.zeros(self.d), torch.ones(self.d)]).double()
            cand, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=10, raw_samples=512)
        return cand.detach().numpy()[0]

    def tell(self, value: float) -> None:
        self.x.append(self._pending)
        self.y.append(float(value))

    def inject(self, values_list: list[dict], scores: list[float]) -> None:
        for values, score in zip(values_list, scores):
            self.x.append(unit_from_values(self.problem, values))
            self.y.append(float(score))


# --------------------------------------------------------------------------------------------------
# Optuna (define-by-run, so conditional parameters are sampled only when active)
# --------------------------------------------------------------------------------------------------
class OptunaSearch:
    def __init__(self, method: str, problem: Problem, seed: int, max_trials: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if method == "optuna_tpe":
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.problem = problem
        self.dists = to_optuna(problem)
        self._trial = None

    def ask(self) -> dict:
        trial = self.study.ask()
        values: dict = {}
        for p in self.problem.params:
            if not active(p, values):
                continue
            if p.kind == "float":
                values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
            elif p.kind == "int":
                values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
            else:
                values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        self._trial = trial
        return values

    def tell(self, value: float) -> None:
        self.study.tell(self._trial, value)

    def inject(self, values_list: list[dict], scores: list[float]) -> None:
        import optuna

        for values, score in zip(values_list, scores):
            dists = {k: self.dists[k] for k in values}
            self.study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, value=score))
