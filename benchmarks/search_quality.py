"""Search-quality benchmark: kftune's GPOracle against Optuna, BoTorch and keras-tuner's searches.

Drives each search directly on objectives with known optima (no model training) and writes
docs/benchmarks-search.md (tables + target check) and docs/img/search_*.png.

    python benchmarks/search_quality.py --quick                 # the 'quick' problems, 3 seeds, 50 trials
    python benchmarks/search_quality.py --full                  # all BBOB + classic + mixed, 5 seeds, 100 trials
    python benchmarks/search_quality.py --problems bbob-core,mixed --seeds 5 --trials 100
    python benchmarks/search_quality.py --methods kftune_gp --problems quick --run-only   # develop

Problems (benchmarks/_objectives.py): the 24 noiseless BBOB functions of the COCO platform at
d = 2, 5, 10 (``cocoex``; instance = seed), Branin, Hartmann6, and three mixed spaces of our own
(``mixed``: a choice moving the optimum; ``mixed6``: a 4-way choice, a choice-dependent boolean, log
floats and ints; ``conditional``: per-branch conditional parameters), and Branin and Hartmann6
observed with noise (``branin_noisy``, ``hartmann6_noisy``: scored at the noiseless value of the
best-observed trial). Groups: bbob, bbob-core, classic, mixed, noisy, quick.

Methods: kftune GPOracle (defaults), keras-tuner BayesianOptimizationOracle and RandomSearchOracle,
Optuna TPESampler and GPSampler (defaults), a standard BoTorch loop (benchmarks/_peers.py). All
peers are benchmark-only dependencies (``pip install -e '.[bench]'``). Finished runs are kept in a
JSON-lines cache (``--cache``) keyed by method, problem, seed and the method's version (for kftune: a
hash of src/kftune/search/gp), so a peer is run once and kftune again only when its code changed.
Proposal times are measured serially after the quality runs (which run in parallel, one BLAS
thread each), on Hartmann6 with N random completed trials injected.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from _objectives import bbob_name, get_problem, to_keras_tuner  # noqa: E402
from _peers import BotorchSearch, OptunaSearch  # noqa: E402

from _search_report import LABELS, check_targets, summarize, write_report  # noqa: E402

METHODS = ["kftune_gp", "kt_bayesian", "kt_random", "optuna_tpe", "optuna_gp", "botorch"]
DEFAULT_METHODS = ["kftune_gp", "kt_random", "optuna_tpe", "optuna_gp", "botorch"]
TIMING_SIZES = [10, 50, 100, 200, 400]
CORE_FUNCTIONS = (1, 8, 15, 17, 21)  # sphere, Rosenbrock, rotated Rastrigin, Schaffer F7, Gallagher 101
GROUPS = {
    "bbob": [bbob_name(f, d) for d in (2, 5, 10) for f in range(1, 25)],
    "bbob-core": [bbob_name(f, d) for d in (2, 5, 10) for f in CORE_FUNCTIONS],
    "classic": ["branin", "hartmann6"],
    "noisy": ["branin_noisy", "hartmann6_noisy"],
    "mixed": ["mixed", "mixed6", "conditional"],
    "quick": [bbob_name(f, d) for d in (2, 5) for f in CORE_FUNCTIONS] + ["branin", "hartmann6", "mixed",
                                                                        "mixed6", "conditional"],
}


# --------------------------------------------------------------------------------------------------
# one search run
# --------------------------------------------------------------------------------------------------
class _KerasTunerSearch:
    def __init__(self, method: str, problem, seed: int, max_trials: int):
        import keras_tuner as kt

        from kftune.search.gp import GPOracle

        hps = to_keras_tuner(problem)
        common = dict(objective=kt.Objective("obj", "min"), max_trials=max_trials, hyperparameters=hps,
                      seed=seed)
        if method == "kftune_gp":
            self.oracle = GPOracle(**common)
        elif method == "kt_bayesian":
            self.oracle = kt.oracles.BayesianOptimizationOracle(**common)
        else:
            self.oracle = kt.oracles.RandomSearchOracle(**common)
        # no disk bookkeeping: it is the same for every keras-tuner oracle and not the algorithm's cost
        self.oracle.save = lambda: None
        self.oracle._save_trial = lambda trial: None
        self._trial = None

    def ask(self) -> dict | None:
        with contextlib.redirect_stdout(io.StringIO()):
            trial = self.oracle.create_trial("bench")
        if trial.status != "RUNNING":
            return None
        self._trial = trial
        return dict(trial.hyperparameters.values)

    def tell(self, value: float) -> None:
        trial = self._trial
        with contextlib.redirect_stdout(io.StringIO()):
            self.oracle.update_trial(trial.trial_id, {"obj": value})
            trial.status = "COMPLETED"
            self.oracle.end_trial(trial)

    def inject(self, values_list: list[dict], scores: list[float]) -> None:
        from keras_tuner.engine import trial as trial_module

        for values, score in zip(values_list, scores):
            hps = self.oracle.hyperparameters.copy()
            hps.values = dict(values)
            tid = f"i{len(self.oracle.trials):05d}"
            trial = trial_module.Trial(hyperparameters=hps, trial_id=tid, status="COMPLETED")
            trial.metrics.register("obj", direction="min")
            trial.metrics.update("obj", score)
            trial.score, trial.best_step = score, 0
            self.oracle.trials[tid] = trial
            self.oracle.start_order.append(tid)
            self.oracle.end_order.append(tid)
            self.oracle._record_values(trial)


def _make(method, problem, seed, max_trials):
    if method.startswith("optuna"):
        return OptunaSearch(method, problem, seed, max_trials)
    if method == "botorch":
        return BotorchSearch(method, problem, seed, max_trials)
    return _KerasTunerSearch(method, problem, seed, max_trials)


def _key(values: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in values.items()))


def run_search(job: tuple) -> dict:
    """One search; recorded under the version the job was planned with (the code when the run started:
    an edit while it runs does not relabel it)."""
    method, problem_name, seed, n_trials = job[:4]
    version = job[4] if len(job) > 4 else method_version(method)
    problem = get_problem(problem_name, seed)
    search = _make(method, problem, seed, n_trials)
    best, curve, times, seen, dups = np.inf, [], [], set(), 0
    noise = np.random.default_rng([seed, 7919])  # the same draws per trial index for every method
    picked = np.inf  # noiseless value of the best-observed trial
    for _ in range(n_trials):
        t0 = time.perf_counter()
        values = search.ask()
        times.append(time.perf_counter() - t0)
        if values is None:
            break
        key = _key(values)
        dups += key in seen
        seen.add(key)
        y = problem.f(values)
        observed = y + problem.noise_sd * float(noise.standard_normal()) if problem.noise_sd else y
        search.tell(observed)
        if observed < best:
            best, picked = observed, y
        curve.append(max(picked - problem.f_min, 0.0))
    return {"method": method, "problem": problem_name, "seed": seed, "max_trials": n_trials, "regret": curve,
            "duplicates": dups, "ask_seconds": times, "version": version}


def _worker_init():
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(1)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    import kftune.search.gp  # noqa: F401  the code the jobs' version names, loaded before any later edit


# --------------------------------------------------------------------------------------------------
# proposal time against history size
# --------------------------------------------------------------------------------------------------
def time_proposals(method: str, sizes: list[int], reps: int, seed: int = 0) -> dict:
    problem = get_problem("hartmann6", seed)
    rng = np.random.default_rng(seed)
    out = {}
    for n in sizes:
        search = _make(method, problem, seed, n + reps + 2)
        x = rng.random((n, 6))
        values = [{f"x{i}": float(r[i]) for i in range(6)} for r in x]
        search.inject(values, [problem.f(v) for v in values])
        # one untimed proposal first: a resumed/running search has its state warm (for kftune, the
        # last GP fit), a search that was just handed N injected trials does not
        search.tell(problem.f(search.ask()))
        ts, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            v = search.ask()
            ts.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            search.tell(problem.f(v))
        out[n] = ts
        CPU_SECONDS.setdefault(method, {})[n] = cpu
    return out


CPU_SECONDS: dict = {}  # method -> history size -> CPU seconds of the process per proposal (all threads)


# --------------------------------------------------------------------------------------------------
# cache of finished runs (JSON lines): a peer's runs are computed once, kftune's again when its code changes
# --------------------------------------------------------------------------------------------------
def method_version(method: str) -> str:
    from importlib import metadata

    if method == "kftune_gp":
        import hashlib

        h = hashlib.sha256()
        for path in sorted((ROOT / "src" / "kftune" / "search" / "gp").glob("*.py")):
            h.update(path.read_bytes())
        return "kftune-" + h.hexdigest()[:12]
    dist = {"optuna_tpe": "optuna", "optuna_gp": "optuna", "botorch": "botorch"}.get(method, "keras-tuner")
    return f"{dist}-{metadata.version(dist)}"


def load_cache(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


BUDGET_AWARE = {"kftune_gp"}  # its start depends on max_trials: a longer run's first n trials are not an n-trial run


def cached_run(cache: list[dict], job: tuple) -> dict | None:
    method, problem, seed, n, version = job
    for run in reversed(cache):
        if (run["method"], run["problem"], run["seed"], run.get("version")) == (method, problem, seed, version) \
                and (run["max_trials"] == n if method in BUDGET_AWARE else run["max_trials"] >= n):
            if run["max_trials"] == n:
                return run
            return dict(run, max_trials=n, regret=run["regret"][:n], ask_seconds=run["ask_seconds"][:n])
    return None


def import_old(path: Path, cache_path: Path) -> None:
    """Peers' runs from an earlier raw results file (same problems and seeds) into the cache."""
    data = json.loads(path.read_text())
    with cache_path.open("a") as f:
        for run in data["runs"]:
            if run["method"] != "kftune_gp":
                f.write(json.dumps(dict(run, version=method_version(run["method"]))) + "\n")


def select_cached(cache: list[dict], versions: dict, problems: list[str], seeds: int) -> list[dict]:
    """For the report: every cached run of these methods and problems at their current versions, one per
    (method, problem, seed, budget); the report reads each budget from the shortest run that reached it
    (:func:`_search_report.budget_run`)."""
    kept: dict = {}
    for run in cache:
        key = (run["method"], run["problem"], run["seed"], run["max_trials"])
        if run["method"] in versions and run.get("version") == versions[run["method"]] \
                and run["problem"] in problems and run["seed"] <= seeds and key not in kept:
            kept[key] = run
    return list(kept.values())


def expand(names: str) -> list[str]:
    out: list[str] = []
    for name in (n for n in names.split(",") if n):
        for p in GROUPS.get(name, [name]):
            if p not in out:
                out.append(p)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the 'quick' problems, 3 seeds, 50 trials (default)")
    ap.add_argument("--full", action="store_true", help="bbob + classic + mixed, 5 seeds, 100 trials")
    ap.add_argument("--seeds", type=int, help="override the number of seeds")
    ap.add_argument("--trials", type=int, help="trials per run (default 50 quick / 100 full)")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--problems", default=None, help="problem names or groups: " + ", ".join(GROUPS))
    ap.add_argument("--kt-bayesian-trials", type=int, default=25,
                    help="trials per keras-tuner Bayesian run (it takes seconds per proposal)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--reps", type=int, default=5, help="proposals timed per history size")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--run-only", action="store_true", help="fill the cache; no timing, no report")
    ap.add_argument("--report-only", action="store_true", help="render from the cache (missing runs are skipped)")
    ap.add_argument("--cache", default=str(HERE / "results" / "search_runs.jsonl"))
    ap.add_argument("--import-old", default=None, help="add the peers' runs of an earlier raw results JSON to the cache")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-search.md"))
    ap.add_argument("--img-dir", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args(argv)
    args.mode_flag = "--full" if args.full else "--quick"
    args.command = " ".join(argv if argv is not None else sys.argv[1:]) or args.mode_flag
    args.seeds = args.seeds or (5 if args.full else 3)
    args.trials = args.trials or (100 if args.full else 50)
    args.sizes = TIMING_SIZES
    methods = [m for m in args.methods.split(",") if m]
    problems = expand(args.problems or ("bbob,classic,mixed" if args.full else "quick"))
    cache_path = Path(args.cache)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    if args.import_old:
        import_old(Path(args.import_old), cache_path)
    cache = load_cache(cache_path)

    started = time.time()
    capped = {"kt_bayesian": args.kt_bayesian_trials}
    versions = {m: method_version(m) for m in methods}
    jobs = [(m, p, seed, min(args.trials, capped.get(m, args.trials)), versions[m])
            for seed in range(1, args.seeds + 1) for p in problems for m in methods]
    runs, todo = [], []
    if args.report_only:
        jobs = []
    for job in jobs:
        hit = cached_run(cache, job)
        (runs.append(hit) if hit is not None else todo.append(job))
    print(f"{len(runs)} runs from the cache, {len(todo)} to run", flush=True)
    if todo and not args.report_only:
        todo.sort(key=lambda j: (j[0] not in ("kt_bayesian", "botorch", "optuna_gp"),))  # slow ones first
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.jobs, initializer=_worker_init) as pool, cache_path.open("a") as f:
            for i, run in enumerate(pool.imap_unordered(run_search, todo), 1):
                runs.append(run)
                f.write(json.dumps(run) + "\n")
                f.flush()
                print(f"[{i}/{len(todo)}] {run['method']:12s} {run['problem']:14s} seed {run['seed']:2d} "
                      f"regret@{len(run['regret'])}={run['regret'][-1]:.3g} dups={run['duplicates']} "
                      f"ask {sum(run['ask_seconds']):.1f}s", flush=True)
    if args.run_only:
        return
    runs = select_cached(load_cache(cache_path), versions, problems, args.seeds)
    timing_path = cache_path.with_name("search_timing.json")
    timing = {}
    if timing_path.exists():
        timing = {m: {int(n): v for n, v in t.items()} for m, t in json.loads(timing_path.read_text()).items()}
    if not args.no_timing and not args.report_only:
        for m in methods:
            timing[m] = time_proposals(m, args.sizes if m == "kftune_gp" else args.sizes[:-1], args.reps)
            timing["_cpu_" + m] = CPU_SECONDS[m]
            print("timing", m, {n: round(float(np.median(t)), 4) for n, t in timing[m].items()},
                  "cpu", {n: round(float(np.median(t)), 4) for n, t in CPU_SECONDS[m].items()}, flush=True)
        timing_path.write_text(json.dumps(timing))
    elapsed = time.time() - started
    write_report(runs, timing, args, Path(args.out), Path(args.img_dir), elapsed)
    for name, ok, detail in check_targets(summarize(runs), timing):
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")


if __name__ == "__main__":
    main()
