"""Test objectives with known optima for the search-quality benchmark (no training needed).

Each problem is a list of parameter specs (one neutral description, turned into keras-tuner
HyperParameters or Optuna distributions by the harness) plus ``f(values) -> float`` to minimise and
its known minimum ``f_min``, so simple regret = best_found - f_min.
"""

from __future__ import annotations

import dataclasses
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
    when: tuple = ()  # (parent name, allowed parent values): active only then (conditional parameter)


@dataclass(frozen=True)
class Problem:
    name: str
    params: tuple[Param, ...]
    f: Callable[[dict], float]
    f_min: float
    optimum: dict
    # Gaussian noise added to every observed score (a validation metric's run-to-run spread); the
    # harness then scores the trial a user would pick (the best observed) at its noiseless value.
    noise_sd: float = 0.0


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

def _mixed6(v: dict) -> float:
    """Six parameters (two log floats, a log int, an int, a 4-way choice that moves the optimum, a
    boolean whose right value depends on the choice). Each branch is a bounded bowl
    ``offset + height * (1 - exp(-q / 2))``: branch "a" is broad and shallow-offset (easy to find,
    regret 0.35), branch "b" holds the optimum (f = 0) in a narrow bowl, so a search that settles in
    "a" after its first hits never finds "b" unless it keeps exploring the choice."""
    off, s, lr0, wd0, u0, l0, bn_good = _MIX6[v["optimizer"]]
    a = math.log10(v["learning_rate"]) - lr0
    b = math.log10(v["weight_decay"]) - wd0
    w = math.log2(v["units"]) - u0
    q = a**2 + 0.3 * b**2 + 0.25 * w**2 + 0.3 * a * w + 0.15 * (v["layers"] - l0) ** 2
    q = s * q + (0.0 if v["batch_norm"] == bn_good else 0.8)
    return off + 1.5 * (1.0 - math.exp(-0.5 * q))


_MIX6 = {  # choice: (offset, sharpness, log10 lr*, log10 wd*, log2 units*, layers*, right batch_norm)
    "a": (0.35, 0.25, -2.0, -4.0, 8.0, 4, True),
    "b": (0.0, 4.0, -3.5, -5.0, 5.0, 2, False),
    "c": (0.6, 1.0, -1.5, -3.0, 9.0, 6, True),
    "d": (0.9, 0.6, -4.5, -2.5, 6.0, 1, False),
}

MIXED6 = Problem(
    "mixed6",
    (
        Param("learning_rate", "float", 1e-5, 1e-1, log=True),
        Param("weight_decay", "float", 1e-6, 1e-2, log=True),
        Param("units", "int", 16, 1024, log=True),
        Param("layers", "int", 1, 8),
        Param("optimizer", "choice", choices=("a", "b", "c", "d")),
        Param("batch_norm", "choice", choices=(False, True)),
    ),
    _mixed6,
    0.0,
    {"learning_rate": 10**-3.5, "weight_decay": 1e-5, "units": 32, "layers": 2, "optimizer": "b",
     "batch_norm": False},
)


def _conditional(v: dict) -> float:
    """A model switch with per-branch parameters (conditional) and an optimizer switch whose
    momentum exists only for sgd. Optimum f = 0: model="cnn", filters=64, kernel=5, lr=10**-2.5,
    optimizer="sgd", momentum=0.9."""
    lr = math.log10(v["learning_rate"])
    if v["model"] == "linear":
        f = 0.8 + 0.3 * (lr + 1.5) ** 2
    elif v["model"] == "mlp":
        f = 0.3 + 0.4 * (lr + 3.0) ** 2 + 0.1 * (math.log2(v["units"]) - 7) ** 2 + 0.05 * (v["depth"] - 3) ** 2
    else:
        f = 0.3 * (lr + 2.5) ** 2 + 0.15 * (math.log2(v["filters"]) - 6) ** 2 + {3: 0.25, 5: 0.0, 7: 0.15}[v["kernel"]]
    if v["optimizer"] == "sgd":
        f += 1.5 * (v["momentum"] - 0.9) ** 2
    else:
        f += 0.12
    return f


CONDITIONAL = Problem(
    "conditional",
    (
        Param("model", "choice", choices=("linear", "mlp", "cnn")),
        Param("units", "int", 16, 512, log=True, when=("model", ("mlp",))),
        Param("depth", "int", 1, 6, when=("model", ("mlp",))),
        Param("filters", "int", 8, 256, log=True, when=("model", ("cnn",))),
        Param("kernel", "choice", choices=(3, 5, 7), when=("model", ("cnn",))),
        Param("learning_rate", "float", 1e-5, 1e-1, log=True),
        Param("optimizer", "choice", choices=("adam", "sgd")),
        Param("momentum", "float", 0.0, 0.99, when=("optimizer", ("sgd",))),
    ),
    _conditional,
    0.0,
    {"model": "cnn", "filters": 64, "kernel": 5, "learning_rate": 10**-2.5, "optimizer": "sgd", "momentum": 0.9},
)

# The same functions observed with noise of 10% of their standard deviation over the box (Branin 50,
# Hartmann6 0.40, from 5000 uniform points): validation metrics move that much from run to run.
BRANIN_NOISY = dataclasses.replace(BRANIN, name="branin_noisy", noise_sd=5.0)
HARTMANN6_NOISY = dataclasses.replace(HARTMANN6, name="hartmann6_noisy", noise_sd=0.04)

PROBLEMS = {p.name: p for p in (BRANIN, HARTMANN6, MIXED, MIXED6, CONDITIONAL, BRANIN_NOISY, HARTMANN6_NOISY)}


def active(p: Param, values: dict) -> bool:
    return not p.when or values.get(p.when[0], object()) in p.when[1]


def to_keras_tuner(problem: Problem):
    import contextlib

    import keras_tuner as kt

    hps = kt.HyperParameters()
    for p in problem.params:
        scope = hps.conditional_scope(p.when[0], list(p.when[1])) if p.when else contextlib.nullcontext()
        with scope:
            if p.kind == "float":
                hps.Float(p.name, p.low, p.high, sampling="log" if p.log else "linear")
            elif p.kind == "int":
                hps.Int(p.name, int(p.low), int(p.high), sampling="log" if p.log else "linear")
            elif p.choices == (False, True):
                hps.Boolean(p.name)
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


# --------------------------------------------------------------------------------------------------
# BBOB (the COCO platform's noiseless suite, PyPI coco-experiment): "bbob_f08_d05", instance = seed
# --------------------------------------------------------------------------------------------------
BBOB_NAMES = {
    1: "sphere", 2: "ellipsoid", 3: "rastrigin", 4: "buche-rastrigin", 5: "linear slope",
    6: "attractive sector", 7: "step ellipsoid", 8: "rosenbrock", 9: "rosenbrock rotated",
    10: "ellipsoid rotated", 11: "discus", 12: "bent cigar", 13: "sharp ridge", 14: "different powers",
    15: "rastrigin rotated", 16: "weierstrass", 17: "schaffer f7", 18: "schaffer f7 ill-cond.",
    19: "griewank-rosenbrock", 20: "schwefel", 21: "gallagher 101", 22: "gallagher 21", 23: "katsuura",
    24: "lunacek bi-rastrigin",
}


def bbob_name(function: int, dim: int) -> str:
    return f"bbob_f{function:02d}_d{dim:02d}"


def is_bbob(name: str) -> bool:
    return name.startswith("bbob_f")


def bbob_problem(name: str, instance: int) -> Problem:
    """A BBOB function as a Problem over x0..x{d-1} in [-5, 5]; f_min from the instance's optimum."""
    import os
    import tempfile

    import cocoex

    function, dim = int(name[6:8]), int(name[10:12])
    # "instances:" in the suite's instance options: its default (the year's) set has only 1-5 and 71-80
    suite = cocoex.Suite("bbob", f"instances: {instance}", f"dimensions:{dim} function_indices:{function}")
    problem = suite.get_problem_by_function_dimension_instance(function, dim, instance)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:  # cocoex writes the optimum to a file in the cwd
        os.chdir(tmp)
        try:
            problem._best_parameter("print")
            xopt = np.atleast_1d(np.loadtxt("._bbob_problem_best_parameter.txt"))
        finally:
            os.chdir(here)
    f_min = float(problem(xopt))
    names = [f"x{i}" for i in range(dim)]

    def f(v: dict) -> float:
        return float(problem(np.array([v[n] for n in names], dtype=float)))

    params = tuple(Param(n, "float", -5.0, 5.0) for n in names)
    return Problem(name, params, f, f_min, {n: float(x) for n, x in zip(names, xopt)})


def get_problem(name: str, seed: int) -> Problem:
    """The problem to run for ``seed``: BBOB uses instance ``seed`` (a shifted/rotated copy)."""
    return bbob_problem(name, seed) if is_bbob(name) else PROBLEMS[name]


if __name__ == "__main__":  # sanity: the stated optima
    for prob in PROBLEMS.values():
        print(prob.name, prob.f(prob.optimum), prob.f_min)
    for fn in (1, 8, 21):
        prob = bbob_problem(bbob_name(fn, 5), 3)
        print(prob.name, prob.f(prob.optimum), prob.f_min)
