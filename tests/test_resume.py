"""A real `kftune tune` process killed with SIGKILL mid-search resumes without losing or repeating a trial."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "state" / "kftune_events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def kftune_command(spec: Path, output: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kftune.cli", "tune", str(spec), "--output", output, "-q", *extra]


def kill_after_completed_trials(cmd: list[str], run_dir: Path, n: int, env: dict | None = None, timeout: float = 180) -> set[str]:
    """Start the search, SIGKILL it once ``n`` trials have ended (i.e. mid-way through the next one)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or os.environ.copy())
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ended = [e for e in events(run_dir) if e["event"] == "trial_end"]
            started = [e for e in events(run_dir) if e["event"] == "trial_start"]
            if len(ended) >= n and len(started) > len(ended):
                break
            if proc.poll() is not None:
                raise AssertionError(f"search ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        else:
            raise AssertionError("search too slow to reach the kill point")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return {e["trial_id"] for e in events(run_dir) if e["event"] == "trial_end" and e["status"] == "COMPLETED"}


def write_spec(tmp_path: Path, max_trials: int, *, name: str = "killed", epochs: int = 3) -> Path:
    """A tiny Bayesian search (300 digits rows, two parameters) written to ``tmp_path/spec.yaml``."""
    lines = (ROOT / "examples" / "data" / "digits.csv").read_text().splitlines()[:301]
    data = tmp_path / "tiny.csv"
    data.write_text("\n".join(lines) + "\n")
    spec = {
        "name": name,
        "model": "kftune.hypermodels:mlp_classifier",
        "data": {"train": str(data), "label": "target"},
        "objective": {"metric": "val_accuracy", "direction": "max"},
        "search_space": {
            "units": {"type": "int", "min": 8, "max": 64, "step": 8},
            "learning_rate": {"type": "float", "min": 1e-3, "max": 3e-2, "sampling": "log"},
        },
        "tuner": {"algorithm": "bayesian", "max_trials": max_trials, "seed": 3, "num_initial_points": 2},
        "training": {"epochs": epochs, "batch_size": 32},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def assert_resumed_exactly(run_dir: Path, completed_before_kill: set[str], max_trials: int) -> None:
    with (run_dir / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == max_trials
    assert all(r["status"] == "COMPLETED" for r in rows), rows
    assert len({r["trial_id"] for r in rows}) == max_trials
    configs = {(r["units"], r["learning_rate"]) for r in rows}
    assert len(configs) == max_trials, "a configuration was evaluated twice"
    # No trial that had completed before the kill was started again afterwards.
    log = events(run_dir)
    kill_index = max(i for i, e in enumerate(log) if e["event"] == "trial_end" and e["trial_id"] in completed_before_kill)
    restarted = {e["trial_id"] for e in log[kill_index + 1 :] if e["event"] == "trial_start"}
    assert not restarted & completed_before_kill
    record = json.loads((run_dir / "run.json").read_text())
    assert record["trials"]["completed"] == max_trials
    assert record["trials"]["resumed"] == len(completed_before_kill)
    for name in ("best_hyperparameters.json", "best_model.keras", "report.html"):
        assert (run_dir / name).is_file()


def test_sigkill_mid_search_then_rerun_resumes(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, max_trials=5)
    run_dir = tmp_path / "run"
    completed = kill_after_completed_trials(kftune_command(spec, str(run_dir)), run_dir, n=2)
    assert len(completed) >= 2
    # Results of the completed trials are already on disk before the rerun.
    with (run_dir / "trials.csv").open() as fh:
        assert {r["trial_id"] for r in csv.DictReader(fh) if r["status"] == "COMPLETED"} == completed
    done = subprocess.run(kftune_command(spec, str(run_dir)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_resumed_exactly(run_dir, completed, max_trials=5)
