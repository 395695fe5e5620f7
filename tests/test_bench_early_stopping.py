"""The early-stopping benchmark's ceiling: what a rule that knew the future reaches on `none`'s trials."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_early_stopping as bench  # noqa: E402


def _run(objectives, epochs=15):
    return {"task": "digits_mlp_wide", "direction": "max",
            "trials": [{"status": "COMPLETED", "objective": o, "epochs": epochs, "seconds": 1.0} for o in objectives]}


def test_perfect_stopper_trains_protected_trials_and_the_winner_in_full():
    run = _run([0.5, 0.6, 0.7, 0.2, 0.3, 0.95, 0.9])
    # three protected trials (45) + two stopped after 1 epoch + the winner's 15
    assert bench.perfect_stopper(run, 0.94) == 45 + 2 + 15
    assert bench.to_target(run, 0.94)[0] == 6 * 15
    assert bench.perfect_stopper(run, 0.94, min_trials=1, min_epochs=2) == 15 + 4 * 2 + 15


def test_perfect_stopper_is_none_itself_when_the_target_comes_early_or_never():
    run = _run([0.5, 0.95, 0.7, 0.2])
    assert bench.perfect_stopper(run, 0.94) == bench.to_target(run, 0.94)[0] == 30
    assert bench.perfect_stopper(run, 0.99) == np.inf
