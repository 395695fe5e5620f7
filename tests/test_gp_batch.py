"""GPOracle with many trials in flight (distributed search, 8-16 workers): the kriging believer's
proposals are distinct, never a running or finished configuration, and reproducible from the oracle's
state; a finite space is exhausted without a duplicate (docs/benchmarks-search-parallel.md)."""

from __future__ import annotations

import math

import keras_tuner as kt

from kftune.oracle import GPOracle


def _branin(v):
    x1, x2 = v["x1"], v["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def _space():
    hps = kt.HyperParameters()
    hps.Float("x1", -5.0, 10.0)
    hps.Float("x2", 0.0, 15.0)
    return hps


def _oracle(tmp_path, name, hps=None, **kw):
    kw.setdefault("max_trials", 100)
    kw.setdefault("seed", 3)
    oracle = GPOracle(objective=kt.Objective("obj", "min"), hyperparameters=hps or _space(), **kw)
    oracle._set_project_dir(str(tmp_path), name)
    return oracle


def _key(values):
    return tuple(sorted((k, repr(v)) for k, v in values.items()))


def _end(oracle, trial, f):
    oracle.update_trial(trial.trial_id, {"obj": f(dict(trial.hyperparameters.values))})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def _sixteen_running_three_done(oracle):
    """16 workers start at once; the first three to finish ask again (15 others still running)."""
    running = [oracle.create_trial(f"w{i}") for i in range(16)]
    for _ in range(3):
        _next(oracle, running, _branin)
    return running


def _next(oracle, running, f):
    """The oldest running trial completes; its worker asks for the next one (appended to running)."""
    trial = running.pop(0)
    tuner_id = next(t for t, tr in oracle.ongoing_trials.items() if tr.trial_id == trial.trial_id)
    _end(oracle, trial, f)
    nxt = oracle.create_trial(tuner_id)
    if nxt.status == "RUNNING":
        running.append(nxt)
    return nxt


def test_sixteen_running_proposals_are_distinct_and_reproducible(tmp_path):
    a = _oracle(tmp_path, "a")
    running = _sixteen_running_three_done(a)
    for _ in range(8):  # eight more asynchronous completions, the GP proposing with 15 in flight
        _next(a, running, _branin)
    assert all(t.status == "RUNNING" for t in running)
    keys = [_key(t.hyperparameters.values) for t in a.trials.values()]
    assert len(keys) == len(set(keys)) == 27
    # the same oracle state gives the same proposal (resume depends on it)
    b = _oracle(tmp_path, "b")
    b.trials = a.trials
    b.ongoing_trials = dict(a.ongoing_trials)
    b.set_state(a.get_state())
    proposal = a.populate_space("x")["values"]
    assert proposal == b.populate_space("x")["values"]
    assert _key(proposal) not in set(keys)


def test_finite_space_many_workers_no_duplicates_then_stopped(tmp_path):
    hps = kt.HyperParameters()
    hps.Int("a", 1, 4)
    hps.Choice("b", ["x", "y", "z"])
    oracle = _oracle(tmp_path, "finite", hps=hps, max_trials=50)
    f = lambda v: v["a"] + (v["b"] == "y")  # noqa: E731
    running = [oracle.create_trial(f"w{i}") for i in range(8)]
    proposed = [_key(t.hyperparameters.values) for t in running]
    statuses = []
    while running:
        nxt = _next(oracle, running, f)
        statuses.append(nxt.status)
        if nxt.status == "RUNNING":
            proposed.append(_key(nxt.hyperparameters.values))
    assert len(proposed) == len(set(proposed)) == 12
    assert statuses[-1] == "STOPPED"
