"""Early stopping across trials (tuner.early_stopping): the oracle's rule, and real searches with it."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import keras_tuner as kt
import pytest
import yaml

from kftune import load_spec, tune
from kftune.oracle import GPOracle
from kftune.search.earlystop import EPOCH_METRIC, Rule, epochs_reached, stopped_observation, with_early_stopping

ROOT = Path(__file__).resolve().parents[1]


def _oracle(tmp_path, rule: Rule, cls=GPOracle, direction="min", **kw):
    hps = kt.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    oracle = with_early_stopping(cls, rule)(objective=kt.Objective("obj", direction), hyperparameters=hps,
                                            max_trials=50, seed=1, **kw)
    oracle._set_project_dir(str(tmp_path), "es")
    return oracle


def _run(oracle, curve, epochs):
    """One trial reporting ``curve[e]`` after each epoch, as the Keras callback does; (status, epochs)."""
    trial = oracle.create_trial("tuner0")
    stopped = None
    for e in range(epochs):
        answer = oracle.update_trial(trial.trial_id, {EPOCH_METRIC: curve[e]}, step=e)
        if answer.status == "STOPPED":
            stopped = e + 1
            break
    best = min(curve[: stopped or epochs]) if oracle.objective.direction == "min" else max(curve[: stopped or epochs])
    oracle.update_trial(trial.trial_id, {"obj": best})
    trial.status = "STOPPED" if stopped else "COMPLETED"
    oracle.end_trial(trial)
    return oracle.trials[trial.trial_id], stopped


def test_median_rule_stops_a_trial_behind_the_completed_ones(tmp_path):
    oracle = _oracle(tmp_path, Rule("median", min_epochs=2, min_trials=3, max_epochs=5))
    good = [1.0, 0.8, 0.6, 0.5, 0.4]
    for shift in (0.0, 0.05, 0.1):  # three completed trials to compare with
        trial, stopped = _run(oracle, [v + shift for v in good], 5)
        assert stopped is None and trial.status == "COMPLETED"
    bad = [2.0, 1.9, 1.8, 1.7, 1.6]
    trial, stopped = _run(oracle, bad, 5)
    assert stopped == 2  # not before min_epochs, then at once
    assert trial.status == "STOPPED" and trial.score == pytest.approx(1.9) and epochs_reached(trial) == 2
    better = [0.9, 0.7, 0.5, 0.4, 0.3]  # ahead of the median: runs to the end
    trial, stopped = _run(oracle, better, 5)
    assert stopped is None and trial.status == "COMPLETED" and trial.score == pytest.approx(0.3)
    assert oracle.get_best_trials(1)[0].trial_id == trial.trial_id  # a stopped trial is never the best


def test_median_rule_waits_for_min_trials_and_never_stops_at_the_last_epoch(tmp_path):
    oracle = _oracle(tmp_path, Rule("median", min_epochs=1, min_trials=2, max_epochs=3))
    _, stopped = _run(oracle, [0.1, 0.1, 0.1], 3)
    assert stopped is None
    _, stopped = _run(oracle, [5.0, 5.0, 5.0], 3)
    assert stopped is None  # one completed trial only
    oracle2 = _oracle(tmp_path / "b", Rule("median", min_epochs=3, min_trials=1, max_epochs=3))
    _run(oracle2, [0.1, 0.1, 0.1], 3)
    _, stopped = _run(oracle2, [5.0, 5.0, 5.0], 3)
    assert stopped is None  # epoch 3 of 3 is the end, not a stop


def test_asha_rule_keeps_the_top_third_at_each_rung(tmp_path):
    oracle = _oracle(tmp_path, Rule("asha", min_epochs=1, min_trials=2, reduction_factor=3, max_epochs=9),
                     direction="max")
    results = []
    for level in (0.5, 0.6, 0.7, 0.2, 0.9):
        _, stopped = _run(oracle, [level + 0.01 * e for e in range(9)], 9)
        results.append(stopped)
    # rungs at epochs 1, 3, 9: the first two see < 2 others; 0.7 is the best of three; 0.2 is not in the top
    # third of four; 0.9 is the best of five.
    assert results == [None, None, None, 1, None]


def test_stop_decisions_survive_a_state_round_trip(tmp_path):
    rule = Rule("median", min_epochs=1, min_trials=1, max_epochs=4)
    oracle = _oracle(tmp_path, rule)
    _run(oracle, [0.1, 0.1, 0.1, 0.1], 4)
    trial = oracle.create_trial("tuner0")
    answer = oracle.update_trial(trial.trial_id, {EPOCH_METRIC: 3.0}, step=0)
    assert answer.status == "STOPPED" and oracle.trials[trial.trial_id].status == "RUNNING"
    state = oracle.get_state()
    assert state["stopped_at"] == {trial.trial_id: 1} and state["early_stopping"]["rule"] == "median"
    other = _oracle(tmp_path / "b", rule)
    other.trials = oracle.trials
    other.set_state(state)
    assert other.stopped_at == {trial.trial_id: 1}


def test_gp_learns_a_stopped_trial_at_a_capped_pessimistic_value(tmp_path):
    assert stopped_observation(5.0, [0.1, 0.3], "min") == pytest.approx(0.5)  # one range beyond the worst
    assert stopped_observation(0.2, [0.1, 0.3], "min") == 0.2
    assert stopped_observation(0.1, [0.8, 0.9], "max") == pytest.approx(0.7)
    assert stopped_observation(5.0, [0.1], "min") == 5.0
    oracle = _oracle(tmp_path, Rule("median", min_epochs=1, min_trials=1, max_epochs=3), num_initial_points=2)
    _run(oracle, [0.1, 0.1, 0.1], 3)
    _run(oracle, [0.2, 0.2, 0.2], 3)
    _, stopped = _run(oracle, [9.0, 9.0, 9.0], 3)
    assert stopped == 1
    seen, obs, scores, pending = oracle._history()
    assert len(obs) == 3 and sorted(scores) == pytest.approx([0.1, 0.2, 9.0])  # both stopped ones at their value
    proposal = oracle.populate_space("x")
    assert proposal["status"] == "RUNNING"  # and the GP phase runs with it


def test_random_search_with_early_stopping_proposes_no_duplicates(tmp_path):
    oracle = _oracle(tmp_path, Rule("median", min_epochs=1, min_trials=1, max_epochs=3), cls=kt.oracles.RandomSearchOracle)
    xs = []
    for i in range(8):
        trial, _ = _run(oracle, [float(i % 3)] * 3, 3)
        xs.append(trial.hyperparameters.values["x"])
    assert len(set(xs)) == 8
    assert {t.status for t in oracle.trials.values()} == {"COMPLETED", "STOPPED"}


# --------------------------------------------------------------------------- real searches
def _spec(train: Path, algorithm: str, **es) -> dict:
    lines = (ROOT / "examples" / "data" / "digits.csv").read_text().splitlines()[:301]
    train.write_text("\n".join(lines) + "\n")
    return {
        "name": "es",
        "model": "kftune.hypermodels:mlp_classifier",
        "data": {"train": str(train), "label": "target", "validation_split": 0.25},
        "objective": {"metric": "val_accuracy", "direction": "max"},
        "search_space": {
            "units": {"type": "int", "min": 8, "max": 32, "step": 8},
            "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-1, "sampling": "log"},
        },
        "tuner": {"algorithm": algorithm, "max_trials": 6, "seed": 5, "num_initial_points": 3,
                  "early_stopping": {"rule": "median", "min_epochs": 1, "min_trials": 1, **es}}
        if algorithm == "bayesian" else
        {"algorithm": algorithm, "max_trials": 6, "seed": 5,
         "early_stopping": {"rule": "median", "min_epochs": 1, "min_trials": 1, **es}},
        "training": {"epochs": 4, "batch_size": 32},
    }


def _rows(run_dir: Path) -> list[dict]:
    with (run_dir / "trials.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("algorithm", ["bayesian", "random"])
def test_a_search_stops_trials_records_them_and_resumes(tmp_path: Path, algorithm: str) -> None:
    spec = _spec(tmp_path / "tiny.csv", algorithm)
    first = copy.deepcopy(spec)
    first["tuner"]["max_trials"] = 4
    tune(first, str(tmp_path / "run"), progress=False)
    result = tune(spec, str(tmp_path / "run"), progress=False)  # resumed: same spec hash, more trials
    rows = _rows(tmp_path / "run")
    assert len(rows) == 6 and result.trials_completed == sum(r["status"] == "COMPLETED" for r in rows)
    statuses = {r["status"] for r in rows}
    assert statuses <= {"COMPLETED", "STOPPED"} and "STOPPED" in statuses, rows
    for r in rows:
        assert r["objective"]  # a stopped trial shows the value it reached
        epochs = int(r["epochs"])
        assert (epochs == 4) if r["status"] == "COMPLETED" else (1 <= epochs < 4)
    best = json.loads((tmp_path / "run" / "best_hyperparameters.json").read_text())
    assert best["trial_id"] in {r["trial_id"] for r in rows if r["status"] == "COMPLETED"}
    assert "STOPPED" in (tmp_path / "run" / "report.html").read_text()
    state = json.loads((tmp_path / "run" / "state" / "oracle.json").read_text())
    assert set(state["stopped_at"]) == {r["trial_id"] for r in rows if r["status"] == "STOPPED"}


def test_spec_section_and_hash() -> None:
    base = {"name": "x", "model": "kftune.hypermodels:mlp_classifier", "data": {"train": "a.csv"},
            "objective": {"metric": "val_loss"}}
    plain = load_spec(base)
    assert "early_stopping" not in plain.search_fingerprint()["tuner"]  # old specs keep their hash
    with_es = load_spec(dict(base, tuner={"algorithm": "random", "early_stopping": {"rule": "asha"}}))
    assert with_es.tuner.early_stopping.reduction_factor == 3
    with pytest.raises(ValueError, match="early_stopping"):
        load_spec(dict(base, tuner={"algorithm": "hyperband", "early_stopping": {"rule": "median"}}))
    with pytest.raises(ValueError, match="rule"):
        load_spec(dict(base, tuner={"algorithm": "random", "early_stopping": {"rule": "sometimes"}}))


@pytest.mark.slow
def test_distributed_workers_are_stopped_by_the_chief(tmp_path: Path) -> None:
    from test_distributed import free_port, start, wait_all

    spec = _spec(tmp_path / "tiny.csv", "random")
    spec["tuner"]["max_trials"] = 5
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "run"
    port = free_port()
    procs = {tid: start(path, out, tid, port, tmp_path) for tid in ("chief", "worker-0", "worker-1")}
    wait_all(procs, tmp_path, timeout=900)
    rows = _rows(out)
    assert len(rows) == 5 and "STOPPED" in {r["status"] for r in rows}, rows
    assert all(int(r["epochs"]) < 4 for r in rows if r["status"] == "STOPPED")


def test_warm_start_from_a_run_with_stopped_trials(tmp_path: Path) -> None:
    first = _spec(tmp_path / "tiny.csv", "random")
    first["tuner"]["max_trials"] = 5
    tune(first, str(tmp_path / "a"), progress=False)
    second = _spec(tmp_path / "tiny.csv", "bayesian")
    second["tuner"]["max_trials"] = 4
    second["warm_start"] = {"from": str(tmp_path / "a"), "top_k": 2}
    tune(second, str(tmp_path / "b"), progress=False)
    before = {r["trial_id"]: r for r in _rows(tmp_path / "a")}
    after = _rows(tmp_path / "b")
    assert len(after) == 4 and {r["status"] for r in after} <= {"COMPLETED", "STOPPED"}
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    # only completed trials are carried over (a stopped trial's value is not a finished result)
    completed = sum(r["status"] == "COMPLETED" for r in before.values())
    assert run["warm_start"]["previous_completed"] == completed
    assert run["warm_start"]["prior_observations"] == completed
