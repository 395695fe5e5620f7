"""Searches whose output is gs:// (real client, GCS emulator): preemption, faults, locking."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kftune import LockError, tune
from kftune.storage import RunLock, open_store
from test_resume import assert_resumed_exactly, events, kftune_command, write_spec


def wait_for(predicate, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_preempted_gcs_run_resumes_on_an_empty_disk(tmp_path: Path, gcs_emulator) -> None:
    spec = write_spec(tmp_path, max_trials=5)
    uri = f"gs://{gcs_emulator.bucket}/runs/{uuid.uuid4().hex[:8]}"
    first_disk = tmp_path / "pod-1"
    proc = subprocess.Popen(kftune_command(spec, uri, "--workdir", str(first_disk)), stderr=subprocess.PIPE)
    try:
        synced = lambda: sum(e["event"] == "synced" for e in events(first_disk))  # noqa: E731
        wait_for(lambda: synced() >= 2 and proc.poll() is None)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    completed = {e["trial_id"] for e in events(first_disk) if e["event"] == "synced"}
    local_events = events(first_disk)
    shutil.rmtree(first_disk)  # the pod is gone with its disk

    second_disk = tmp_path / "pod-2"
    done = subprocess.run(
        kftune_command(spec, uri, "--workdir", str(second_disk)), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_resumed_exactly(second_disk, completed, max_trials=5)
    # Every result landed in the bucket, and the bucket's table is the final one.
    store = open_store(uri)
    for name in ("best_hyperparameters.json", "best_model.keras", "trials.csv", "report.html", "run.json", "spec.json"):
        assert store.exists(name), name
    rows = list(csv.DictReader(io.StringIO(store.read_bytes("trials.csv").decode())))
    assert [r["status"] for r in rows] == ["COMPLETED"] * 5
    assert not store.exists(".kftune.lock"), "the lock is released at the end"
    assert local_events  # the first pod really ran trials before it was killed


def test_search_through_a_faulty_network_loses_nothing(tmp_path: Path, tiny_gcs_spec, fault_proxy, monkeypatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fault_proxy.url)
    uri = f"gs://kftune-test/faulty/{uuid.uuid4().hex[:8]}"
    result = tune(tiny_gcs_spec, uri, workdir=tmp_path / "work", progress=False)
    assert result.trials_completed == 3
    assert fault_proxy.faults > 0, "the proxy injected no fault: the test proved nothing"
    monkeypatch.undo()
    store = open_store(uri)
    rows = list(csv.DictReader(io.StringIO(store.read_bytes("trials.csv").decode())))
    assert len(rows) == 3 and all(r["status"] == "COMPLETED" for r in rows)
    best = json.loads(store.read_bytes("best_hyperparameters.json"))
    assert best["values"] == result.best_hyperparameters
    local = sorted(p.relative_to(tmp_path / "work").as_posix() for p in (tmp_path / "work").rglob("*") if p.is_file())
    remote = sorted(info.key for info in store.list(""))
    assert set(local) <= set(remote)


# A process that dies (os._exit: no cleanup, as under SIGKILL) when a push is about to upload the event
# log after the second trial ended: the store then has that trial in oracle.json, not in the log.
_KILLED_BEFORE_THE_EVENT_LOG = """
import json, os, sys
from kftune import cli, layout
from kftune.storage.gcs import GCSStore

upload = GCSStore.upload_files

def upload_files(self, items):
    for local, key in items:
        if key.endswith(layout.EVENTS_FILE):
            ends = [line for line in open(local) if '"trial_end"' in line]
            if len(ends) == 2:
                os._exit(137)
    return upload(self, items)

GCSStore.upload_files = upload_files
sys.argv = ["kftune", *sys.argv[1:]]
cli.main()
"""


def test_a_run_killed_between_the_state_and_the_event_log_keeps_every_trials_seconds(tmp_path: Path, gcs_emulator) -> None:
    """oracle.json goes up before the event log (layout.SYNC_TIERS); the trials' seconds go up before
    oracle.json, so the resumed run's trials.csv has the seconds of the trial whose log line was lost."""
    spec = write_spec(tmp_path, max_trials=3, epochs=1)
    uri = f"gs://{gcs_emulator.bucket}/between/{uuid.uuid4().hex[:8]}"
    killed = subprocess.run([sys.executable, "-c", _KILLED_BEFORE_THE_EVENT_LOG,
                             *kftune_command(spec, uri, "--workdir", str(tmp_path / "pod-1"))[3:]],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr[-3000:]
    store = open_store(uri)
    logged = [json.loads(line) for line in store.read_bytes("state/kftune_events.jsonl").decode().splitlines()]
    assert sum(e["event"] == "trial_end" for e in logged) == 1, "the kill came after the second trial's log line"

    done = subprocess.run(kftune_command(spec, uri, "--workdir", str(tmp_path / "pod-2")),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader(io.StringIO(store.read_bytes("trials.csv").decode())))
    assert [r["status"] for r in rows] == ["COMPLETED"] * 3
    assert all(float(r["seconds"]) > 0 for r in rows), rows
    ends = [json.loads(line) for line in store.read_bytes("state/kftune_events.jsonl").decode().splitlines()
            if '"trial_end"' in line]
    assert len(ends) == 2, "the resumed run ran one trial; the second trial was not run again"


def test_second_run_on_the_same_prefix_is_refused(tmp_path: Path, tiny_gcs_spec, gcs_emulator) -> None:
    uri = f"gs://{gcs_emulator.bucket}/locked/{uuid.uuid4().hex[:8]}"
    with RunLock(open_store(uri), ".kftune.lock", owner="other-host:123"):
        with pytest.raises(LockError, match="other-host:123"):
            tune(tiny_gcs_spec, uri, workdir=tmp_path / "work", progress=False)


@pytest.fixture
def tiny_gcs_spec(tmp_path: Path) -> dict:
    path = write_spec(tmp_path, max_trials=3)
    import yaml

    spec = yaml.safe_load(path.read_text())
    spec["tuner"] = {"algorithm": "random", "max_trials": 3, "seed": 1}
    spec["training"]["epochs"] = 1
    return spec
