"""Early stopping across trials on real Keras tasks: epochs (and seconds) to a good model.

Three tasks the repo ships (examples/): the digits MLP (tabular classification, val_accuracy), the
digits CNN (8x8 image arrays, val_accuracy) and the housing MLP regressor (val_loss). Each task runs
with kftune's default search for S seeds and these methods, everything else equal (the example's
space — its learning rate widened for the ``*_wide`` tasks — and data; ``tuner.max_trials`` and
``training.epochs`` from the table below; the examples' per-trial Keras patience switched off so that
only the method differs):

* ``none``: ``bayesian``, every trial trains all epochs;
* ``median`` / ``asha``: ``bayesian`` with ``tuner.early_stopping: {rule: median | asha}`` (defaults);
* ``hyperband``: keras-tuner's Hyperband (``max_epochs`` = the epochs, factor 3, one iteration, its
  whole schedule).

The ``*_wide_random`` tasks run ``none`` and ``median`` with ``random`` search instead: its proposals do
not depend on the results, so both methods train the same configurations and only the stopping differs
(their Hyperband row is the Bayesian task's runs: Hyperband has its own search).

The target of a (task, seed) is the final best objective of ``none`` for that seed, within 0.5%
(accuracy >= 0.995 x best; loss <= 1.005 x best). Epochs to target = epochs trained by all trials up
to the first trial whose running best meets it (Hyperband's trials train ``tuner/epochs -
tuner/initial_epoch`` each); wall seconds likewise from trials.csv.

Every method is measured within ``none``'s epochs (the budget: trials x epochs). A method that stops
trials finishes its trials in fewer epochs; where it ended short of the target with budget left, the
trial cap ended it, not the method: ``--extend`` re-runs those runs with 3x the trials (Hyperband 2
iterations), the initial points pinned so that their first trials are the plain run's (checked:
``prefix_matches``), and counts their trials up to the budget. An extended run replaces the plain one
in the report.

    python benchmarks/bench_early_stopping.py                 # 5 seeds x 6 tasks x 4 methods
    python benchmarks/bench_early_stopping.py --seeds 2 --tasks digits_mlp    # quick
    python benchmarks/bench_early_stopping.py --extend        # then: runs the trial cap ended short
    python benchmarks/bench_early_stopping.py --report-only   # re-render from the cache

Runs are cached in benchmarks/results/early_stopping_runs.jsonl; writes docs/benchmarks-early-stopping.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WIDE_LR = {"type": "float", "min": 1e-5, "max": 1e-1, "sampling": "log"}
TASKS = {  # name: (example spec, max_trials, epochs, search_space entries replaced)
    "digits_mlp": ("digits.yaml", 12, 9, None),
    "digits_cnn": ("cnn.yaml", 12, 9, None),
    "housing_mlp": ("regression.yaml", 12, 9, None),
    # The examples' spaces are narrow (their learning rates are known to work): the target is found in
    # the first trials, before any rule may stop one. The *_wide tasks search as a user who does not
    # know the range yet: learning rate over 4 decades, more trials and epochs.
    "digits_mlp_wide": ("digits.yaml", 20, 15, {"learning_rate": WIDE_LR}),
    "digits_cnn_wide": ("cnn.yaml", 20, 15, {"learning_rate": WIDE_LR}),
    "housing_mlp_wide": ("regression.yaml", 20, 15, {"learning_rate": WIDE_LR}),
    # the same with random search, whose proposals do not depend on the results: with and without a
    # rule the same configurations are trained, and only the stopping differs
    "digits_mlp_wide_random": ("digits.yaml", 20, 15, {"learning_rate": WIDE_LR}),
    "digits_cnn_wide_random": ("cnn.yaml", 20, 15, {"learning_rate": WIDE_LR}),
    "housing_mlp_wide_random": ("regression.yaml", 20, 15, {"learning_rate": WIDE_LR}),
}
RANDOM_SEARCH = {f"{t}_random": t for t in ("digits_mlp_wide", "digits_cnn_wide", "housing_mlp_wide")}

METHODS = ("none", "median", "asha", "hyperband")
INITIAL_POINTS = 6  # the Bayesian runs' quasi-random start (see task_spec)
EXTEND = 3  # extended runs: 3x the trials (Hyperband: 2 iterations), cut at the epoch budget
CACHE = HERE / "results" / "early_stopping_runs.jsonl"


READING = [
    "## Reading", "",
    "- Runs: `python benchmarks/bench_early_stopping.py --tasks digits_mlp_wide,housing_mlp_wide,digits_cnn_wide "
    "--seeds 5`, then `--extend` for the runs of `median` and `asha` that the 20-trial cap ended short of the "
    "target (and Hyperband's: digits seed 1, housing seeds 1, 3-5): 5 seeds x 3 tasks x 4 methods, ~3 h of this machine. Every "
    "extended run's first trials were checked equal to its plain run's (`prefix_matches`); every figure counts "
    "trials up to `none`'s 300 epochs. The search was kftune's default (`bayesian`) with 6 quasi-random initial "
    "points (pinned: the default for these spaces until issue 12's fourth round, which gives them 3); the output warp of issue "
    "12's third round does not apply to these spaces (each has a choice), the failed-trial observation did "
    "(seeds 4-5; seeds 1-3 had no failed trial).",
    "- **The targets are not met, and the earlier 3-seed figures (1.73x / 1.68x) did not hold at 5 seeds.** "
    "`median` trains 42-54% fewer epochs for the same trials (median 173, 138 and 165 of 300) but reaches the "
    "0.5% target only 1.18x (digits MLP) and 1.20x (CNN) sooner than `none`; on the housing regression the "
    "median over seeds says 1.68x, but 2 of 5 seeds never reach the target, even with the budget's remaining "
    "epochs (3 of 5 final bests not worse). Why: with the Bayesian search most "
    "trials after the quasi-random start are already decent (the GP avoids the hopeless region), so the epochs "
    "to the target are set by when the search proposes the winning configuration, which early stopping barely "
    "changes; what it stops is mostly the few hopeless trials of the start. On housing, ranking by the value at "
    "epoch e stops the slow starters (small learning rates) that end up best.",
    "- `asha` is no better than `median` on digits (0.83-0.90x) and loses housing (1 of 5). Hyperband reaches the "
    "digits targets soonest (46 epochs: its 2-epoch first rung sees 12 configurations for the price of 1.6 "
    "trials) but its final best is worse than `none`'s on 2-4 of 5 seeds and it misses housing's target on 3 of "
    "5 (extended to the budget).",
    "- Tried and rejected: the median rule at the 25th percentile (stop unless in the top quarter; seeds 1-3): "
    "digits 15 / 103 / 78 epochs (one final best worse), housing reached on 1 of 3 - more stopped, more lost.",
    "- Tried and rejected (fourth round, seeds 1-5, plain 20-trial runs in a separate cache): observing a "
    "stopped trial at the completed trials' final score of the rank it had among them at the epoch it was "
    "stopped, instead of its own best so far. Epochs to target per seed: digits MLP 15 / - / 81 / 77 / - "
    "(`median` as shipped: 15 / 116 / 78 / 89 / 170), housing 110 / 157 / - / - / - (125 / 99 / - / - / -), "
    "CNN 15 / 62 / 121 / 75 / - (15 / 62 / 156 / 75 / -); '-': not within the 20 trials. No closer to 2x, and "
    "two more digits seeds miss the target.",
    "- **What any rule could reach** (the ratios in brackets in the targets table, `perfect_stopper`): on "
    "`none`'s own trials, a rule that knew the future - the first `min_trials` (3) trials and the first trial "
    "to meet the target in full, every trial between them stopped after 1 epoch - reaches the target 1.67x "
    "(digits MLP), 1.45x (CNN) and 3.00x (housing) sooner. `none` meets the target at its 1st-13th trial "
    "(digits) and 9th-17th (housing); the three protected trials and the winner's own 15 epochs alone are 60 "
    "epochs, against `none`'s medians of 105 and 90 on digits. So on the digits tasks 2x is out of reach of "
    "any stopping rule with the same proposals: it needs `min_trials` = 2 (ceilings 2.14x / 1.88x) or 1 "
    "(3.00x / 2.65x), i.e. stopping against one or two completed trials, or a search that proposes the "
    "winner earlier - which is the search's job, not the stopper's.",
    "- Tried and rejected (fifth round, plain 20-trial runs in a separate cache, seeds 1-4): `median` with "
    "`min_trials: 2`. Epochs to target per seed: digits MLP 15 / - / 126 / 89 (shipped: 15 / 116 / 78 / 89), "
    "CNN 15 / 62 / 156 / 75 (the same: its third trial was never behind), housing 125 / 65 / - / - (125 / 99 "
    "/ - / -); the ceiling rises but the rule, judging against two trials, stops the wrong ones.",
    "- On the examples' own (narrow) spaces (the first three tables, 12 trials x 9 epochs, 2-3 seeds) the target "
    "is found in the first 2-4 trials, before any trial can be stopped (`min_trials` = 3): ~1x by construction.",
    "- What it is good for, measured here: the same number of trials in about half the epochs, with the same "
    "median final best on both digits tasks; the right setting when trials are expensive and the budget is "
    "counted in trials. Where slow starters can win (regression with a wide learning-rate range), raise "
    "`min_epochs` or leave it off.",
    "- **Random search** (ninth round; `--tasks digits_mlp_wide_random,digits_cnn_wide_random,"
    "housing_mlp_wide_random --methods none,median --seeds 5`, then `--extend`, about 1 h, the tasks in separate "
    "processes). Its proposals do not depend on the results, so `none` and `median` train the same 20 "
    "configurations and only the stopping differs. `median` finishes the 20 trials in 62-195 of the 300 epochs "
    "(median 90 on the digits MLP, 135 on the CNN, 127 on housing: 0.30x, 0.45x and 0.42x) with the same final "
    "best on 13 of 15 runs. But to the target it is 1.00x by the median on all three. On 9 of the 15 runs "
    "`none` meets its own best by its 4th trial, and the first 3 are protected (`min_trials`): nothing could "
    "be stopped before it, and the perfect stopper equals `none` there (by the median over seeds it reaches "
    "1.00x, 1.45x and 1.00x). Of the six "
    "runs where the best came later, `median` reached it in 98 / 92 / 128 / 92 epochs against 195 / 120 / 180 "
    "/ 120 (1.3-2.0x; perfect stopper 64-69), in the same 90 on one, and on one (CNN seed 5, best at 270 "
    "epochs) stopped the winner and missed it, also when extended to 60 trials. Hyperband's row is the "
    "Bayesian task's runs (its own search): 46 epochs on both digits tasks (`median`: 45 and 90), 212 on "
    "housing (45).",
    "- So the issue's measure, epochs to within 0.5% of the best a run without stopping finds, is set by the "
    "trial at which that best arrives, for any search: when it arrives among the first trials there is "
    "nothing before it to stop. What a stopper changes is the epochs spent on the other trials: the same "
    "trials in 0.3-0.6x of the epochs (random 0.30-0.45x, Bayesian 0.46-0.58x), the final best the same on "
    "13 of 15 random runs and the same by the median on both Bayesian digits tasks.",
    "- Wall seconds are dominated by per-trial overhead and by the machine's load at these model sizes; they "
    "are shown, not compared.",
    "",
]


def budget(task: str) -> int:
    """Epochs ``none`` trains: the budget every method is measured within (its trials x epochs)."""
    return TASKS[task][1] * TASKS[task][2]


def task_spec(task: str, method: str, seed: int, extended: bool = False) -> dict:
    """The spec of one run. ``extended``: a method that stops trials gets EXTEND x the trials (Hyperband
    EXTEND iterations), so that the epoch budget, not the trial count, ends it; its first trials are the
    plain run's (the initial points pinned to the plain run's number)."""
    name, max_trials, epochs, space = TASKS[task]
    spec = yaml.safe_load((ROOT / "examples" / name).read_text())
    spec["search_space"].update(space or {})
    spec["data"]["train"] = str(ROOT / spec["data"]["train"])
    spec["training"] = {**spec["training"], "epochs": epochs}
    spec["training"].pop("early_stopping", None)
    spec.pop("budget", None)
    # a wide learning rate diverges (NaN: the trial FAILS) at its top end; a user searching it allows more
    # than keras-tuner's 3 failures in a row
    failures = {"max_consecutive_failed_trials": 10}
    if method == "hyperband":
        spec["tuner"] = {"algorithm": "hyperband", "max_trials": 1000, "seed": seed, "max_epochs": epochs, "factor": 3,
                         **failures}
        if extended:  # one more iteration: 2 x 166 epochs cover the budget of 300
            spec["tuner"]["hyperband_iterations"] = 2
    else:
        # the initial points are pinned: the cached runs were made with 6 (the default for 20 trials
        # until issue 12's fourth round, which gives 3 to these 6-7 parameter spaces), and an extended
        # run must start as its plain run did
        search = {"algorithm": "random"} if task in RANDOM_SEARCH else \
            {"algorithm": "bayesian", "num_initial_points": INITIAL_POINTS}
        spec["tuner"] = {**search, "max_trials": max_trials, "seed": seed, **failures}
        if method != "none":
            spec["tuner"]["early_stopping"] = {"rule": method}
        if extended:
            spec["tuner"]["max_trials"] = EXTEND * max_trials
    return spec


def run_one(task: str, method: str, seed: int, workroot: Path, extended: bool = False) -> dict:
    from kftune import tune

    spec = task_spec(task, method, seed, extended)
    out = workroot / f"{task}-{method}-{seed}"
    t0 = time.perf_counter()
    tune(spec, str(out), fresh=True, progress=False)
    wall = time.perf_counter() - t0
    rows = sorted(csv.DictReader((out / "trials.csv").open()), key=lambda r: int(r["number"]))
    epochs_total = spec["training"]["epochs"]
    trials = []
    for r in rows:
        if method == "hyperband":
            state = json.loads((out / "state" / f"trial_{r['trial_id']}" / "trial.json").read_text())
            values = state["hyperparameters"]["values"]
            epochs = int(values.get("tuner/epochs", epochs_total)) - int(values.get("tuner/initial_epoch", 0))
        else:
            epochs = int(r["epochs"]) if r.get("epochs") else epochs_total
        trials.append({"status": r["status"], "objective": float(r["objective"]) if r["objective"] else None,
                       "epochs": epochs, "seconds": float(r["seconds"] or 0.0)})
    shutil.rmtree(out, ignore_errors=True)
    return {"task": task, "method": method, "seed": seed, "trials": trials, "wall": wall,
            "direction": spec["objective"]["direction"], "extended": extended}


def _curve(run: dict) -> list[tuple[float, float, float | None]]:
    """(cumulative epochs, cumulative seconds, running best of completed trials) after each trial, up to
    the task's epoch budget (an extended run's later trials are not counted)."""
    sign = -1.0 if run["direction"] == "max" else 1.0
    out, ep, sec, best = [], 0.0, 0.0, None
    for t in run["trials"]:
        if ep + t["epochs"] > budget(run["task"]):
            break
        ep += t["epochs"]
        sec += t["seconds"]
        if t["status"] == "COMPLETED" and t["objective"] is not None:
            best = t["objective"] if best is None or sign * t["objective"] < sign * best else best
        out.append((ep, sec, best))
    return out


def within_half_percent(best: float, direction: str) -> float:
    """The target: ``none``'s final best, within 0.5%."""
    return best * (1 - 0.005) if direction == "max" else best * (1 + 0.005)


def to_target(run: dict, target: float) -> tuple[float, float] | None:
    ok = (lambda b: b >= target) if run["direction"] == "max" else (lambda b: b <= target)
    for ep, sec, best in _curve(run):
        if best is not None and ok(best):
            return ep, sec
    return None


def perfect_stopper(none_run: dict, target: float, min_trials: int = 3, min_epochs: int = 1) -> float:
    """Epochs to target of the best any stopping rule can do on ``none``'s own trials: the first
    ``min_trials`` trials (no rule may stop them) and the first trial to meet the target train in full,
    every other trial before it is stopped after ``min_epochs`` (the rules' defaults). A rule changes
    what the search learns, so its proposals differ; this ceiling is for the same proposals."""
    hit = to_target(none_run, target)
    if hit is None:
        return np.inf
    total, before = 0.0, 0.0
    for i, (ep, _, _) in enumerate(_curve(none_run)):
        trained, before = ep - before, ep  # this trial's epochs
        if ep >= hit[0]:
            return total + trained
        total += trained if i < min_trials else min(trained, min_epochs)
    return np.inf


def report(runs: list[dict], out: Path, argv: list[str]) -> str:
    lines = ["# Early stopping across trials", "",
             f"Generated by `python benchmarks/bench_early_stopping.py {' '.join(argv)}` ({platform.machine()}, "
             f"{os.cpu_count()} cores, shared with other work; single process, CPU TensorFlow). See the module "
             "docstring for the protocol. Per (task, seed) the target is the final best of `none` within 0.5%.", ""]
    checks = []
    for task in TASKS:
        by = {m: {r["seed"]: r for r in runs if r["task"] == task and r["method"] == m} for m in METHODS}
        if task in RANDOM_SEARCH:  # Hyperband has its own search: the same runs as the Bayesian task's
            by["hyperband"] = {r["seed"]: r for r in runs if r["task"] == RANDOM_SEARCH[task] and r["method"] == "hyperband"}
        present = [m for m in METHODS if by[m]]
        seeds = sorted(set.intersection(*(set(by[m]) for m in present))) if "none" in present else []  # every method's seeds
        if not seeds:
            continue
        name, max_trials, epochs, space = TASKS[task]
        direction = by["none"][seeds[0]]["direction"]
        widened = "".join(f"; {k} widened to {v['min']:g}–{v['max']:g} ({v.get('sampling', 'linear')})"
                          for k, v in (space or {}).items())
        search = "; random search (Hyperband: the Bayesian task's runs)" if task in RANDOM_SEARCH else ""
        lines += [f"## {task} (examples/{name}{widened}{search}; {max_trials} trials x {epochs} epochs; objective "
                  f"{'max' if direction == 'max' else 'min'}; seeds {seeds[0]}–{seeds[-1]})", "",
                  "| method | seeds | reached target | epochs to target (median [min–max]) | seconds to target (median) "
                  "| epochs to none's final best (median; seeds reaching it) | epochs in total (median) | "
                  "final best (median) | final best vs none (seeds not worse) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        med_ep = {}
        for m in present:
            rs = [by[m][s] for s in seeds if s in by[m]]
            if not rs:
                continue
            reached, eps, secs, finals, notworse, exact = 0, [], [], [], 0, []
            for r in rs:
                base = _curve(by["none"][r["seed"]])[-1][2]
                hit0 = to_target(r, base)
                exact.append(hit0[0] if hit0 is not None else np.inf)
                target = within_half_percent(base, direction)
                hit = to_target(r, target)
                if hit is not None:
                    reached += 1
                    eps.append(hit[0])
                    secs.append(hit[1])
                else:
                    eps.append(np.inf)
                    secs.append(np.inf)
                final = _curve(r)[-1][2]
                finals.append(final)
                notworse += (final >= base) if direction == "max" else (final <= base)
            e = np.array(eps)
            med_ep[m] = float(np.median(e))
            total = np.median([_curve(r)[-1][0] for r in rs])
            x = np.array(exact)
            lines.append(f"| {m} | {len(rs)} | {reached}/{len(rs)} | {np.median(e):.0f} [{e.min():.0f}–{e.max():.0f}] | "
                         f"{np.median(secs):.1f} | {np.median(x):.0f} ({int(np.isfinite(x).sum())}/{len(rs)}) | "
                         f"{total:.0f} | {np.median(finals):.4g} | {notworse}/{len(rs)} |")
        lines.append("")
        ceiling = [perfect_stopper(by["none"][s], within_half_percent(_curve(by["none"][s])[-1][2], direction))
                   for s in seeds]
        ceiling_ratio = med_ep["none"] / float(np.median(ceiling)) if "none" in med_ep else np.nan
        for m in ("median", "asha"):
            if m in med_ep and "none" in med_ep:
                ratio = med_ep["none"] / med_ep[m] if np.isfinite(med_ep[m]) else 0.0
                checks.append((f"{task}: {m} reaches the target in >= 2x fewer epochs than none (median)",
                               ratio >= 2, f"{ratio:.2f}x (a perfect stopper on none's own trials: "
                               f"{ceiling_ratio:.2f}x)"))
                if "hyperband" in med_ep:
                    checks.append((f"{task}: {m} needs no more epochs than Hyperband (median)",
                                   bool(np.isfinite(med_ep[m]) and med_ep[m] <= med_ep["hyperband"]),
                                   f"{med_ep[m]:.0f} vs {med_ep['hyperband']:.0f}"))
    lines += ["## Targets (issue 12)", "", "| target | reached | measured |", "|---|---|---|"]
    lines += [f"| {n} | {'yes' if ok else '**no**'} | {d} |" for n, ok, d in checks]
    lines += ["", "`inf`: the target was not reached within the run on at least half of the seeds.", "", *READING]
    text = "\n".join(lines)
    out.write_text(text)
    return text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--extend", action="store_true",
                    help="only re-run, extended, the stopping methods' runs that the trial cap ended short of the target")
    ap.add_argument("--cache", default=str(CACHE))
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-early-stopping.md"))
    args = ap.parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    cache = Path(args.cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    runs = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
    done = {(r["task"], r["method"], r["seed"]) for r in runs}
    if not args.report_only:
        work = Path(tempfile.mkdtemp(prefix="kftune-es-"))
        for seed in range(1, 0 if args.extend else args.seeds + 1):  # seed-major: a partial run compares like with like
            for task in args.tasks.split(","):
                for method in args.methods.split(","):
                    if (task, method, seed) in done:
                        continue
                    run = run_one(task, method, seed, work)
                    runs.append(run)
                    with cache.open("a") as f:
                        f.write(json.dumps(run) + "\n")
                    print(f"{task} {method} seed {seed}: {len(run['trials'])} trials, "
                          f"{sum(t['epochs'] for t in run['trials'])} epochs, {run['wall']:.0f} s", flush=True)
        if args.extend:
            for run in extend(runs, args, work):
                runs.append(run)
                with cache.open("a") as f:
                    f.write(json.dumps(run) + "\n")
    print(report(runs, Path(args.out), argv))


def _same(a: dict, b: dict) -> bool:
    """The same trial outcome (TensorFlow on CPU repeats a seeded trial to float precision)."""
    if a["status"] != b["status"] or (a["objective"] is None) != (b["objective"] is None):
        return False
    return a["objective"] is None or abs(a["objective"] - b["objective"]) <= 1e-6 * max(1.0, abs(b["objective"]))


def extend(runs: list[dict], args, work: Path):
    """Re-run, extended, every run of a stopping method that ended short of the target with epochs of
    the budget left: the trial cap, not the method, ended it (yields the extended runs)."""
    plain = {(r["task"], r["method"], r["seed"]): r for r in runs if not r.get("extended")}
    have = {(r["task"], r["method"], r["seed"]) for r in runs if r.get("extended")}
    order = {m: i for i, m in enumerate(METHODS)}
    for (task, method, seed), run in sorted(plain.items(), key=lambda kv: (order.get(kv[0][1], 99), kv[0])):
        base = plain.get((task, "none", seed))
        if method == "none" or base is None or (task, method, seed) in have or task not in args.tasks.split(",") \
                or method not in args.methods.split(","):
            continue
        target = within_half_percent(_curve(base)[-1][2], base["direction"])
        if to_target(run, target) is not None or sum(t["epochs"] for t in run["trials"]) >= budget(task):
            continue
        longer = run_one(task, method, seed, work, extended=True)
        longer["prefix_matches"] = all(_same(a, b) for a, b in zip(longer["trials"], run["trials"]))
        print(f"{task} {method} seed {seed} extended: {len(longer['trials'])} trials, first {len(run['trials'])} "
              f"{'as' if longer['prefix_matches'] else 'NOT as'} the plain run", flush=True)
        yield longer


if __name__ == "__main__":
    main()
