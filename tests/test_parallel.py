"""Trials in parallel: N worker processes on one node, Vertex worker pools, Kubeflow's store rendezvous,
and every process killed at some point. Real processes, real gRPC, the GCS emulator for gs://."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from test_distributed import free_port, start, tiny_spec, wait_all
from test_resume import events

pytestmark = pytest.mark.slow


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(text.splitlines()))


def assert_exact(rows: list[dict], ended: list[dict], max_trials: int) -> None:
    """Exactly max_trials completed, each configuration once, each trial ended once."""
    assert [r["status"] for r in rows] == ["COMPLETED"] * max_trials, rows
    assert len({(r["units"], r["learning_rate"]) for r in rows}) == max_trials
    completed = [e["trial_id"] for e in ended if e["status"] == "COMPLETED"]
    assert sorted(completed) == sorted(r["trial_id"] for r in rows), completed


def launch(spec: Path, out: Path | str, tmp_path: Path, *extra: str, name: str = "parent") -> subprocess.Popen:
    env = dict(os.environ, KFTUNE_CACHE_DIR=str(tmp_path / "cache"), CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "kftune.cli", "tune", str(spec), "--output", str(out), *extra]
    log = open(tmp_path / f"{name}.log", "a")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)


def wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "timed out: " + log.read_text()[-2000:]
        time.sleep(0.1)


def worker_children(proc: subprocess.Popen) -> dict[str, psutil.Process]:
    out = {}
    for child in psutil.Process(proc.pid).children():
        try:
            out[child.environ().get("KERASTUNER_TUNER_ID", "?")] = child
        except psutil.Error:
            continue
    return out


def test_two_workers_on_one_node_share_one_search(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, max_trials=5)
    out = tmp_path / "run"
    proc = launch(spec, out, tmp_path, "--workers", "2")
    assert proc.wait(timeout=900) == 0, (tmp_path / "parent.log").read_text()[-3000:]

    rows = list(csv.DictReader((out / "trials.csv").open()))
    ended = [e for e in events(out) if e["event"] == "trial_end"]
    assert_exact(rows, ended, 5)
    assert {e["tuner_id"] for e in ended} == {"worker-0", "worker-1"}  # both workers ran trials
    # The same outputs as a single process, in kind.
    for name in ("best_hyperparameters.json", "best_model.keras", "report.html", "run.json", "spec.json"):
        assert (out / name).is_file()
    best = json.loads((out / "best_hyperparameters.json").read_text())
    assert best["trial_id"] == max(rows, key=lambda r: float(r["objective"]))["trial_id"]
    assert json.loads((out / "state" / "best_model.json").read_text())["trial_id"] == best["trial_id"]
    log = (tmp_path / "parent.log").read_text()
    assert "started on worker-0" in log and "started on worker-1" in log  # one display for all workers
    left = [p for p in psutil.Process().children(recursive=True) if "kftune.cli" in " ".join(p.cmdline())]
    assert not left  # no worker left running (the session's GCS emulator is not ours to check)


def test_a_worker_killed_mid_trial_is_replaced_and_its_trial_finished(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, max_trials=4)
    out = tmp_path / "run"
    proc = launch(spec, out, tmp_path, "--workers", "2")
    ev_file = out / "state" / "kftune_events.jsonl"
    try:
        wait_for(lambda: ev_file.exists() and any(e.get("tuner_id") == "worker-1" for e in events(out)),
                 proc, tmp_path / "parent.log")
        victim = [e for e in events(out) if e["event"] == "trial_start" and e.get("tuner_id") == "worker-1"][-1]
        worker_children(proc)["worker-1"].kill()
        assert proc.wait(timeout=900) == 0, (tmp_path / "parent.log").read_text()[-3000:]
    finally:
        proc.kill()
    rows = list(csv.DictReader((out / "trials.csv").open()))
    ended = [e for e in events(out) if e["event"] == "trial_end"]
    assert_exact(rows, ended, 4)
    assert victim["trial_id"] in {r["trial_id"] for r in rows}  # the killed worker's trial was not lost
    notes = json.loads((out / "run.json").read_text())["distributed"]["notes"]
    assert any("worker-1 exited" in n for n in notes), notes


def test_a_killed_parent_leaves_no_process_and_the_same_command_resumes(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, max_trials=5)
    out = tmp_path / "run"
    proc = launch(spec, out, tmp_path, "--workers", "2")
    try:
        wait_for(lambda: (out / "trials.csv").exists() and sum(
            r["status"] == "COMPLETED" for r in csv.DictReader((out / "trials.csv").open())) >= 2,
            proc, tmp_path / "parent.log")
        children = list(psutil.Process(proc.pid).children(recursive=True))
        assert len(children) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"orphans left: {alive}"
    finally:
        proc.kill()
    done_before = {e["trial_id"] for e in events(out) if e["event"] == "trial_end" and e["status"] == "COMPLETED"}

    again = launch(spec, out, tmp_path, "--workers", "2", name="again")
    assert again.wait(timeout=900) == 0, (tmp_path / "again.log").read_text()[-3000:]
    rows = list(csv.DictReader((out / "trials.csv").open()))
    ended = [e for e in events(out) if e["event"] == "trial_end"]
    assert_exact(rows, ended, 5)
    restarted = [e["trial_id"] for e in events(out)[len(events(out)) - len(ended):] if e["event"] == "trial_start"]
    assert not set(restarted) & done_before
    assert json.loads((out / "run.json").read_text())["trials"]["resumed"] >= 2


def test_a_chief_killed_with_a_gcs_output_resumes_on_an_empty_work_folder(tmp_path: Path, gcs_emulator) -> None:
    """The cluster case: the chief's pod is replaced (new, empty disk); the workers outlive it."""
    from kftune.storage import open_store

    spec = tiny_spec(tmp_path, max_trials=5)
    uri = f"gs://{gcs_emulator.bucket}/restart/{tmp_path.name}"
    store = open_store(uri)
    port = free_port()
    procs = {tid: start(spec, uri, tid, port, tmp_path, "--workdir", str(tmp_path / f"{tid}-disk"))
             for tid in ("chief", "worker-0", "worker-1")}

    def store_events() -> list[dict]:
        try:
            text = store.read_bytes("state/kftune_events.jsonl").decode()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    try:
        wait_for(lambda: any(e["event"] == "trial_end" for e in store_events()), procs["chief"], tmp_path / "chief.log")
        procs["chief"].send_signal(signal.SIGKILL)
        procs["chief"].wait(timeout=30)
        completed_at_kill = {e["trial_id"] for e in store_events() if e["event"] == "trial_end" and e["status"] == "COMPLETED"}
        import shutil

        shutil.rmtree(tmp_path / "chief-disk")  # a new pod: nothing on disk
        procs["chief"] = start(spec, uri, "chief", port, tmp_path, "--workdir", str(tmp_path / "chief-disk"))
    except BaseException:
        for proc in procs.values():
            proc.kill()
        raise
    wait_all(procs, tmp_path, timeout=900)

    rows = rows_of(store.read_bytes("trials.csv").decode())
    ended = [e for e in store_events() if e["event"] == "trial_end"]
    assert_exact(rows, ended, 5)
    # No trial ran on two workers: each worker's own event log (its private folder beside its workdir,
    # kftune.run.distributed.worker) lists the trials it really started. The chief's log may hold one
    # more start: the killed chief recorded and pushed a trial it never delivered (killed before its
    # CreateTrial answer and before oracle.json reached the store); the new chief does not know that
    # trial and hands its id out afresh.
    ran = [e["trial_id"] for w in ("worker-0", "worker-1")
           for e in events(tmp_path / f"{w}-disk-{w}") if e["event"] == "trial_start"]
    assert sorted(ran) == sorted(r["trial_id"] for r in rows), f"a trial ran twice or never: {ran}"
    assert completed_at_kill <= {r["trial_id"] for r in rows}


def test_vertex_worker_pools_from_cluster_spec(tmp_path: Path) -> None:
    """Roles from Vertex AI's CLUSTER_SPEC: pool 0 the chief, pool 1 the workers (local processes here).

    Format as documented in cloud.google.com/vertex-ai/docs/training/distributed-training ("CLUSTER_SPEC").
    """
    spec = tiny_spec(tmp_path, max_trials=4)
    out = tmp_path / "run"
    port = free_port()
    cluster = {"workerpool0": [f"127.0.0.1:{port}"], "workerpool1": ["127.0.0.1:1", "127.0.0.1:2"]}

    def cluster_spec(kind: str, index: int) -> str:
        return json.dumps({"cluster": cluster, "environment": "cloud", "task": {"type": kind, "index": index}})

    procs = {"chief": start(spec, out, "chief", None, tmp_path, CLUSTER_SPEC=cluster_spec("workerpool0", 0))}
    for i in range(2):
        procs[f"w{i}"] = start(spec, out, f"w{i}", None, tmp_path, CLUSTER_SPEC=cluster_spec("workerpool1", i))
    wait_all(procs, tmp_path, timeout=900)
    rows = list(csv.DictReader((out / "trials.csv").open()))
    ended = [e for e in events(out) if e["event"] == "trial_end"]
    assert_exact(rows, ended, 4)
    assert {e["tuner_id"] for e in ended} == {"worker-0", "worker-1"}


def test_kubeflow_workers_find_the_chief_through_the_store(tmp_path: Path, gcs_emulator) -> None:
    """KFTUNE_ROLE: the chief publishes its address in gs://; the workers (here one with 2 processes) read it."""
    from kftune.storage import open_store

    spec = tiny_spec(tmp_path, max_trials=4)
    uri = f"gs://{gcs_emulator.bucket}/rendezvous/{tmp_path.name}"
    port = str(free_port())
    chief = dict(KFTUNE_ROLE="chief", KFTUNE_CHIEF_PORT=port, KFTUNE_POD_IP="127.0.0.1")
    procs = {
        "chief": start(spec, uri, "chief", None, tmp_path, "--workdir", str(tmp_path / "c"), **chief),
        "pod-0": start(spec, uri, "pod-0", None, tmp_path, "--workers", "2", "--workdir", str(tmp_path / "p0"),
                       KFTUNE_ROLE="worker", KFTUNE_WORKER_INDEX="0"),
    }
    wait_all(procs, tmp_path, timeout=900)
    store = open_store(uri)
    assert json.loads(store.read_bytes("state/chief.json"))["address"] == f"127.0.0.1:{port}"
    rows = rows_of(store.read_bytes("trials.csv").decode())
    ended = [json.loads(line) for line in store.read_bytes("state/kftune_events.jsonl").decode().splitlines()]
    ended = [e for e in ended if e["event"] == "trial_end"]
    assert_exact(rows, ended, 4)
    assert {e["tuner_id"] for e in ended} == {"worker-0-0", "worker-0-1"}


def test_a_worker_without_a_chief_waits_then_fails_with_one_line(tmp_path: Path, gcs_emulator) -> None:
    spec = tiny_spec(tmp_path, max_trials=2)
    uri = f"gs://{gcs_emulator.bucket}/nochief/{tmp_path.name}"
    proc = start(spec, uri, "lonely", None, tmp_path, KFTUNE_ROLE="worker", KFTUNE_CHIEF_WAIT_S="2")
    assert proc.wait(timeout=120) == 8
    lines = [line for line in (tmp_path / "lonely.log").read_text().splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "Traceback" not in "\n".join(lines), lines[-5:]
