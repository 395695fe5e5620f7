"""Stress: SIGKILL the chief at a random point of a gs:// search, restart it on an empty disk, repeat.

Each round runs a real chief and two real workers (keras-tuner's protocol on 127.0.0.1) against the
GCS emulator, kills the chief after a random delay (while workers train, while it syncs, between
trials), deletes its work folder (a new pod), restarts it, and checks the finished search: a trial
completed twice or lost counts against kftune. Both counts must be 0.

    python benchmarks/stress_chief_restart.py                 # 20 rounds
    python benchmarks/stress_chief_restart.py --rounds 5 --seed 1

Not a CI test: ~40 s a round on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from gcs_emulator import start_emulator  # noqa: E402
from test_distributed import free_port, start, tiny_spec  # noqa: E402


def one_round(tmp: Path, bucket: str, rng: random.Random, max_trials: int, min_delay: float) -> dict:
    from kftune.storage import open_store

    spec = tiny_spec(tmp, max_trials=max_trials)
    uri = f"gs://{bucket}/stress/{tmp.name}"
    store = open_store(uri)
    port = free_port()
    disk = {tid: tmp / f"{tid}-disk" for tid in ("chief", "worker-0", "worker-1")}
    procs = {tid: start(spec, uri, tid, port, tmp, "--workdir", str(d)) for tid, d in disk.items()}
    delay = rng.uniform(min_delay, 25.0)
    time.sleep(delay)
    killed = procs["chief"].poll() is None
    if killed:
        procs["chief"].send_signal(signal.SIGKILL)
        procs["chief"].wait()
        shutil.rmtree(disk["chief"], ignore_errors=True)
        time.sleep(rng.uniform(0.0, 3.0))
        procs["chief"] = start(spec, uri, "chief", port, tmp, "--workdir", str(disk["chief"]))
    codes = {}
    for tid, proc in procs.items():
        try:
            codes[tid] = proc.wait(timeout=400)
        except Exception:
            proc.kill()
            codes[tid] = "timeout"
    rows = list(csv.DictReader(store.read_bytes("trials.csv").decode().splitlines()))
    log = [json.loads(x) for x in store.read_bytes("state/kftune_events.jsonl").decode().splitlines() if x.strip()]
    ends = [e["trial_id"] for e in log if e["event"] == "trial_end" and e["status"] == "COMPLETED"]
    completed = [r["trial_id"] for r in rows if r["status"] == "COMPLETED"]
    return {
        "delay_s": round(delay, 1),
        "killed": killed,
        "exit_codes": codes,
        "completed": len(completed),
        "completed_twice": len(ends) - len(set(ends)),
        "lost": max_trials - len(set(completed)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-delay", type=float, default=4.0, help="earliest kill, seconds after the start")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    emulator = start_emulator("kftune-stress")
    import os

    os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
    os.environ["GOOGLE_CLOUD_PROJECT"] = "kftune-stress"
    results = []
    try:
        for i in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix=f"kftune-stress-{i}-") as tmp:
                result = one_round(Path(tmp), "kftune-stress", rng, args.trials, args.min_delay)
                if result["completed_twice"] or result["lost"] or any(c != 0 for c in result["exit_codes"].values()):
                    kept = Path(tempfile.gettempdir()) / f"kftune-stress-failed-{i}"
                    shutil.copytree(tmp, kept, ignore=shutil.ignore_patterns("*-disk", "cache"), dirs_exist_ok=True)
                    result["logs"] = str(kept)
            results.append(result)
            print(json.dumps({"round": i, **result}), flush=True)
    finally:
        emulator.stop()
    twice = sum(r["completed_twice"] for r in results)
    lost = sum(r["lost"] for r in results)
    bad_exit = sum(any(c != 0 for c in r["exit_codes"].values()) for r in results)
    print(f"rounds {len(results)} (chief killed in {sum(r['killed'] for r in results)}): "
          f"completed twice {twice}, lost {lost}, rounds with a non-zero exit {bad_exit}")
    sys.exit(1 if twice or lost or bad_exit else 0)


if __name__ == "__main__":
    main()
