"""Parallel trials: does the chief keep N workers busy, and what do 2 real workers buy on this machine?

(a) ``--simulate``: the real chief (kftune's ChiefHooks serving keras-tuner's OracleServicer over gRPC on
    127.0.0.1) and the real default oracle (GPOracle, Branin objective), with N worker threads that each
    hold a keras-tuner OracleClient and whose trials only sleep (uniform 0.5-1.5 x --trial-s). Reports
    worker utilisation (time in trials / (N x wall)), trials per hour relative to N x one worker's, and
    the chief's answer time to CreateTrial (the GP proposal included) and the fraction of the wall time
    the chief spent proposing (near 1: the chief is the bottleneck; below ~0.5 it keeps up).
(c) ``--real``: the same small Keras search (digits MLP, --trials trials) with --workers 1 and 2, side by
    side, alternating order per repeat: trials per hour ratio.

    python benchmarks/bench_parallel.py --simulate [--workers 1 2 4 8 16 32] [--trial-s 6] [--per-worker 6]
    python benchmarks/bench_parallel.py --real [--trials 8] [--repeats 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def branin(x1: float, x2: float) -> float:
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def simulate(n: int, trial_s: float, per_worker: int, seed: int) -> dict:
    from kftune import load_spec
    from kftune.run.distributed.chief import ChiefHooks
    from kftune.run.distributed.launcher import free_port
    from kftune.run.distributed.roles import Role
    from kftune.run.location import RunLocation
    from kftune.run.record import RunRecord
    from kftune.search import make_oracle
    from kftune.space import build_hyperparameters

    max_trials = n * per_worker
    spec = load_spec({
        "name": "sim", "model": "kftune.hypermodels:mlp_classifier", "data": {"train": "none.csv", "label": "y"},
        "objective": {"metric": "val_loss", "direction": "min"},
        "search_space": {"x1": {"type": "float", "min": -5, "max": 10}, "x2": {"type": "float", "min": 0, "max": 15}},
        "tuner": {"algorithm": "bayesian", "max_trials": max_trials, "seed": seed},
    })
    port = free_port()
    os.environ.update(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port), KERASTUNER_TUNER_ID="sim")
    with tempfile.TemporaryDirectory() as tmp:
        location = RunLocation(tmp)
        location.state_dir.mkdir(parents=True)
        run = RunRecord(spec, location, {"seed": seed}, None, role="chief")
        oracle = make_oracle(spec, build_hyperparameters(spec), seed, None)
        oracle._set_project_dir(tmp, "state")
        oracle.verbose = 0
        hooks = ChiefHooks(Role("chief", "chief", f"127.0.0.1:{port}"))
        proposals: list[float] = []  # seconds the chief spent proposing (GP fit + acquisition), per trial
        propose = oracle.populate_space

        def timed_populate_space(trial_id):
            t0 = time.monotonic()
            try:
                return propose(trial_id)
            finally:
                proposals.append(time.monotonic() - t0)

        oracle.populate_space = timed_populate_space
        busy, answers, spans = [0.0] * n, [], []  # spans: (start, end) of every trial
        rng = random.Random(seed)
        durations = [trial_s * rng.uniform(0.5, 1.5) for _ in range(max_trials + n)]

        def worker(i: int) -> None:
            import keras_tuner as kt
            from keras_tuner.src.distribute.oracle_client import OracleClient

            client = OracleClient(kt.oracles.RandomSearchOracle(objective=kt.Objective("val_loss", "min"), max_trials=1))
            while True:
                t0 = time.monotonic()
                trial = client.create_trial(f"worker-{i}")
                answers.append(time.monotonic() - t0)
                if trial.status == "STOPPED":
                    return
                if trial.status == "IDLE":
                    time.sleep(0.1)
                    continue
                t1 = time.monotonic()
                time.sleep(durations.pop())
                spans.append((t1, time.monotonic()))
                values = trial.hyperparameters.values
                client.update_trial(trial.trial_id, {"val_loss": branin(values["x1"], values["x2"])})
                trial.status = "COMPLETED"
                client.end_trial(trial)
                busy[i] += time.monotonic() - t1

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
        started = time.monotonic()
        for t in threads:
            t.start()
        hooks.serve(oracle, run)
        wall = time.monotonic() - started
        for t in threads:
            t.join(timeout=30)
    completed = sum(1 for t in oracle.trials.values() if t.status == "COMPLETED")
    # While trials remain to be handed out (until the last one starts), idle time is the chief's fault;
    # after that, workers run out of work by design (max_trials), whatever the scheduler.
    last_start = max(a for a, _ in spans)
    steady = sum(max(min(b, last_start) - max(a, started), 0.0) for a, b in spans) / (n * (last_start - started))
    one_worker_rate = 1.0 / trial_s  # trials per second of one always-busy worker (mean duration)
    return {
        "workers": n,
        "trials": completed,
        "wall_s": round(wall, 1),
        "utilisation": round(sum(busy) / (n * wall), 3),
        "utilisation_while_trials_remain": round(steady, 3),
        "throughput_vs_n_x_one": round((completed / wall) / (n * one_worker_rate), 3),
        "chief_proposing_fraction": round(sum(proposals) / wall, 3),
        "proposal_p50_s": round(statistics.median(proposals), 4),
        "create_trial_p50_s": round(statistics.median(answers), 4),
        "create_trial_p95_s": round(sorted(answers)[int(0.95 * (len(answers) - 1))], 4),
        "best": round(min(t.score for t in oracle.trials.values() if t.score is not None), 4),
    }


def real(trials: int, repeats: int, threads: int | None) -> dict:
    lines = (ROOT / "examples" / "data" / "digits.csv").read_text().splitlines()[:801]
    results: dict[int, list[float]] = {1: [], 2: []}
    in_trials: dict[int, list[float]] = {1: [], 2: []}  # first trial start -> last trial end (no start-up)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "digits.csv"
        data.write_text("\n".join(lines) + "\n")
        spec = {
            "name": "parallel-real", "model": "kftune.hypermodels:mlp_classifier",
            "data": {"train": str(data), "label": "target"},
            "objective": {"metric": "val_accuracy", "direction": "max"},
            "search_space": {"units": {"type": "int", "min": 32, "max": 256, "step": 32},
                             "learning_rate": {"type": "float", "min": 1e-3, "max": 3e-2, "sampling": "log"}},
            "tuner": {"algorithm": "bayesian", "max_trials": trials, "seed": 0},
            "training": {"epochs": 10, "batch_size": 32},
        }
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", KFTUNE_CACHE_DIR=str(Path(tmp) / "c"))
        if threads:  # each worker process on its own share of the CPU, as each has its own GPU on a GPU node
            env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        for rep in range(repeats):
            for n in ((1, 2) if rep % 2 == 0 else (2, 1)):
                out = Path(tmp) / f"out-{n}-{rep}"
                t0 = time.monotonic()
                cmd = [sys.executable, "-m", "kftune.cli", "tune", str(spec_path), "-o", str(out), "-q", "--workers", str(n)]
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                results[n].append(time.monotonic() - t0)
                events = [json.loads(line) for line in (out / "state" / "kftune_events.jsonl").read_text().splitlines()]
                starts = [e["t"] for e in events if e["event"] == "trial_start"]
                ends = [e["t"] for e in events if e["event"] == "trial_end"]
                in_trials[n].append(max(ends) - min(starts))
                print(f"  workers={n} repeat={rep}: {results[n][-1]:.1f} s, {in_trials[n][-1]:.1f} s from the first "
                      "trial's start to the last one's end", flush=True)
    w1, w2 = statistics.median(results[1]), statistics.median(results[2])
    s1, s2 = statistics.median(in_trials[1]), statistics.median(in_trials[2])
    return {"trials": trials, "wall_s_1_worker": round(w1, 1), "wall_s_2_workers": round(w2, 1),
            "trials_per_hour_ratio_2_vs_1": round(w1 / w2, 2),
            "trial_span_s_1_worker": round(s1, 1), "trial_span_s_2_workers": round(s2, 1),
            "trials_per_hour_ratio_2_vs_1_without_startup": round(s1 / s2, 2), "cpus": os.cpu_count(),
            "threads_per_process": threads or "TensorFlow's default (all cores)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", action="store_true")
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--trial-s", type=float, default=6.0)
    parser.add_argument("--per-worker", type=int, default=6)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="--real: TensorFlow threads per process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.simulate:
        for n in args.workers:
            print(json.dumps(simulate(n, args.trial_s, args.per_worker, args.seed)), flush=True)
    if args.real:
        print(json.dumps(real(args.trials, args.repeats, args.threads)), flush=True)


if __name__ == "__main__":
    main()
