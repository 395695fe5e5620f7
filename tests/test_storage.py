"""Contract tests for kftune.storage, run against every Store implementation.

``local``: a temporary folder. ``gcs``: the real google-cloud-storage client talking to
gcp-storage-emulator on 127.0.0.1 (fixtures in conftest.py). The fault test puts a proxy that
fails ~20% of requests between the client and the emulator.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from kftune.errors import DataError, LockError, StorageError
from kftune.storage import (
    DirectorySync,
    GCSStore,
    LocalStore,
    ObjectNotFoundError,
    RunLock,
    Store,
    fetch_to_local,
    open_store,
    uri_exists,
)

BUCKET = "kftune-test"


@pytest.fixture(params=["local", "gcs"])
def make_store(request, tmp_path):
    """Factory: ``make_store(name)`` -> a Store rooted at a fresh location named ``name``."""
    if request.param == "local":
        return lambda name="root": open_store(tmp_path / "stores" / name)
    request.getfixturevalue("gcs_emulator")
    run = uuid.uuid4().hex[:8]
    return lambda name="root": open_store(f"gs://{BUCKET}/{run}/{name}")


@pytest.fixture
def store(make_store) -> Store:
    return make_store()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- basic contract


def test_open_store_picks_implementation_by_scheme(tmp_path):
    assert isinstance(open_store(f"gs://{BUCKET}/a/b"), GCSStore)
    assert open_store(f"gs://{BUCKET}/a/b/").uri == f"gs://{BUCKET}/a/b"
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    local = open_store(f"file://{tmp_path}/x")
    assert isinstance(local, LocalStore) and local.root == tmp_path / "x"
    with pytest.raises(StorageError, match="s3://b/x"):
        open_store("s3://b/x")
    with pytest.raises(StorageError, match="gs://BUCKET"):
        open_store("gs:///nobucket")


def test_read_write_exists_list_delete(store):
    assert isinstance(store, Store)
    assert store.list() == []
    store.write_bytes("a.txt", b"alpha")
    store.write_bytes("dir/b.bin", bytes(range(256)))
    store.write_bytes("dir/sub/c.json", b"{}")
    store.write_bytes("dirx/d.txt", b"d")
    assert store.read_bytes("dir/b.bin") == bytes(range(256))
    assert store.exists("a.txt") and not store.exists("nope.txt") and not store.exists("dir")

    listed = store.list()
    assert [o.key for o in listed] == ["a.txt", "dir/b.bin", "dir/sub/c.json", "dirx/d.txt"]
    assert {o.key: (o.size, o.md5) for o in listed}["a.txt"] == (5, md5(b"alpha"))
    assert [o.key for o in store.list("dir/")] == ["dir/b.bin", "dir/sub/c.json"]
    assert [o.key for o in store.list("dir")] == ["dir/b.bin", "dir/sub/c.json", "dirx/d.txt"]
    assert store.list("missing/") == []

    store.write_bytes("a.txt", b"replaced")
    assert store.read_bytes("a.txt") == b"replaced"
    assert store.delete("a.txt") is True
    assert store.delete("a.txt") is False
    assert not store.exists("a.txt")
    with pytest.raises(ObjectNotFoundError, match="a.txt"):
        store.read_bytes("a.txt")
    with pytest.raises(FileNotFoundError):  # also the builtin a caller would catch
        store.read_bytes("a.txt")
    assert store.url("x/y") .endswith("/x/y") and store.url("x/y").startswith(store.uri)


def test_prefixes_are_isolated(make_store):
    a, b = make_store("run"), make_store("run2")
    a.write_bytes("k", b"a")
    b.write_bytes("k", b"b")
    assert [o.key for o in a.list()] == ["k"]
    assert a.read_bytes("k") == b"a" and b.read_bytes("k") == b"b"


def test_invalid_keys_are_refused(store):
    for key in ("", "../escape", "a/../../b"):
        with pytest.raises(StorageError, match="invalid storage key"):
            store.write_bytes(key, b"x")


def test_upload_download_files(store, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = {f"f{i}.bin": os.urandom(1000 * (i + 1)) for i in range(6)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    store.upload_file(src / "f0.bin", "one/f0.bin")
    store.upload_files([(src / n, f"many/{n}") for n in files])  # transfer_manager on GCS
    got = store.download_file("one/f0.bin", tmp_path / "dl" / "deep" / "f0.bin")
    assert got.read_bytes() == files["f0.bin"]
    store.download_files([(f"many/{n}", tmp_path / "dl2" / n) for n in files])
    assert {n: (tmp_path / "dl2" / n).read_bytes() for n in files} == files
    assert {o.key: o.md5 for o in store.list("many/")} == {f"many/{n}": md5(d) for n, d in files.items()}

    with pytest.raises(ObjectNotFoundError, match="missing.bin"):
        store.download_file("missing.bin", tmp_path / "dl3" / "missing.bin")
    assert not (tmp_path / "dl3" / "missing.bin").exists()
    assert not [p for p in (tmp_path / "dl3").iterdir()]  # no temporary leftovers


def test_conditional_writes(store):
    v1 = store.write_if("lock", b"one", version=None)
    assert v1 is not None
    assert store.write_if("lock", b"other", version=None) is None  # exists: refused
    assert store.write_if("lock", b"one", version=None) == v1  # same content: a retry that landed
    assert store.read_versioned("lock") == (b"one", v1)
    v2 = store.write_if("lock", b"two", version=v1)
    assert v2 is not None and v2 != v1
    assert store.write_if("lock", b"three", version=v1) is None  # stale version: refused
    assert store.read_bytes("lock") == b"two"
    assert store.delete_if("lock", v1) is False
    assert store.exists("lock")
    assert store.delete_if("lock", v2) is True
    assert store.read_versioned("lock") is None
    assert store.delete_if("lock", v2) is True  # already gone


def test_compare_and_swap_has_one_winner(store):
    v0 = store.write_if("cas", b"start", version=None)
    wins, barrier = [], threading.Barrier(6)

    def contender(i: int) -> None:
        barrier.wait()
        if store.write_if("cas", f"writer-{i}".encode(), version=v0) is not None:
            wins.append(i)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(wins) == 1
    assert store.read_bytes("cas") == f"writer-{wins[0]}".encode()


# --------------------------------------------------------------------------- DirectorySync


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_sync_push_uploads_only_what_changed(store, tmp_path):
    local = tmp_path / "state"
    _write(local / "oracle.json", b'{"trials": 1}')
    _write(local / "trial_0" / "trial.json", b'{"id": 0}')
    _write(local / "trial_0" / "checkpoint.weights.h5", os.urandom(50_000))
    _write(local / "scratch.tmp", b"never synced")
    sync = DirectorySync(local, store, "state", exclude=["*.tmp"])

    s = sync.push()
    assert (s.files, s.bytes, s.deleted) == (3, 13 + 9 + 50_000, 0)
    assert sorted(o.key for o in store.list("state/")) == [
        "state/oracle.json", "state/trial_0/checkpoint.weights.h5", "state/trial_0/trial.json"]
    assert sync.push().files == 0  # nothing changed: nothing uploaded

    _write(local / "oracle.json", b'{"trials": 2, "x": 1}')  # changed size
    _write(local / "trial_1" / "trial.json", b'{"id": 1}')  # new file
    tick = time.time_ns() + 10**9  # an mtime at (or after) the push's scan: "racy"
    os.utime(local / "trial_1" / "trial.json", ns=(tick, tick))
    s = sync.push()
    assert (s.files, s.bytes) == (2, 21 + 9)
    assert store.read_bytes("state/oracle.json") == b'{"trials": 2, "x": 1}'

    # Same size and the same mtime as before: only the content hash can tell. The manifest
    # marks files recorded within the timestamp granularity as "racy" and re-hashes them.
    path = local / "trial_1" / "trial.json"
    path.write_bytes(b'{"id": 9}')
    os.utime(path, ns=(tick, tick))
    assert sync.push().files == 1
    assert store.read_bytes("state/trial_1/trial.json") == b'{"id": 9}'

    (local / "trial_0" / "trial.json").unlink()
    s = sync.push()
    assert (s.files, s.deleted) == (0, 1)
    assert not store.exists("state/trial_0/trial.json")


def test_sync_uploads_the_oracle_after_the_trials(store, tmp_path):
    local = tmp_path / "state"
    _write(local / "project" / "oracle.json", b"{}")
    _write(local / "project" / "trial_0" / "trial.json", b"{}")
    _write(local / "project" / "trial_0" / "checkpoint.weights.h5", b"w")
    batches = []
    real = store.upload_files
    store.upload_files = lambda items: (batches.append(sorted(k for _, k in items)), real(items))
    DirectorySync(local, store, "state").push()
    assert [b for b in batches if b] == [
        ["state/project/trial_0/checkpoint.weights.h5", "state/project/trial_0/trial.json"],
        ["state/project/oracle.json"],
    ]


def test_sync_tiers_land_in_order_state_then_oracle_then_results(store, tmp_path):
    """The engine's order: a COMPLETED row in the store's trials.csv, or a start or end in its event log, is
    always in its oracle.json too."""
    from kftune.layout import SYNC_EXCLUDE, SYNC_TIERS

    local = tmp_path / "run"
    _write(local / "state" / "oracle.json", b"{}")
    _write(local / "state" / "trial_0" / "trial.json", b"{}")
    _write(local / "state" / "kftune_events.jsonl", b"{}\n")
    _write(local / "trials.csv", b"number\n")
    _write(local / "run.json", b"{}")
    _write(local / ".kftune.lock", b"held elsewhere")
    batches = []
    real = store.upload_files
    store.upload_files = lambda items: (batches.append(sorted(k for _, k in items)), real(items))
    DirectorySync(local, store, "run", exclude=SYNC_EXCLUDE, upload_last=SYNC_TIERS).push()
    assert [b for b in batches if b] == [
        ["run/state/trial_0/trial.json"],
        ["run/state/oracle.json"],
        ["run/run.json", "run/state/kftune_events.jsonl", "run/trials.csv"],
    ]
    assert not store.exists("run/.kftune.lock")


def test_sync_pull_restores_an_empty_dir_and_a_restart_uploads_nothing(store, tmp_path):
    local = tmp_path / "state"
    for i in range(5):
        _write(local / f"trial_{i}" / "trial.json", json.dumps({"id": i}).encode())
        _write(local / f"trial_{i}" / "checkpoint.weights.h5", os.urandom(20_000 + i))
    DirectorySync(local, store, "state").push()

    fresh = tmp_path / "new-pod" / "state"  # a new pod: empty disk
    sync = DirectorySync(fresh, store, "state")
    s = sync.pull()
    assert s.files == 10 and s.bytes == sum(len(v) for v in _tree(local).values())
    assert _tree(fresh) == _tree(local)
    assert sync.pull().files == 0  # already there: nothing downloaded again
    assert sync.push().files == 0  # the pulled state is not re-uploaded

    _write(fresh / "trial_5" / "trial.json", b'{"id": 5}')
    assert sync.push().files == 1

    # A restarted process whose disk survived: the first push compares with the remote md5s.
    restarted = DirectorySync(fresh, store, "state")
    assert restarted.push().files == 0


def test_sync_never_deletes_remote_files_it_has_not_seen_locally(store, tmp_path):
    local = tmp_path / "state"
    _write(local / "a.txt", b"a")
    DirectorySync(local, store, "state").push()
    empty = tmp_path / "empty"
    empty.mkdir()
    s = DirectorySync(empty, store, "state").push()  # e.g. a push before the pull on a new pod
    assert (s.files, s.deleted) == (0, 0)
    assert store.exists("state/a.txt")


def test_sync_to_the_same_local_folder_is_a_no_op(tmp_path):
    local = tmp_path / "out" / "state"
    _write(local / "a.txt", b"a")
    sync = DirectorySync(local, LocalStore(tmp_path / "out"), "state")
    assert sync.push().files == 0 and sync.pull().files == 0
    assert _tree(local) == {"a.txt": b"a"}


# --------------------------------------------------------------------------- RunLock


def test_lock_is_exclusive_and_released(store):
    with RunLock(store, owner="run-a", heartbeat=False) as lock:
        assert lock.held
        body = json.loads(store.read_bytes("kftune.lock"))
        assert body["owner"] == "run-a" and body["token"] == lock.token
        with pytest.raises(LockError) as info:
            RunLock(store, owner="run-b").acquire()
        msg = str(info.value)
        assert "run-a" in msg and "in use by another run" in msg and store.url("kftune.lock") in msg
        assert "\n" not in msg
        before = store.read_bytes("kftune.lock")
        lock.refresh()  # too soon after acquiring: a no-op (GCS allows ~1 write/s per object)
        assert store.read_bytes("kftune.lock") == before
        lock.refresh(force=True)  # the holder can renew
        assert store.read_bytes("kftune.lock") != before
    assert not store.exists("kftune.lock")
    with RunLock(store, owner="run-b", heartbeat=False) as again:
        assert again.held and again.took_over is None


def test_stale_lock_is_taken_over_and_the_old_holder_stops(store):
    old = RunLock(store, owner="dead-run", ttl_seconds=30, heartbeat=False).acquire()
    later = lambda: time.time() + 60  # noqa: E731 - 60 s later the heartbeat is 2 TTLs old
    new = RunLock(store, owner="new-run", ttl_seconds=30, heartbeat=False, clock=later).acquire()
    assert new.took_over is not None and new.took_over["owner"] == "dead-run"
    with pytest.raises(LockError, match="new-run"):
        old.refresh(force=True)  # the old holder learns it lost the lock
    old.release()  # and must not delete the new holder's lock
    assert json.loads(store.read_bytes("kftune.lock"))["owner"] == "new-run"
    new.release()
    assert not store.exists("kftune.lock")


def test_stale_lock_takeover_has_exactly_one_winner(store):
    RunLock(store, owner="dead-run", ttl_seconds=10, heartbeat=False).acquire()
    later = lambda: time.time() + 100  # noqa: E731
    winners, errors, barrier = [], [], threading.Barrier(5)

    def taker(i: int) -> None:
        lock = RunLock(store, owner=f"taker-{i}", ttl_seconds=10, heartbeat=False, clock=later)
        barrier.wait()
        try:
            lock.acquire()
            winners.append(lock)
        except LockError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=taker, args=(i,)) for i in range(5)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(winners) == 1 and len(errors) == 4
    assert json.loads(store.read_bytes("kftune.lock"))["owner"] == winners[0].owner
    winners[0].release()


def test_heartbeat_keeps_a_slow_run_alive(store):
    with RunLock(store, owner="slow", ttl_seconds=0.6, heartbeat_seconds=0.1):
        time.sleep(1.0)  # longer than the TTL: only the heartbeat thread keeps it fresh
        with pytest.raises(LockError, match="slow"):
            RunLock(store, owner="other", heartbeat=False).acquire()
    assert not store.exists("kftune.lock")


def test_lock_of_a_dead_process_on_this_host_is_stale_at_once(store):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    now = time.time()
    body = {"owner": "killed", "token": "x", "host": socket.gethostname(), "pid": dead_pid,
            "acquired_at": now, "heartbeat_at": now, "ttl_seconds": 600}
    store.write_bytes("kftune.lock", json.dumps(body).encode())
    with RunLock(store, owner="rerun", heartbeat=False) as lock:
        assert lock.took_over["owner"] == "killed"


# --------------------------------------------------------------------------- fetch_to_local


def test_fetch_to_local_downloads_once(gcs_emulator, tmp_path):
    run = uuid.uuid4().hex[:8]
    store = open_store(f"gs://{BUCKET}/{run}")
    store.write_bytes("data/train.csv", b"a,b\n1,2\n")
    uri = f"gs://{BUCKET}/{run}/data/train.csv"
    path = fetch_to_local(uri, cache_dir=tmp_path / "cache")
    assert path.name == "train.csv" and path.read_bytes() == b"a,b\n1,2\n"
    assert uri_exists(uri) and not uri_exists(f"gs://{BUCKET}/{run}/data/missing.csv")
    store.delete("data/train.csv")
    assert not uri_exists(uri)
    assert fetch_to_local(uri) == path  # memoized: not downloaded again
    with pytest.raises(DataError, match=f"gs://{BUCKET}/{run}/data/missing.csv"):
        fetch_to_local(f"gs://{BUCKET}/{run}/data/missing.csv", cache_dir=tmp_path / "cache")


def test_fetch_to_local_returns_local_paths_as_is(tmp_path):
    assert fetch_to_local(str(tmp_path / "x.csv")) == tmp_path / "x.csv"
    assert fetch_to_local(f"file://{tmp_path}/y.npz") == tmp_path / "y.npz"
    assert fetch_to_local(tmp_path / "z.parquet") == tmp_path / "z.parquet"
    (tmp_path / "x.csv").write_text("a\n")
    assert uri_exists(str(tmp_path / "x.csv")) and not uri_exists(tmp_path / "y.npz")


# --------------------------------------------------------------------------- faults


def test_nothing_is_lost_through_a_faulty_network(fault_proxy, gcs_client, tmp_path):
    """~20% of requests fail (503, dropped, response lost); the client's retries absorb them all."""
    run = uuid.uuid4().hex[:8]
    flaky = _store_behind(fault_proxy, run)
    clean = GCSStore(BUCKET, run, client=gcs_client)

    payloads = {f"w/{i:03d}.bin": f"payload {i} ".encode() * (i % 7 + 1) for i in range(300)}
    for key, data in payloads.items():
        flaky.write_bytes(key, data)
    assert {o.key: o.md5 for o in clean.list("w/")} == {k: md5(v) for k, v in payloads.items()}

    local = tmp_path / "state"
    for i in range(20):
        _write(local / f"trial_{i:02d}" / "trial.json", json.dumps({"id": i}).encode())
        _write(local / f"trial_{i:02d}" / "checkpoint.weights.h5", os.urandom(30_000))
    sync = DirectorySync(local, flaky, "state")
    assert sync.push().files == 40
    for i in range(0, 20, 4):
        _write(local / f"trial_{i:02d}" / "trial.json", json.dumps({"id": i, "done": True}).encode())
    assert sync.push().files == 5
    restored = tmp_path / "restored"
    assert DirectorySync(restored, flaky, "state").pull().files == 40
    assert _tree(restored) == _tree(local)

    for _ in range(10):
        with RunLock(flaky, owner="flaky-run", heartbeat=False) as lock:
            for _ in range(5):
                lock.refresh(force=True)
            with pytest.raises(LockError, match="flaky-run"):
                RunLock(flaky, owner="second", heartbeat=False).acquire()
        assert not clean.exists("kftune.lock")

    assert fault_proxy.counts["503"] > 10 and fault_proxy.counts["drop"] > 5 and fault_proxy.counts["lost"] > 5
    total = sum(fault_proxy.counts.values())
    assert 0.1 < fault_proxy.faults / total < 0.3


def _store_behind(proxy, prefix: str, timeout: float = 60) -> GCSStore:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from google.cloud.storage.retry import DEFAULT_RETRY

    client = storage.Client(project="kftune-test", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": proxy.url})
    # The client's own retry predicate, with a shorter backoff so the tests stay fast.
    return GCSStore(BUCKET, prefix, client=client,
                    retry=DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.2).with_timeout(timeout))


def test_lock_survives_lost_responses(fault_proxy):
    """A create or heartbeat that landed but whose response was lost is retried and still ours."""
    fault_proxy.enabled = False
    store = _store_behind(fault_proxy, uuid.uuid4().hex[:8])
    fault_proxy.script = ["lost"]  # the create-if-absent lands, its answer is lost
    with RunLock(store, owner="me", heartbeat=False) as lock:
        assert fault_proxy.counts["lost"] == 1 and lock.took_over is None
        fault_proxy.script = ["lost"]  # the heartbeat's compare-and-swap is lost
        lock.refresh(force=True)
        assert fault_proxy.counts["lost"] == 2
        fault_proxy.script = ["lost"]  # the release's delete is lost: the retry finds it gone
    assert fault_proxy.counts["lost"] == 3
    assert not store.exists("kftune.lock")


def test_errors_after_retries_are_one_clear_line(fault_proxy, tmp_path):
    fault_proxy.rates.update({"503": 1.0, "drop": 0.0, "lost": 0.0})  # every request fails
    store = _store_behind(fault_proxy, "x", timeout=0.5)
    with pytest.raises(StorageError) as info:
        store.write_bytes("k.json", b"{}")
    msg = str(info.value)
    assert msg.startswith(f"write gs://{BUCKET}/x/k.json failed after retries") and "\n" not in msg
    assert "503" in msg
