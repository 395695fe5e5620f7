"""kftune's default ``bayesian`` search: a keras-tuner Oracle with a fast, properly fitted GP.

Why not keras-tuner's ``BayesianOptimizationOracle``: it encodes a ``Choice`` as an ordered index, uses
one length scale for every dimension, re-proposes evaluated points, and spends seconds per proposal in
50 per-point L-BFGS-B restarts. This oracle keeps keras-tuner's Oracle contract (the base class owns the
trials and ``oracle.json``; everything this class needs lives in ``get_state``) and replaces only
``populate_space``:

* each parameter is searched in its own scale (log / reverse_log), ``Int``/``step`` values are snapped,
  a ``Choice`` is one-hot (unordered), a ``Boolean`` is 0/1, ``Fixed`` passes through, and only active
  conditional parameters get values;
* the surrogate is a GP with an ARD Matern-5/2 kernel whose length scales, signal and noise variance are
  fitted by maximising the marginal likelihood plus weak priors (analytic gradients, warm-started);
* log expected improvement is maximised over a large quasi-random + local-perturbation candidate batch
  and a short batched gradient refinement, all as numpy matrix operations;
* an already evaluated (or running) configuration is never proposed again; a finite space that is
  exhausted stops the search cleanly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import trial as trial_module
from scipy import optimize, special
from scipy.linalg import cho_solve, lapack, solve_triangular
from scipy.stats import qmc

try:  # small matrices: one BLAS thread is faster than several fighting over a busy machine
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

__all__ = ["GPOracle"]

_SQRT5 = math.sqrt(5.0)
_ENUMERATE_MAX = 4096  # finite spaces up to this size are enumerated exhaustively


# --------------------------------------------------------------------------------------------------
# Search-space encoding: one "raw" column per tunable parameter for sampling, an encoded matrix
# (numeric in [0, 1] in the parameter's own scale, choices one-hot) for the GP.
# --------------------------------------------------------------------------------------------------
class _Param:
    """One tunable hyperparameter: how to map raw u in [0, 1] to a value and to GP columns."""

    def __init__(self, hp: Any, col: int):
        self.hp = hp
        self.col = col
        if isinstance(hp, hp_module.Choice):
            self.kind = "choice"
            self.k = len(hp.values)
            self.width = self.k
            self.default_code = float(hp.values.index(hp.default))
        elif isinstance(hp, hp_module.Boolean):
            self.kind = "bool"
            self.width = 1
            self.default_code = 1.0 if hp.default else 0.0
        else:  # Int / Float
            self.kind = "num"
            self.width = 1
            self.lo, self.hi = float(hp.min_value), float(hp.max_value)
            self.sampling = hp.sampling or "linear"
            self.is_int = isinstance(hp, hp_module.Int)
            self.step = float(hp.step) if hp.step is not None else None
            self.n_values = None
            if self.step is not None:
                if self.sampling == "linear":
                    self.n_values = int((self.hi - self.lo) // self.step + 1)
                else:
                    self.n_values = int(math.log(self.hi / self.lo, self.step) + 1e-8) + 1
            elif self.is_int:
                self.n_values = int(self.hi - self.lo + 1)
            self.default_code = float(self.encode(np.array([float(hp.default)]))[0])

    @property
    def continuous(self) -> bool:
        return self.kind == "num" and self.n_values is None

    def cardinality(self) -> float:
        if self.kind == "choice":
            return self.k
        if self.kind == "bool":
            return 2
        return self.n_values if self.n_values is not None else math.inf

    # numeric scale ---------------------------------------------------------------------------------
    def encode(self, v: np.ndarray) -> np.ndarray:
        lo, hi = self.lo, self.hi
        if hi <= lo:
            return np.full_like(v, 0.5, dtype=float)
        if self.sampling == "log":
            u = np.log(np.maximum(v, lo) / lo) / math.log(hi / lo)
        elif self.sampling == "reverse_log":
            u = 1.0 - np.log(np.maximum(hi + lo - v, lo) / lo) / math.log(hi / lo)
        else:
            u = (v - lo) / (hi - lo)
        return np.clip(u, 0.0, 1.0)

    def decode(self, u: np.ndarray) -> np.ndarray:
        """Raw u -> snapped value (float array)."""
        lo, hi = self.lo, self.hi
        u = np.clip(u, 0.0, 1.0)
        if hi <= lo:
            return np.full_like(u, lo, dtype=float)
        if self.sampling == "log":
            v = lo * (hi / lo) ** u
        elif self.sampling == "reverse_log":
            v = hi + lo - lo * (hi / lo) ** (1.0 - u)
        else:
            v = lo + u * (hi - lo)
        if self.step is not None:
            n = self.n_values
            if self.sampling == "linear":
                idx = np.clip(np.round((v - lo) / self.step), 0, n - 1)
                v = np.round(lo + idx * self.step, 12)  # 0.30000000000000004 -> 0.3
            elif self.sampling == "log":
                idx = np.clip(np.round(np.log(v / lo) / math.log(self.step)), 0, n - 1)
                v = lo * self.step**idx
            else:
                idx = np.clip(np.round(np.log((hi + lo - v) / lo) / math.log(self.step)), 0, n - 1)
                v = hi + lo - lo * self.step**idx
        if self.is_int:
            v = np.round(v)
        return np.clip(v, lo, hi)

    def grid_raw(self) -> np.ndarray:
        """Raw codes of every value of a finite parameter (for exhaustive enumeration)."""
        if self.kind == "choice":
            return (np.arange(self.k) + 0.5) / self.k
        if self.kind == "bool":
            return np.array([0.25, 0.75])
        values = [float(x) for x in self.hp.values] if self.step is not None else None
        if values is None:
            values = np.arange(self.lo, self.hi + 1.0)
        return self.encode(np.asarray(values, dtype=float))

    # per-kind codes -----------------------------------------------------------------------------------
    def raw_to_code(self, u: np.ndarray) -> np.ndarray:
        """Raw u -> code: choice index, 0/1, or snapped numeric value."""
        if self.kind == "choice":
            return np.minimum(np.floor(np.clip(u, 0, 1) * self.k), self.k - 1)
        if self.kind == "bool":
            return (u >= 0.5).astype(float)
        return self.decode(u)

    def code_to_raw(self, c: np.ndarray) -> np.ndarray:
        if self.kind == "choice":
            return (c + 0.5) / self.k
        if self.kind == "bool":
            return np.where(c > 0.5, 0.75, 0.25)
        return self.encode(c)

    def value_to_code(self, value: Any) -> float | None:
        try:
            if self.kind == "choice":
                return float(self.hp.values.index(value))
            if self.kind == "bool":
                return 1.0 if bool(value) else 0.0
            return float(self.decode(self.encode(np.array([float(value)])))[0])
        except (ValueError, TypeError):
            return None

    def code_to_value(self, c: float) -> Any:
        if self.kind == "choice":
            return self.hp.values[int(c)]
        if self.kind == "bool":
            return bool(c > 0.5)
        return int(round(c)) if self.is_int else float(c)

    def fill_columns(self, out: np.ndarray, codes: np.ndarray, active: np.ndarray) -> None:
        c = np.where(active, codes, self.default_code)
        if self.kind == "choice":
            out[:, self.col : self.col + self.k] = 0.0
            out[np.arange(len(c)), self.col + c.astype(int)] = 1.0
        elif self.kind == "bool":
            out[:, self.col] = c
        else:
            out[:, self.col] = self.encode(c)


class _Space:
    """Vectorized view of a keras-tuner search space (conditions evaluated on whole batches)."""

    def __init__(self, hyperparameters: hp_module.HyperParameters):
        self.entries: list[tuple[Any, _Param | None]] = []  # space order, Fixed -> None
        self.params: list[_Param] = []
        col = 0
        for hp in hyperparameters.space:
            if isinstance(hp, hp_module.Fixed):
                self.entries.append((hp, None))
                continue
            p = _Param(hp, col)
            col += p.width
            self.params.append(p)
            self.entries.append((hp, p))
        self.dim = col
        self.num_cols = np.array([p.col for p in self.params if p.kind == "num"], dtype=int)

    def cardinality(self) -> float:
        return float(np.prod([p.cardinality() for p in self.params])) if self.params else 1.0

    def _activity(self, codes: np.ndarray) -> np.ndarray:
        """Active mask (m, P) from per-parameter codes (m, P), following keras-tuner's Parent rule."""
        m = codes.shape[0]
        active = np.zeros((m, len(self.params)), dtype=bool)
        seen: dict[str, list[tuple[Any, np.ndarray | None, np.ndarray]]] = {}
        pi = 0
        for hp, p in self.entries:
            act = np.ones(m, dtype=bool)
            for cond in hp.conditions:
                ok = np.zeros(m, dtype=bool)
                for parent_hp, pcodes, pact in seen.get(cond.name, []):
                    ok |= pact & _matches(parent_hp, pcodes, cond.values, m)
                act &= ok
            if p is not None:
                active[:, pi] = act
                seen.setdefault(hp.name, []).append((hp, codes[:, pi], act))
                pi += 1
            else:
                seen.setdefault(hp.name, []).append((hp, None, act))
        return active

    def from_raw(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw batch (m, P) -> (codes, active, encoded X (m, dim)), snapped to legal values."""
        codes = np.empty_like(raw)
        for j, p in enumerate(self.params):
            codes[:, j] = p.raw_to_code(raw[:, j])
        active = self._activity(codes)
        return codes, active, self.encode_codes(codes, active)

    def encode_codes(self, codes: np.ndarray, active: np.ndarray) -> np.ndarray:
        x = np.zeros((codes.shape[0], self.dim))
        for j, p in enumerate(self.params):
            p.fill_columns(x, codes[:, j], active[:, j])
        return x

    def codes_from_values(self, values_list: list[dict]) -> np.ndarray:
        codes = np.empty((len(values_list), len(self.params)))
        for j, p in enumerate(self.params):
            name = p.hp.name
            if p.kind == "num":
                col = np.array([_as_float(v.get(name)) for v in values_list], dtype=float)
                bad = ~np.isfinite(col)
                col[bad] = float(p.hp.default)
                codes[:, j] = p.decode(p.encode(col))
            else:
                for i, values in enumerate(values_list):
                    c = p.value_to_code(values[name]) if name in values else None
                    codes[i, j] = p.default_code if c is None else c
        return codes

    def encode_values(self, values_list: list[dict]) -> np.ndarray:
        codes = self.codes_from_values(values_list)
        return self.encode_codes(codes, self._activity(codes))

    def raw_from_values(self, values_list: list[dict]) -> np.ndarray:
        codes = self.codes_from_values(values_list)
        raw = np.empty_like(codes)
        for j, p in enumerate(self.params):
            raw[:, j] = p.code_to_raw(codes[:, j])
        return raw

    def values_of(self, codes: np.ndarray, active: np.ndarray) -> dict:
        """One row of codes -> keras-tuner values dict (only active parameters, Fixed included)."""
        values: dict[str, Any] = {}
        hps = hp_module.HyperParameters()
        pi = 0
        for hp, p in self.entries:
            hps.merge([hp])
            if p is None:
                if hps.is_active(hp):
                    values[hp.name] = hp.value
                    hps.values[hp.name] = hp.value
                continue
            if active[pi]:
                values[hp.name] = p.code_to_value(codes[pi])
                hps.values[hp.name] = values[hp.name]
            pi += 1
        return values

    def enumerate_raw(self) -> np.ndarray:
        grids = [p.grid_raw() for p in self.params]
        mesh = np.meshgrid(*grids, indexing="ij")
        return np.stack([g.ravel() for g in mesh], axis=1)


def _matches(parent_hp: Any, pcodes: np.ndarray | None, allowed: list, m: int) -> np.ndarray:
    if pcodes is None:  # Fixed parent
        return np.full(m, parent_hp.value in allowed)
    if isinstance(parent_hp, hp_module.Choice):
        idx = [i for i, v in enumerate(parent_hp.values) if v in allowed]
        return np.isin(pcodes, idx)
    if isinstance(parent_hp, hp_module.Boolean):
        return np.isin(pcodes > 0.5, [bool(v) for v in allowed])
    return np.isin(pcodes, np.asarray(allowed, dtype=float))


def _row_key(x: np.ndarray) -> bytes:
    return np.round(x, 9).tobytes()


# --------------------------------------------------------------------------------------------------
# Gaussian process: ARD Matern-5/2, hyperparameters fitted by MAP (marginal likelihood + weak priors).
# --------------------------------------------------------------------------------------------------
class _GP:
    """GP on [0,1]^d inputs and standardized outputs; theta = [log ls (d), log signal, log noise]."""

    # Low floor: a near-deterministic objective can then be resolved to high precision; a noisy one
    # still gets its noise fitted (the Gamma prior below lets it grow).
    MIN_NOISE = 1e-8

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x = x
        self.y = y
        d = x.shape[1]
        self.bounds = [(math.log(5e-3), math.log(1e3))] * d + [
            (math.log(5e-2), math.log(20.0)),
            (math.log(self.MIN_NOISE), math.log(0.5)),
        ]
        self.sqd = None

    def default_theta(self) -> np.ndarray:
        d = self.x.shape[1]
        return np.concatenate([np.zeros(d), [0.0, math.log(1e-3)]])

    def _kernel_parts(self, a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sa, sb = a / ls, b / ls
        r2 = (sa**2).sum(1)[:, None] + (sb**2).sum(1)[None, :] - 2.0 * sa @ sb.T
        r = np.sqrt(np.maximum(r2, 0.0))
        e = np.exp(-_SQRT5 * r)
        return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2.clip(0)) * e, (5.0 / 3.0) * (1.0 + _SQRT5 * r) * e

    def neg_log_post(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        x, y = self.x, self.y
        n, d = x.shape
        ls, s2, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
        k0, g0 = self._kernel_parts(x, x, ls)
        kf = s2 * k0
        kmat = kf + (noise + 1e-8) * np.eye(n)
        chol, info = lapack.dpotrf(kmat, lower=1, clean=1)
        if info != 0:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((chol, True), y, check_finite=False)
        kinv, info = lapack.dpotri(chol, lower=1)  # lower triangle of K^-1, upper left zero
        kinv = kinv + kinv.T
        kinv[np.diag_indices(n)] *= 0.5
        nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
        w = kinv - np.outer(alpha, alpha)
        grad = np.empty_like(theta)
        mm = w * (s2 * g0)
        mx = mm @ x
        grad[:d] = ((mm.sum(1) @ (x**2)) - (x * mx).sum(0)) / ls**2
        grad[d] = 0.5 * (w * kf).sum()
        grad[d + 1] = 0.5 * noise * np.trace(w)
        # priors: lognormal lengthscales, Gamma(2, 1) signal, Gamma(1.1, 30) noise (as in Optuna)
        # priors (Optuna's GPSampler's, which beat a dimension-scaled lognormal here): on the inverse
        # squared length scale u = ls^-2, log p = -(0.1/u + 0.1 u); Gamma(2, 1) signal; Gamma(1.1, 30) noise
        e2 = np.exp(2 * theta[:d])
        nlp = (0.1 * e2 + 0.1 / e2).sum() + (-math.log(s2) + s2) + (-0.1 * math.log(noise) + 30.0 * noise)
        grad[:d] += 0.2 * e2 - 0.2 / e2
        grad[d] += -1.0 + s2
        grad[d + 1] += -0.1 + 30.0 * noise
        return float(nll + nlp), grad

    def fit(self, starts: list[np.ndarray], maxiter: int = 200) -> np.ndarray:
        best = (math.inf, None)
        lo = np.array([b[0] for b in self.bounds])
        hi = np.array([b[1] for b in self.bounds])
        for t0 in starts:
            t0 = np.clip(np.asarray(t0, dtype=float), lo, hi)
            res = optimize.minimize(
                self.neg_log_post, t0, jac=True, method="L-BFGS-B", bounds=self.bounds,
                options={"maxiter": maxiter},
            )
            if np.isfinite(res.fun) and res.fun < best[0]:
                best = (res.fun, res.x)
        theta = best[1] if best[1] is not None else np.clip(self.default_theta(), lo, hi)
        self.set_theta(theta)
        return theta

    def set_theta(self, theta: np.ndarray, x: np.ndarray | None = None, y: np.ndarray | None = None):
        if x is not None:
            self.x, self.y = x, y
        d = self.x.shape[1]
        self.theta = np.asarray(theta, dtype=float)
        self.ls = np.exp(self.theta[:d])
        self.s2 = math.exp(self.theta[d])
        self.noise = math.exp(self.theta[d + 1])
        k0, _ = self._kernel_parts(self.x, self.x, self.ls)
        kmat = self.s2 * k0 + (self.noise + 1e-8) * np.eye(len(self.x))
        jitter = 0.0
        while True:
            try:
                self.chol = np.linalg.cholesky(kmat + jitter * np.eye(len(self.x)))
                break
            except np.linalg.LinAlgError:
                jitter = max(1e-8, jitter * 10)
        self.alpha = cho_solve((self.chol, True), self.y, check_finite=False)

    def predict(self, xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k0, _ = self._kernel_parts(xc, self.x, self.ls)
        ks = self.s2 * k0
        mu = ks @ self.alpha
        v = solve_triangular(self.chol, ks.T, lower=True, check_finite=False)
        var = np.maximum(self.s2 - (v**2).sum(0), 1e-12)
        return mu, var

    def predict_grad(self, xc: np.ndarray):
        """mu, var and their gradients w.r.t. the inputs (for the local refinement)."""
        k0, g0 = self._kernel_parts(xc, self.x, self.ls)
        ks, g = self.s2 * k0, self.s2 * g0
        mu = ks @ self.alpha
        beta = cho_solve((self.chol, True), ks.T, check_finite=False).T  # (m, n)
        var = np.maximum(self.s2 - (ks * beta).sum(1), 1e-12)
        ga = g * self.alpha[None, :]
        dmu = -(xc * ga.sum(1)[:, None] - ga @ self.x) / self.ls**2
        gb = g * beta
        dvar = 2.0 * (xc * gb.sum(1)[:, None] - gb @ self.x) / self.ls**2
        return mu, var, dmu, dvar


# --------------------------------------------------------------------------------------------------
# Acquisition
# --------------------------------------------------------------------------------------------------
_C1 = 0.5 * math.log(2 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2)


def _log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z * Phi(z)), numerically stable for very negative z (Ament et al., 2023)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    big = z > -1.0
    zb = z[big]
    out[big] = np.log(np.exp(-0.5 * zb**2 - _C1) + zb * special.ndtr(zb))
    zs = z[~big]
    mid = zs > -1e4
    a = np.log(special.erfcx(-zs[mid] / math.sqrt(2)) * np.abs(zs[mid])) + _C2
    log1mexp = np.where(a > -math.log(2), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))
    tmp = np.empty_like(zs)
    tmp[mid] = -0.5 * zs[mid] ** 2 - _C1 + log1mexp
    tmp[~mid] = -0.5 * zs[~mid] ** 2 - _C1 - 2.0 * np.log(np.abs(zs[~mid]))
    out[~big] = tmp
    return out


class _Acquisition:
    """Log-EI or UCB (both to be maximised) on a fitted GP, for a minimisation problem."""

    def __init__(self, gp: _GP, best: float, kind: str, beta: float):
        self.gp, self.best, self.kind, self.beta = gp, best, kind, beta

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        for s in range(0, len(x), 2048):  # bounded memory for huge candidate sets
            mu, var = self.gp.predict(x[s : s + 2048])
            sd = np.sqrt(var)
            if self.kind == "ucb":
                out[s : s + 2048] = -(mu - self.beta * sd)
            else:
                out[s : s + 2048] = np.log(sd) + _log_h((self.best - mu) / sd)
        return out

    def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, var, dmu, dvar = self.gp.predict_grad(x)
        sd = np.sqrt(var)
        dsd = dvar / (2.0 * sd[:, None])
        if self.kind == "ucb":
            return -(mu - self.beta * sd), -(dmu - self.beta * dsd)
        z = (self.best - mu) / sd
        lh = _log_h(z)
        val = np.log(sd) + lh
        # d logEI/d mu = -Phi(z)/(sd h(z)), d logEI/d sd = phi(z)/(sd h(z))
        d_mu = -np.exp(special.log_ndtr(z) - lh) / sd
        d_sd = np.exp(-0.5 * z**2 - _C1 - lh) / sd
        return val, d_mu[:, None] * dmu + d_sd[:, None] * dsd


# --------------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------------
class GPOracle(oracle_module.Oracle):
    """Bayesian optimization with a mixed-space ARD GP; drop-in for keras-tuner's Bayesian oracle.

    Args (beyond keras_tuner.Oracle's): num_initial_points: quasi-random (scrambled Sobol) trials
    before the GP takes over (default: ``min(10, max(5, 2 * dims))``; prior observations count);
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

    # proposal ------------------------------------------------------------------------------------
    def populate_space(self, trial_id):
        if threadpool_limits is None:
            return self._populate_space_impl()
        with threadpool_limits(1):
            return self._populate_space_impl()

    def _populate_space_impl(self):
        space = _Space(self.hyperparameters)
        if not space.params:  # nothing to tune: fixed values once, then stop
            codes = np.zeros((1, 0))
            values = space.values_of(codes[0], np.zeros(0, dtype=bool))
            if self._duplicate(values):
                return {"status": trial_module.TrialStatus.STOPPED, "values": None}
            return {"status": trial_module.TrialStatus.RUNNING, "values": values}

        seen_values, obs_values, obs_scores, pending_values = [], [], [], []
        ongoing = {t.trial_id for t in self.ongoing_trials.values()}
        for trial in self.trials.values():
            values = trial.hyperparameters.values
            seen_values.append(values)
            if trial.trial_id in ongoing:
                pending_values.append(values)
            elif trial.status == trial_module.TrialStatus.COMPLETED and _finite(trial.score):
                obs_values.append(values)
                obs_scores.append(float(trial.score))
        for prior in self.prior_observations:
            seen_values.append(prior["values"])
            obs_values.append(prior["values"])
            obs_scores.append(float(prior["score"]))

        seen = {_row_key(r) for r in space.encode_values(seen_values)} if seen_values else set()
        sign = -1.0 if self.objective.direction == "max" else 1.0
        rng = np.random.default_rng(np.random.SeedSequence([int(self.seed), len(self.trials), 7]))
        n_init = self.num_initial_points or _default_initial_points(len(space.params), self.max_trials)

        pool = _Pool(space)
        if len(obs_values) < n_init:
            pool.add(self._sobol_batch(space, len(self.trials), rng), None)
            acq = None
        else:
            y = sign * np.asarray(obs_scores)
            acq = self._search_acquisition(space, pool, obs_values, y, pending_values, seen, rng)

        finite = space.cardinality() <= _ENUMERATE_MAX
        if finite:  # make exhaustion detectable and every remaining point reachable
            pool.add(space.enumerate_raw(), acq)
        choice = pool.best_new(seen, self._duplicate)
        if choice is None and not finite:  # an infinite space cannot be exhausted: fresh random points
            pool.add(rng.random((4 * self.num_candidates, len(space.params))), None)
            choice = pool.best_new(seen, self._duplicate)
        if choice is None:
            return {"status": trial_module.TrialStatus.STOPPED, "values": None}
        return {"status": trial_module.TrialStatus.RUNNING, "values": choice}

    def _sobol_batch(self, space: _Space, index: int, rng) -> np.ndarray:
        """The index-th point of this seed's scrambled Sobol sequence first, then fallbacks."""
        sob_rng = np.random.default_rng(np.random.SeedSequence([int(self.seed), 0x50B01]))
        sobol = qmc.Sobol(d=len(space.params), scramble=True, seed=sob_rng)
        if index:
            sobol.fast_forward(index)
        head = sobol.random(1)
        return np.concatenate([head, rng.random((self.num_candidates, len(space.params)))])

    def _search_acquisition(self, space, pool, obs_values, y, pending_values, seen, rng):
        """Fit the GP, then fill the pool with scored candidates; returns the acquisition."""
        x_obs = space.encode_values(obs_values)
        keep = np.isfinite(y)
        x_obs, y = x_obs[keep], y[keep]
        ys = _normalize_outputs(y)

        gp = _GP(x_obs, ys)
        n = len(ys)
        prev = self._gp_theta
        if prev is None or len(prev) != x_obs.shape[1] + 2:
            theta = gp.fit([gp.default_theta()])
        elif n <= 40:  # few data: also restart from the prior's mode
            theta = gp.fit([np.asarray(prev), gp.default_theta()])
        elif n <= 100 or n % (n // 50) == 0:
            # warm start from the last fit (kept in state); with many trials one more point moves the
            # fit little, so refit every n//50-th trial: the cost stays flat as trials grow
            theta = gp.fit([np.asarray(prev)], maxiter=30)
        else:
            theta = np.asarray(prev)
            gp.set_theta(theta)
        self._gp_theta = [float(t) for t in theta]

        if pending_values:  # distributed: condition on running trials at their predicted mean
            x_pend = space.encode_values(pending_values)
            mu_p, _ = gp.predict(x_pend)
            gp.set_theta(theta, np.vstack([x_obs, x_pend]), np.concatenate([ys, mu_p]))
        acq = _Acquisition(gp, float(ys.min()), self.acquisition, self.beta)

        p = len(space.params)
        pool.add(qmc.Sobol(d=p, scramble=True, seed=rng).random(self.num_candidates), acq)
        raw_obs = space.raw_from_values(obs_values)[keep]
        top = raw_obs[np.argsort(ys)[: min(5, len(ys))]]
        pool.add(self._perturb(space, top, 100, rng), acq)
        # second round: perturb the best new candidates more tightly, then refine them by gradient
        pool.add(self._perturb(space, pool.top_raw(5, seen), 60, rng, scales=(0.005, 0.02, 0.05)), acq)
        pool.add(self._local_search(space, acq, pool.starts(10, seen, rng)), acq)
        return acq

    def _local_search(self, space, acq, raw, rounds=3):
        """Alternate a gradient step on the numeric columns with exhaustive coordinate moves on
        each discrete parameter (choice, boolean, small int range), all points at once."""
        best = raw.copy()
        val = acq(space.from_raw(best)[2])
        coords = [j for j, p in enumerate(space.params) if p.kind != "num" or p.cardinality() <= 64]
        for _ in range(rounds):
            changed = False
            if len(space.num_cols):
                cand = self._refine(space, acq, best)
                cval = acq(space.from_raw(cand)[2])
                up = cval > val + 1e-12
                best[up], val[up], changed = cand[up], cval[up], bool(up.any())
            for j in coords:
                grid = space.params[j].grid_raw()
                cand = np.repeat(best, len(grid), axis=0)
                cand[:, j] = np.tile(grid, len(best))
                cval = acq(space.from_raw(cand)[2]).reshape(len(best), len(grid))
                arg = cval.argmax(1)
                up = cval[np.arange(len(best)), arg] > val + 1e-12
                if up.any():
                    best[up, j] = grid[arg[up]]
                    val[up] = cval[np.arange(len(best)), arg][up]
                    changed = True
            if not changed or not coords:
                break
        return best

    @staticmethod
    def _perturb(space, centers, per_center, rng, scales=(0.01, 0.05, 0.15)):
        p = len(space.params)
        reps = np.repeat(centers, per_center, axis=0)
        sd = rng.choice(np.asarray(scales), size=(len(reps), 1))
        out = reps + sd * rng.standard_normal(reps.shape)
        # discrete parameters: occasionally jump to a random value (one-at-a-time moves)
        switch = rng.random(reps.shape) < 1.0 / max(p, 1)
        out = np.where(switch & _discrete_mask(space)[None, :], rng.random(reps.shape), out)
        return np.clip(out, 0.0, 1.0)

    @staticmethod
    def _refine(space, acq, raw, maxiter=50):
        """Batched L-BFGS-B on the continuous columns of a few good candidates."""
        codes, active, x0 = space.from_raw(raw)
        cont_params = [j for j, p in enumerate(space.params) if p.kind == "num"]
        free = np.zeros_like(x0, dtype=bool)
        for j in cont_params:
            free[:, space.params[j].col] = active[:, j]
        if not free.any():
            return raw
        z0 = x0[free]

        def f(z):
            x = x0.copy()
            x[free] = z
            val, grad = acq.value_and_grad(x)
            return -val.sum(), -grad[free]

        res = optimize.minimize(
            f, z0, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * len(z0),
            options={"maxiter": maxiter},
        )
        x = x0.copy()
        x[free] = res.x
        out = raw.copy()
        for j in cont_params:
            out[:, j] = np.where(active[:, j], x[:, space.params[j].col], raw[:, j])
        return out


class _Pool:
    """Scored candidate configurations (snapped), from which the best unseen one is proposed."""

    def __init__(self, space: _Space):
        self.space = space
        self.raw, self.codes, self.active, self.x, self.scores = [], [], [], [], []

    def add(self, raw: np.ndarray, acq) -> None:
        codes, active, x = self.space.from_raw(raw)
        # unscored batches keep their order, after every scored candidate
        base = -1e300 if not self.scores else min(-1e300, min(float(s.min()) for s in self.scores))
        scores = acq(x) if acq is not None else base - np.arange(len(x), dtype=float)
        for lst, v in zip((self.raw, self.codes, self.active, self.x, self.scores),
                          (raw, codes, active, x, scores)):
            lst.append(v)

    def _cat(self):
        return [np.concatenate(v) for v in (self.raw, self.codes, self.active, self.x, self.scores)]

    def top_raw(self, k: int, seen: set) -> np.ndarray:
        raw, _, _, x, scores = self._cat()
        out = []
        for i in np.argsort(-scores, kind="stable"):
            if _row_key(x[i]) not in seen:
                out.append(raw[i])
                if len(out) == k:
                    break
        return np.array(out) if out else raw[:1]

    def starts(self, k: int, seen: set, rng) -> np.ndarray:
        """Local-search starts: the best unseen candidate plus a roulette draw (weights
        exp(acq - max), as Optuna does) for diversity."""
        raw, _, _, x, scores = self._cat()
        ok = np.array([_row_key(r) not in seen for r in x])
        if not ok.any():
            return raw[:1]
        raw, scores = raw[ok], scores[ok]
        top = int(np.argmax(scores))
        w = np.exp(scores - scores[top])
        w[top] = 0.0
        m = min(k - 1, int((w > 0).sum()))
        idx = [top]
        if m > 0:
            idx += list(rng.choice(len(raw), size=m, replace=False, p=w / w.sum()))
        return raw[idx]

    def best_new(self, seen: set, is_duplicate) -> dict | None:
        _, codes, active, x, scores = self._cat()
        for i in np.argsort(-scores, kind="stable"):
            if _row_key(x[i]) in seen:
                continue
            values = self.space.values_of(codes[i], active[i])
            if not is_duplicate(values):
                return values
        return None


def _discrete_mask(space: _Space) -> np.ndarray:
    return np.array([not p.continuous for p in space.params], dtype=bool)


def _default_initial_points(n_params: int, max_trials: int | None = None) -> int:
    """2 per parameter, 5..10 — and never more than a third of a small budget (at least 3), so a
    12-trial search gets 8 model-guided trials instead of 2."""
    n = min(10, max(5, 2 * n_params))
    if max_trials:
        n = min(n, max(3, max_trials // 3))
    return n


def _standardize(y: np.ndarray) -> np.ndarray:
    sd = y.std()
    return (y - y.mean()) / (sd if sd > 0 else 1.0)


def _normalize_outputs(y: np.ndarray) -> np.ndarray:
    """Standardize (a log or Yeo-Johnson warp was tried: it made the search greedier and worse)."""
    return _standardize(y)


def _as_float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


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
