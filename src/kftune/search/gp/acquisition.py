"""Which candidate next: the acquisition function and its optimiser.

keras-tuner's Bayesian oracle runs 50 per-point L-BFGS-B restarts per proposal (seconds each). Here
the acquisition is maximised over a large batch at once, as numpy matrix operations: a scrambled
Sobol batch, Gaussian perturbations of the best observed configurations, a tighter second round
around the best new candidates, then a short batched gradient + coordinate refinement. Every
candidate is snapped to a legal configuration before it is scored (:class:`CandidatePool`), so the
best unseen one can be proposed as is. All randomness comes from the ``rng`` the caller passes, in a
fixed order: the same oracle state gives the same proposal.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special
from scipy.stats import qmc

from kftune.search.gp.encoding import Space, row_keys
from kftune.search.gp.model import GP

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


class Acquisition:
    """Log-EI or UCB (both to be maximised) on a fitted GP, for a minimisation problem.

    Log-EI rather than EI: far from the incumbent EI underflows to 0 and every candidate ties."""

    def __init__(self, gp: GP, best: float, kind: str, beta: float):
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
# Candidates
# --------------------------------------------------------------------------------------------------
class CandidatePool:
    """Scored candidate configurations (snapped), from which the best unseen one is proposed."""

    def __init__(self, space: Space):
        self.space = space
        self.raw, self.codes, self.active, self.x, self.scores = [], [], [], [], []

    def add(self, raw: np.ndarray, acq: Acquisition | None) -> None:
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
        out, keys = [], row_keys(x)
        for i in np.argsort(-scores, kind="stable"):
            if keys[i] not in seen:
                out.append(raw[i])
                if len(out) == k:
                    break
        return np.array(out) if out else raw[:1]

    def starts(self, k: int, seen: set, rng) -> np.ndarray:
        """Local-search starts: the best unseen candidate plus a roulette draw (weights
        exp(acq - max), as Optuna does) for diversity."""
        raw, _, _, x, scores = self._cat()
        ok = np.array([key not in seen for key in row_keys(x)])
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
        keys = row_keys(x)
        for i in np.argsort(-scores, kind="stable"):
            if keys[i] in seen:
                continue
            values = self.space.values_of(codes[i], active[i])
            if not is_duplicate(values):
                return values
        return None


def initial_batch(space: Space, seed: int, index: int, rng, num_candidates: int) -> np.ndarray:
    """The index-th point of this seed's scrambled Sobol sequence first, then random fallbacks
    (a resumed search continues the same sequence: the stream depends only on seed and index)."""
    sob_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x50B01]))
    sobol = qmc.Sobol(d=len(space.params), scramble=True, seed=sob_rng)
    if index:
        sobol.fast_forward(index)
    head = sobol.random(1)
    return np.concatenate([head, rng.random((num_candidates, len(space.params)))])


# --------------------------------------------------------------------------------------------------
# The optimiser
# --------------------------------------------------------------------------------------------------
def maximize(space: Space, pool: CandidatePool, acq: Acquisition, raw_obs: np.ndarray, y_obs: np.ndarray,
             seen: set, rng, num_candidates: int, box=None) -> None:
    """Fill ``pool`` with scored candidates around the acquisition's maxima (inside ``box``, a
    trust region (lo, hi) on the raw columns, when given).

    raw_obs, y_obs: the observed configurations (raw columns) and their standardised scores (lower is
    better); the best five are the centres of the first perturbation round."""
    p = len(space.params)
    lo, hi = box if box is not None else (np.zeros(p), np.ones(p))
    pool.add(lo + (hi - lo) * qmc.Sobol(d=p, scramble=True, seed=rng).random(num_candidates), acq)
    top = raw_obs[np.argsort(y_obs)[: min(5, len(y_obs))]]
    pool.add(np.clip(perturb(space, top, 100, rng), lo, hi), acq)
    # second round: perturb the best new candidates more tightly, then refine them by gradient
    pool.add(np.clip(perturb(space, pool.top_raw(5, seen), 60, rng, scales=(0.005, 0.02, 0.05)), lo, hi), acq)
    pool.add(np.clip(local_search(space, acq, pool.starts(10, seen, rng)), lo, hi), acq)


def perturb(space: Space, centers: np.ndarray, per_center: int, rng, scales=(0.01, 0.05, 0.15)) -> np.ndarray:
    p = len(space.params)
    reps = np.repeat(centers, per_center, axis=0)
    sd = rng.choice(np.asarray(scales), size=(len(reps), 1))
    out = reps + sd * rng.standard_normal(reps.shape)
    # discrete parameters: occasionally jump to a random value (one-at-a-time moves)
    switch = rng.random(reps.shape) < 1.0 / max(p, 1)
    out = np.where(switch & space.discrete_mask()[None, :], rng.random(reps.shape), out)
    return np.clip(out, 0.0, 1.0)


def local_search(space: Space, acq: Acquisition, raw: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Alternate a gradient step on the numeric columns with exhaustive coordinate moves on
    each discrete parameter (choice, boolean, small int range), all points at once."""
    best = raw.copy()
    val = acq(space.from_raw(best)[2])
    coords = [j for j, p in enumerate(space.params) if p.kind != "num" or p.cardinality() <= 64]
    for _ in range(rounds):
        changed = False
        if len(space.num_cols):
            cand = refine(space, acq, best)
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


def refine(space: Space, acq: Acquisition, raw: np.ndarray, maxiter: int = 50) -> np.ndarray:
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
