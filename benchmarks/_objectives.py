"""Test objectives with known optima for the search-quality benchmark (no training needed).

Each problem is a list of parameter specs (one neutral description, turned into keras-tuner
HyperParameters or Optuna distributions by the harness) plus ``f(values) -> float`` to minimise and
its known minimum ``f_min``, so simple regret = best_found - f_min.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "int" | "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()


@dataclass(frozen=True)
class Problem:
    name: str
    params: tuple[Param, ...]
    f: Callable[[dict], float]
    f_min: float
    optimum: dict


def _branin(v: dict) -> float:
    x1, x2 = v["x1"], v["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN = Problem(
    "branin",
    (Param("x1", "float", -5.0, 10.0), Param("x2", "float", 0.0, 15.0)),
    _branin,
    0.397887357729738,
    {"x1": math.pi, "x2": 2.275},
)

_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann6(v: dict) -> float:
    x = np.array([v[f"x{i}"] for i in range(6)])
    return float(-(_H_ALPHA * np.exp(-(_H_A * (x - _H_P) ** 2).sum(1))).sum())


HARTMANN6 = Problem(
    "hartmann6",
    tuple(Param(f"x{i}", "float", 0.0, 1.0) for i in range(6)),
    _hartmann6,
    -3.3223680114155147,
    {f"x{i}": x for i, x in enumerate([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])},
)

# Mixed space: a log-scaled learning rate, a log-scaled int width, an int depth, a linear float and a
# 3-way unordered choice; each choice has its own optimum location and offset, the global optimum
# (f = 0) is reachable exactly on the grid: optimizer="b", lr=10**-3.5, units=64, layers=2, dropout=0.1.
_MIX = {  # choice: (offset, scale, log10 lr*, log2 units*, layers*, dropout*)
    "a": (0.6, 1.0, -2.0, 8.0, 4.0, 0.3),
    "b": (0.0, 1.5, -3.5, 6.0, 2.0, 0.1),
    "c": (1.2, 0.7, -1.5, 5.0, 1.0, 0.0),
}


def _mixed(v: dict) -> float:
    off, s, u0, w0, l0, d0 = _MIX[v["optimizer"]]
    u = math.log10(v["learning_rate"]) - u0
    w = math.log2(v["units"]) - w0
    q = u**2 + 0.35 * w**2 + 0.5 * u * w + 0.3 * (v["layers"] - l0) ** 2 + 8.0 * (v["dropout"] - d0) ** 2
    # a little ruggedness in the learning rate, still zero at the optimum
    q += 0.4 * math.sin(3.0 * u) ** 2
    return off + s * q


MIXED = Problem(
    "mixed",
    (
        Param("learning_rate", "float", 1e-5, 1e-1, log=True),
        Param("units", "int", 8, 512, log=True),
        Param("layers", "int", 1, 6),
        Param("dropout", "float", 0.0, 0.5),
        Param("optimizer", "choice", choices=("a", "b", "c")),
    ),
    _mixed,
    0.0,
    {"learning_rate": 10**-3.5, "units": 64, "layers": 2, "dropout": 0.1, "optimizer": "b"},
)

PROBLEMS = {p.name: p for p in (BRANIN, HARTMANN6, MIXED)}


def to_keras_tuner(problem: Problem):
    import keras_tuner as kt

    hps = kt.HyperParameters()
    for p in problem.params:
        if p.kind == "float":
            hps.Float(p.name, p.low, p.high, sampling="log" if p.log else "linear")
        elif p.kind == "int":
            hps.Int(p.name, int(p.low), int(p.high), sampling="log" if p.log else "linear")
        else:
            hps.Choice(p.name, list(p.choices))
    return hps


def to_optuna(problem: Problem) -> dict:
    import optuna

    out = {}
    for p in problem.params:
        if p.kind == "float":
            out[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
        elif p.kind == "int":
            out[p.name] = optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[p.name] = optuna.distributions.CategoricalDistribution(list(p.choices))
    return out


if __name__ == "__main__":  # sanity: the stated optima
    for prob in PROBLEMS.values():
        print(prob.name, prob.f(prob.optimum), prob.f_min)
