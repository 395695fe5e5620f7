"""Start gcp-storage-emulator on 127.0.0.1 for the tests, in its own process.

Run as a script (``python tests/gcs_emulator.py --port N --bucket B``) it serves the emulator
in memory; imported, it offers ``start_emulator()`` for the pytest fixtures and the benchmark.

Why a launcher instead of ``gcp-storage-emulator start``: the emulator (2026.7.19) ignores the
generation preconditions (``ifGenerationMatch`` / ``ifGenerationNotMatch`` /
``ifMetagenerationMatch``) that real GCS enforces, so a lock written with ``if_generation_match=0``
would never be refused. The launcher adds a small shim that checks those query parameters
against the stored object before a write or delete and answers ``412 Precondition Failed`` like
GCS does. The emulator serves one request at a time, so the check and the write are atomic.
Everything else is the unmodified emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``GET /`` answers (the emulator's health check), or fail with its output."""
    import http.client

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"emulator exited early with code {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=1.0)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"emulator on {host}:{port} did not answer within {timeout:.0f}s ({last})")


@dataclass
class Emulator:
    """A running emulator process; ``url`` is what STORAGE_EMULATOR_HOST should be."""

    proc: subprocess.Popen
    host: str
    port: int
    bucket: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_emulator(bucket: str = "kftune-test", host: str = HOST, port: int | None = None) -> Emulator:
    """Start the emulator (in memory, ``bucket`` created) and wait until it answers."""
    port = port or free_port(host)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--host", host, "--port", str(port), "--bucket", bucket,
           "--parent-pid", str(os.getpid())]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(host, port, proc=proc)
    except Exception:
        proc.kill()
        err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
        raise RuntimeError(f"could not start gcp-storage-emulator: {err}") from None
    # Drain stderr so a chatty emulator never blocks on a full pipe.
    threading.Thread(target=_drain, args=(proc.stderr,), daemon=True).start()
    return Emulator(proc=proc, host=host, port=port, bucket=bucket)


def _drain(stream) -> None:
    with contextlib.suppress(Exception):
        for _ in iter(lambda: stream.read(65536), b""):
            pass


# --------------------------------------------------------------------------- server side


class _PreconditionFailed(Exception):
    pass


def _install_precondition_shim() -> None:
    """Make the emulator enforce generation preconditions on writes and deletes, as GCS does."""
    from gcp_storage_emulator import server, storage
    from gcp_storage_emulator.exceptions import NotFound

    local = threading.local()
    orig_handle = server.Router.handle
    orig_create = storage.Storage.create_file
    orig_delete = storage.Storage.delete_file

    def check(self, bucket_name: str, file_name: str, *, missing_ok: bool = True) -> None:
        query = getattr(local, "query", None) or {}
        if not any(k in query for k in ("ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch")):
            return
        try:
            obj = self.get_file_obj(bucket_name, file_name)
            gen, meta = int(obj.get("generation") or 0), int(obj.get("metageneration") or 0)
        except NotFound:
            if not missing_ok:
                return  # like GCS: a missing object is a 404, whatever the preconditions
            gen, meta = 0, 0
        if "ifGenerationMatch" in query and int(query["ifGenerationMatch"][0]) != gen:
            raise _PreconditionFailed
        if "ifGenerationNotMatch" in query and int(query["ifGenerationNotMatch"][0]) == gen:
            raise _PreconditionFailed
        if "ifMetagenerationMatch" in query and int(query["ifMetagenerationMatch"][0]) != meta:
            raise _PreconditionFailed

    def create_file(self, bucket_name, file_name, content, file_obj, file_id=None):
        check(self, bucket_name, file_name)
        return orig_create(self, bucket_name, file_name, content, file_obj, file_id)

    def delete_file(self, bucket_name, file_name):
        check(self, bucket_name, file_name, missing_ok=False)
        return orig_delete(self, bucket_name, file_name)

    def handle(self, method):
        local.query = parse_qs(urlparse(self._request_handler.path).query)
        try:
            return orig_handle(self, method)
        except _PreconditionFailed:
            body = json.dumps(
                {
                    "error": {
                        "code": 412,
                        "message": "At least one of the pre-conditions you specified did not hold.",
                        "errors": [{"domain": "global", "reason": "conditionNotMet", "message": "Precondition Failed"}],
                    }
                }
            ).encode()
            h = self._request_handler
            h.send_response(412, "Precondition Failed")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        finally:
            local.query = None

    server.Router.handle = handle
    # The emulator writes headers and body separately; without TCP_NODELAY each response waits
    # for a delayed ACK (tens of ms). Not a behaviour change, only latency.
    server.RequestHandler.disable_nagle_algorithm = True
    # In memory mode the metadata snapshot (all objects as indented JSON, rewritten on every
    # write) is never read back; skipping it keeps a write O(1) instead of O(objects stored).
    orig_snapshot = storage.Storage._write_config_to_file

    def snapshot(self):
        if not self._use_memory_fs:
            orig_snapshot(self)

    storage.Storage._write_config_to_file = snapshot
    storage.Storage.create_file = create_file
    storage.Storage.delete_file = delete_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", action="append", default=[])
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    args = parser.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.CRITICAL)
    _install_precondition_shim()
    from gcp_storage_emulator.handlers.buckets import create_bucket
    from gcp_storage_emulator.server import create_server

    srv = create_server(args.host, args.port, in_memory=True)
    for name in args.bucket:
        create_bucket(name, srv._storage)
        # Hard deletes: the emulator keeps soft-deleted objects 7 days by default.
        srv._storage.buckets[name]["softDeletePolicy"] = {"retentionDurationSeconds": "0"}
    srv.start()
    try:
        while True:  # a killed test session must not leave the emulator behind
            time.sleep(1.0)
            if args.parent_pid and os.getppid() != args.parent_pid:
                break
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    # SIGTERM -> clean exit (stop() closes the listening socket).
    import signal

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
