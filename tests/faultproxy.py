"""A fault-injecting HTTP proxy on 127.0.0.1, put in front of the GCS emulator by the tests.

Each request draws (from a seeded RNG) one of:
  * ``503``  - answer 503 Service Unavailable without forwarding;
  * ``drop`` - close the connection without forwarding (the request never happened);
  * ``lost`` - forward, let the emulator do the work, then close without answering (the
    response is lost: the client retries an operation that already took effect);
  * pass through.
``lost`` is the fault that proves retries are idempotent (e.g. a create-if-absent that landed).
The Host header is kept, so resumable-upload URLs the emulator hands out point back at the proxy.
"""

from __future__ import annotations

import http.client
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class FaultProxy:
    """``FaultProxy(upstream_host, upstream_port, fail_503=0.1, drop=0.05, lost=0.05, seed=0)``.

    ``url`` is the proxy's base URL; ``counts`` tallies what happened (``pass``, ``503``,
    ``drop``, ``lost``); ``enabled`` switches random faults off and on; ``script`` is a list
    of kinds served, in order, to the next requests before random draws resume.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        fail_503: float = 0.10,
        drop: float = 0.05,
        lost: float = 0.05,
        seed: int = 0,
        host: str = "127.0.0.1",
    ):
        self.upstream = (upstream_host, upstream_port)
        self.rates = {"503": fail_503, "drop": drop, "lost": lost}
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.enabled = True
        self.script: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers + body in two packets cost a 40 ms delayed ACK

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self._server = _QuietServer((host, 0), Handler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def faults(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "pass")

    def _draw(self) -> str:
        with self._lock:
            if self.script:
                return self.script.pop(0)
            if not self.enabled:
                return "pass"
            x = self.rng.random()
        for kind, rate in self.rates.items():
            if x < rate:
                return kind
            x -= rate
        return "pass"

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        kind = self._draw()
        with self._lock:
            self.counts[kind] += 1
        if kind == "drop":
            h.close_connection = True
            return
        if kind == "503":
            payload = b'{"error": {"code": 503, "message": "injected fault"}}'
            h.send_response(503)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP and k.lower() != "content-length"}
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, reason, rheaders = resp.status, resp.reason, resp.getheaders()
        finally:
            conn.close()
        if kind == "lost":
            h.close_connection = True
            return
        h.send_response(status, reason)
        for k, v in rheaders:
            if k.lower() not in _HOP and k.lower() != "content-length":
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients hang up on dropped requests
        pass


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    length = h.headers.get("Content-Length")
    if length:
        return h.rfile.read(int(length))
    if (h.headers.get("Transfer-Encoding") or "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(h.rfile.readline().strip() or b"0", 16)
            if size == 0:
                h.rfile.readline()
                return bytes(out)
            out += h.rfile.read(size)
            h.rfile.readline()
    return b""
