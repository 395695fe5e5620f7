"""The search benchmark reads each budget from a search of that budget (benchmarks/_search_report.py).

kftune's start depends on ``max_trials`` (3 quasi-random trials when the budget is under 10 per
parameter, else 2 per parameter), so the first 25 trials of a 100-trial run are not what a user who
asked for 25 trials gets; the peers' starts are fixed, so for them a prefix is the same search.
"""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _search_report as report  # noqa: E402
import search_quality as harness  # noqa: E402


def _run(method, seed, regret, max_trials=None, duplicates=0):
    return {"method": method, "problem": "bbob_f01_d05", "seed": seed, "regret": list(regret),
            "max_trials": max_trials or len(regret), "duplicates": duplicates, "version": "v1",
            "ask_seconds": [0.01] * len(regret)}


def test_a_cell_reads_the_run_of_its_own_budget_not_a_longer_runs_prefix():
    long = [_run("kftune_gp", s, [5.0] * 25 + [0.5] * 75) for s in (1, 2, 3)]
    short = [_run("kftune_gp", s, [1.0] * 25) for s in (1, 2, 3)]
    summary = report.summarize(long + short)
    row = summary["bbob_f01_d05"]["kftune_gp"]
    assert row[25][0] == 1.0  # the 25-trial runs, not the 100-trial runs' 5.0 at trial 25
    assert row[50][0] == 0.5 and row[100][0] == 0.5  # only the long runs reach 50 and 100
    assert row["seeds"] == 3 and row["runs"] == 6


def test_without_a_run_of_that_budget_the_shortest_longer_run_answers():
    runs = [_run("optuna_tpe", 1, [3.0] * 30 + [2.0] * 20), _run("optuna_tpe", 1, [9.0] * 100)]
    assert report.budget_run(runs, 25)["max_trials"] == 50
    assert report.budget_run(runs, 100)["max_trials"] == 100
    assert report.summarize(runs)["bbob_f01_d05"]["optuna_tpe"][25][0] == 3.0
    capped = [_run("optuna_tpe", 1, [3.0] * 25)]
    assert math.isnan(report.summarize(capped)["bbob_f01_d05"]["optuna_tpe"][50][0])


def test_the_cache_keeps_every_budget_and_never_cuts_a_budget_aware_run():
    cache = [_run("kftune_gp", 1, [2.0] * 100), _run("kftune_gp", 1, [1.0] * 25),
             _run("kftune_gp", 1, [7.0] * 25), _run("optuna_tpe", 1, [4.0] * 100)]
    kept = harness.select_cached(cache, {"kftune_gp": "v1", "optuna_tpe": "v1"}, ["bbob_f01_d05"], 5)
    assert sorted((r["method"], r["max_trials"], r["regret"][0]) for r in kept) == [
        ("kftune_gp", 25, 1.0), ("kftune_gp", 100, 2.0), ("optuna_tpe", 100, 4.0)]
    # a 50-trial job: kftune's 100-trial run is not one (its start differs), a peer's prefix is
    assert harness.cached_run(cache[:1], ("kftune_gp", "bbob_f01_d05", 1, 50, "v1")) is None
    tpe = harness.cached_run(cache[3:], ("optuna_tpe", "bbob_f01_d05", 1, 50, "v1"))
    assert tpe["max_trials"] == 50 and len(tpe["regret"]) == 50


def test_win_share_tells_a_decided_cell_from_a_coin_flip():
    def runs(method, regrets):
        return [_run(method, s, [r] * 25) for s, r in enumerate(regrets, 1)]

    def share(ours, theirs):
        summary = report.summarize(runs("kftune_gp", ours) + runs("optuna_tpe", theirs))
        (entry,) = report.cells(summary, ["bbob_f01_d05"])
        return entry["result"], report.win_share(summary, entry)

    assert share([1, 2, 3, 4, 5], [10, 11, 12, 13, 14]) == ("won", 1.0)
    assert share([10, 11, 12, 13, 14], [1, 2, 3, 4, 5]) == ("lost", 0.0)
    result, p = share([1, 4, 5.1, 9, 12], [2, 3, 5, 8, 11])  # lost by 2%, seeds overlapping
    assert result == "lost" and 0.2 < p < 0.8


def test_paired_by_instance_sees_a_steady_loss_that_medians_hide():
    """Instance difficulty spreads regrets over decades; a search 30% worse on every instance is then
    lost beyond doubt, while one that is better on some instances and worse on others is even."""
    def runs(method, regrets):
        return [_run(method, s, [r] * 25) for s, r in enumerate(regrets, 1)]

    hard = [0.01, 0.1, 1.0, 10.0, 100.0, 0.03, 0.3, 3.0, 30.0, 300.0]
    def verdict(ours, theirs, *more):
        extra = [r for m, v in zip(("optuna_gp", "botorch"), more) for r in runs(m, v)]
        summary = report.summarize(runs("kftune_gp", ours) + runs("optuna_tpe", theirs) + extra)
        (entry,) = report.cells(summary, ["bbob_f01_d05"])
        return report.paired_verdict(summary, entry)

    assert verdict([1.3 * h for h in hard], hard) == "worse"
    assert verdict([0.7 * h for h in hard], hard) == "better"
    mixed = [h * f for h, f in zip(hard, (0.5, 2.0) * 5)]
    assert verdict(mixed, hard) == "even"
    # better than one peer is not enough: worse than any peer makes the cell worse
    assert verdict([1.3 * h for h in hard], [2.0 * h for h in hard], hard) == "worse"
    # instances only one side ran are not compared
    assert verdict([1.3 * h for h in hard], hard[:2]) == "n/a"


def test_the_rule_scores_every_search_of_the_field_on_kftunes_cells():
    """Each search in turn against the best of the others; a peer's cell counts only where kftune ran
    too, so every row reads the same cells."""
    def runs(method, problem, value, n=25):
        return [dict(_run(method, s, [value] * n), problem=problem) for s in (1, 2, 3)]

    summary = report.summarize(
        runs("kftune_gp", "bbob_f01_d05", 1.0) + runs("optuna_gp", "bbob_f01_d05", 2.0)
        + runs("optuna_tpe", "bbob_f01_d05", 5.0) + runs("botorch", "bbob_f01_d05", 0.9)
        + runs("kftune_gp", "bbob_f02_d05", 3.0) + runs("optuna_gp", "bbob_f02_d05", 1.0)
        + runs("optuna_tpe", "bbob_f02_d05", 2.0) + runs("botorch", "bbob_f02_d05", 4.0)
        + runs("optuna_gp", "bbob_f03_d05", 0.1) + runs("botorch", "bbob_f03_d05", 9.0))  # no kftune: no cell
    rows = {(r["subject"], r["others"]): r for r in report.rule_for_each(summary, ["bbob_f01_d05", "bbob_f02_d05", "bbob_f03_d05"])}
    kf = rows[("kftune_gp", report.PEERS)]
    assert (kf["cells"], kf["ok"], kf["worse2x"]) == (2, 0, 1)  # 1.0 vs 0.9 lost; 3.0 vs 1.0 beyond 2x
    gp = rows[("optuna_gp", ("kftune_gp", "optuna_tpe", "botorch"))]
    assert (gp["cells"], gp["ok"], gp["worse2x"]) == (2, 1, 1)  # 2.0 vs 0.9; 1.0 best
    bo = rows[("botorch", ("optuna_gp", "optuna_tpe"))]
    assert (bo["cells"], bo["ok"], bo["worse2x"]) == (2, 1, 1)  # 0.9 best; 4.0 vs 1.0
    assert ("kftune_gp", ("optuna_gp", "optuna_tpe")) not in rows


def test_a_noisy_problem_scores_the_picked_trial_at_its_noiseless_value():
    """On branin_noisy a search sees scores with noise of 10% of Branin's spread; the harness scores the
    trial with the best *observed* score at its noiseless value (what a user who picks that trial gets),
    never a lucky draw. Random search proposes the same points with or without noise, so its noisy
    regret is at least the noiseless best-so-far, and differs where the noise misled the pick."""
    clean = harness.run_search(("kt_random", "branin", 3, 30))["regret"]
    noisy = harness.run_search(("kt_random", "branin_noisy", 3, 30))["regret"]
    assert all(b <= a for a, b in zip(clean, clean[1:]))  # noiseless: the best so far only improves
    assert all(n >= c - 1e-12 for n, c in zip(noisy, clean))
    assert any(n > c + 1e-6 for n, c in zip(noisy, clean))
    assert min(noisy) >= 0.0
