"""Sync cost per trial: DirectorySync.push() on a growing keras-tuner-like state dir.

Each step adds one trial folder (trial.json + a checkpoint of --checkpoint-kb KB) and rewrites
oracle.json and tuner0.json, like keras-tuner after a trial; then push() runs. The table shows
per-push milliseconds and bytes uploaded next to the total state size, and, every 10 steps,
the cost of naively re-uploading the whole state, so the ratio is side by side. By default it
runs against gcp-storage-emulator on 127.0.0.1 (started here); ``--uri gs://bucket/prefix``
runs it against real GCS with Application Default Credentials.

    python benchmarks/bench_sync.py [--steps 50] [--checkpoint-kb 300] [--out docs/benchmarks-sync.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from kftune.storage import DirectorySync, open_store  # noqa: E402


def write_trial(state: Path, step: int, checkpoint_bytes: int, rng) -> None:
    trial = state / f"trial_{step:03d}"
    trial.mkdir(parents=True, exist_ok=True)
    (trial / "trial.json").write_text(
        json.dumps({"trial_id": f"{step:03d}", "hyperparameters": {"values": {"units": 64 + step, "lr": 1e-3}},
                    "metrics": {"val_accuracy": rng.random()}, "status": "COMPLETED"}, indent=2)
    )
    (trial / "checkpoint.weights.h5").write_bytes(rng.randbytes(checkpoint_bytes))
    oracle = {"ongoing_trials": {}, "tried_so_far": [f"{i:03d}" for i in range(step + 1)],
              "id_to_hash": {f"{i:03d}": f"{i:032x}" for i in range(step + 1)}, "seed": 42}
    (state / "oracle.json").write_text(json.dumps(oracle, indent=2))
    (state / "tuner0.json").write_text(json.dumps({"step": step}))


def tree_size(state: Path) -> tuple[int, int]:
    files = [p for p in state.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--checkpoint-kb", type=int, default=300)
    ap.add_argument("--uri", default=None, help="gs://bucket/prefix (default: a local emulator)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-sync.md"))
    args = ap.parse_args(argv)

    import random

    rng = random.Random(0)
    emulator = None
    if args.uri is None:
        from gcs_emulator import start_emulator

        emulator = start_emulator("kftune-bench")
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        uri = f"gs://kftune-bench/{uuid.uuid4().hex[:8]}"
        target = "gcp-storage-emulator 2026.7.19 on 127.0.0.1 (in memory)"
    else:
        uri = args.uri.rstrip("/") + f"/bench-{uuid.uuid4().hex[:8]}"
        target = "Google Cloud Storage"
    work = Path(tempfile.mkdtemp(prefix="kftune-bench-"))
    try:
        store = open_store(uri)
        state = work / "state"
        state.mkdir()
        sync = DirectorySync(state, store, "state")
        upload_ms: list[float] = []
        real_upload = store.upload_files

        def timed_upload(items):  # time the transfer alone: push = scan/hash + this
            t0 = time.perf_counter()
            real_upload(items)
            upload_ms.append((time.perf_counter() - t0) * 1000)

        store.upload_files = timed_upload
        rows = []
        for step in range(args.steps):
            write_trial(state, step, args.checkpoint_kb * 1024, rng)
            upload_ms.clear()
            stats = sync.push()
            scan_ms = stats.seconds * 1000 - sum(upload_ms)
            n_files, n_bytes = tree_size(state)
            naive_ms = None
            if (step + 1) % 10 == 0 or step == 0:
                files = [(p, f"naive{step}/{p.relative_to(state).as_posix()}") for p in state.rglob("*") if p.is_file()]
                t0 = time.perf_counter()
                real_upload(files)
                naive_ms = (time.perf_counter() - t0) * 1000
            rows.append((step + 1, n_files, n_bytes, stats.seconds * 1000, stats.files, stats.bytes, naive_ms, scan_ms))

        # Restore on an empty disk, and a restarted process's first push (seeds from one listing).
        restored = work / "restored"
        t0 = time.perf_counter()
        pulled = DirectorySync(restored, store, "state").pull()
        pull_s = time.perf_counter() - t0
        restart = DirectorySync(state, store, "state").push()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if emulator is not None:
            emulator.stop()

    lines = [
        "## State sync cost per trial (`benchmarks/bench_sync.py`)",
        "",
        f"Target: {target}. Each step adds one trial (trial.json + a {args.checkpoint_kb} KB checkpoint) and "
        "rewrites oracle.json and tuner0.json; `DirectorySync.push()` then uploads what changed. "
        "\"Full re-upload\" uploads the whole state dir (transfer_manager, 8 threads) for comparison. "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs.",
        "",
        "| step | state files | state size (KB) | push (ms) | push minus transfer (ms) | files uploaded | uploaded (KB) "
        "| full re-upload (ms) | full / push |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step, n_files, n_bytes, push_ms, up_files, up_bytes, naive_ms, scan_ms in rows:
        if step in (1, 2, 5) or step % 10 == 0:
            naive = f"{naive_ms:.0f}" if naive_ms is not None else ""
            ratio = f"{naive_ms / push_ms:.1f}x" if naive_ms is not None else ""
            lines.append(f"| {step} | {n_files} | {n_bytes / 1024:.0f} | {push_ms:.1f} | {scan_ms:.1f} | {up_files} | "
                         f"{up_bytes / 1024:.1f} | {naive} | {ratio} |")
    first, last = rows[: min(10, len(rows))], rows[-min(10, len(rows)):]
    med = lambda rs, i: statistics.median(r[i] for r in rs)  # noqa: E731
    lines += [
        "",
        f"- Median push, steps 1-{len(first)}: {med(first, 3):.1f} ms, {med(first, 5) / 1024:.0f} KB uploaded; "
        f"steps {rows[-len(last)][0]}-{rows[-1][0]}: {med(last, 3):.1f} ms, {med(last, 5) / 1024:.0f} KB uploaded, "
        f"push minus transfer (scan + hashing) {med(first, 7):.1f} ms -> {med(last, 7):.1f} ms, "
        f"while the state grew from {rows[len(first) - 1][2] / 1024:.0f} KB to {rows[-1][2] / 1024:.0f} KB "
        f"({rows[-1][1]} files). Files uploaded per push: {sorted({r[4] for r in rows})} "
        "(the new trial's two and the two rewritten JSONs; oracle.json last, in its own batch).",
        "- Step 1 includes creating the client and the one listing that seeds the manifest (both in "
        "\"push minus transfer\"). Against the "
        "emulator a 300 KB upload costs ~40 ms of its own (it parses multipart bodies in Python, one request "
        "at a time), so the per-push time is mostly the checkpoint's upload; on a shared machine single "
        "rows vary by tens of ms, compare the medians.",
        f"- Restore on an empty disk (`pull()`): {pulled.files} files, {pulled.bytes / 1024:.0f} KB in {pull_s * 1000:.0f} ms.",
        f"- First push of a restarted process on an intact disk: {restart.files} files uploaded in "
        f"{restart.seconds * 1000:.0f} ms (one listing, then every file hashed once against the listed md5s).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
