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


def test_a_random_search_task_trains_the_same_proposals_and_borrows_hyperbands_runs(tmp_path):
    none = bench.task_spec("digits_mlp_wide_random", "none", 3)
    median = bench.task_spec("digits_mlp_wide_random", "median", 3)
    assert none["tuner"] == {"algorithm": "random", "max_trials": 20, "seed": 3, "max_consecutive_failed_trials": 10}
    assert median["tuner"] == dict(none["tuner"], early_stopping={"rule": "median"})
    assert bench.task_spec("digits_mlp_wide", "none", 3)["tuner"]["algorithm"] == "bayesian"

    def run(task, method, seed, objectives, epochs):
        return dict(_run(objectives), task=task, method=method, seed=seed,
                    trials=[{"status": "COMPLETED", "objective": o, "epochs": e, "seconds": 1.0}
                            for o, e in zip(objectives, epochs)])

    objectives = [0.5, 0.6, 0.7, 0.2, 0.3, 0.95]
    runs = [run("digits_mlp_wide_random", "none", s, objectives, [15] * 6) for s in (1, 2)]
    runs += [run("digits_mlp_wide_random", "median", s, objectives, [15, 15, 15, 1, 1, 15]) for s in (1, 2)]
    runs += [run("digits_mlp_wide", "hyperband", s, [0.4, 0.95], [2, 40]) for s in (1, 2)]
    text = bench.report(runs, tmp_path / "r.md", [])
    section = text.split("## digits_mlp_wide_random")[1].split("\n## ")[0]
    rows = {line.split(" | ")[0].strip("| ") for line in section.splitlines() if line.startswith("| ") and "---" not in line}
    assert rows == {"method", "none", "median", "hyperband"}  # no asha run: no asha row
    assert "random search" in section
    # 90 epochs for none, 62 for median (same proposals), 42 for Hyperband
    assert "| digits_mlp_wide_random: median reaches the target in >= 2x fewer epochs than none (median) | **no** | 1.45x" in text
    assert "| digits_mlp_wide_random: median needs no more epochs than Hyperband (median) | **no** | 62 vs 42 |" in text
    assert "digits_mlp_wide: " not in text  # the Bayesian task has no `none` run: no table, no target
