"""RunLock: one run per output location, with a heartbeat and safe takeover of a dead run's lock.

Why: two runs syncing tuner state to the same prefix would overwrite each other's trials. The
lock is a small JSON object created only if absent (GCS ``ifGenerationMatch=0``, local
``os.link``). The holder rewrites it periodically (heartbeat) with a compare-and-swap on its
version. A lock whose heartbeat is older than its TTL (or whose process is gone, on this host)
is stale; taking it over is one more compare-and-swap, so of two runs racing to take over
exactly one wins. Times in the lock are the writers' wall clocks: TTLs should exceed any
plausible clock skew (the default is two minutes).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from kftune.errors import LockError
from kftune.storage.base import Store

__all__ = ["RunLock"]

log = logging.getLogger("kftune.storage")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed but unreaped child is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class RunLock:
    """Context manager holding ``key`` in ``store`` for the life of a run.

    ``ttl_seconds``: a lock not refreshed for this long is stale and may be taken over.
    ``heartbeat``: run a daemon thread that refreshes every ``heartbeat_seconds`` (default
    ``ttl/4``); with ``heartbeat=False`` the caller must call ``refresh()`` often enough.
    ``min_refresh_seconds``: ``refresh()`` calls closer together than this are no-ops (default
    ``min(5, ttl/10)``): GCS allows about one write per second to one object.
    ``force``: take over even a live lock (an operator's explicit decision).
    ``clock``: wall-clock source (tests inject one to age a lock without sleeping).
    """

    def __init__(
        self,
        store: Store,
        key: str = "kftune.lock",
        *,
        ttl_seconds: float = 120.0,
        owner: str | None = None,
        heartbeat: bool = True,
        heartbeat_seconds: float | None = None,
        min_refresh_seconds: float | None = None,
        force: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be > 0")
        self.store = store
        self.key = key
        self.ttl_seconds = float(ttl_seconds)
        self.heartbeat_seconds = float(heartbeat_seconds or ttl_seconds / 4) if heartbeat else 0.0
        self.min_refresh_seconds = (
            min(5.0, ttl_seconds / 10) if min_refresh_seconds is None else float(min_refresh_seconds)
        )
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.force = force
        self.clock = clock
        self.token = uuid.uuid4().hex
        self.took_over: dict[str, Any] | None = None  # the stale holder's record, if we replaced one
        self._version: str | None = None
        self._beat_at = float("-inf")  # monotonic time of the last successful write
        self._body: dict[str, Any] = {}
        self._lost: LockError | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.store.url(self.key)

    @property
    def held(self) -> bool:
        return self._version is not None and self._lost is None

    def __repr__(self) -> str:
        return f"RunLock({self.url!r}, owner={self.owner!r}, held={self.held})"

    # -- acquire / refresh / release ------------------------------------------------------
    def _encode(self, now: float) -> bytes:
        if not self._body:
            self._body = {
                "owner": self.owner,
                "token": self.token,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "acquired_at": now,
                "ttl_seconds": self.ttl_seconds,
            }
        self._body["heartbeat_at"] = now
        self._body["heartbeat"] = _iso(now)
        return json.dumps(self._body, sort_keys=True).encode()

    def _stale(self, holder: dict[str, Any], now: float) -> bool:
        ttl = float(holder.get("ttl_seconds") or self.ttl_seconds)  # the holder's TTL governs
        if now - float(holder.get("heartbeat_at") or 0) > ttl:
            return True
        pid = holder.get("pid")
        return (
            holder.get("host") == socket.gethostname()
            and isinstance(pid, int)
            and pid != os.getpid()
            and not _pid_alive(pid)
        )

    def _describe(self, holder: dict[str, Any], now: float) -> str:
        beat = now - float(holder.get("heartbeat_at") or 0)
        return (
            f"owner {holder.get('owner', '?')!r} (host {holder.get('host', '?')}, pid {holder.get('pid', '?')}) "
            f"since {_iso(float(holder.get('acquired_at') or 0))}, last heartbeat {beat:.0f}s ago"
        )

    def acquire(self) -> "RunLock":
        """Take the lock, or raise LockError naming who holds it and how to take over."""
        with self._mutex:
            if self._version is not None:
                return self
            for _ in range(5):  # only loops when the lock vanishes or changes between calls
                now = self.clock()
                self._body = {}
                version = self.store.write_if(self.key, self._encode(now), version=None)
                if version is not None:
                    self._version = version
                    break
                current = self.store.read_versioned(self.key)
                if current is None:
                    continue
                data, cur_version = current
                try:
                    holder = json.loads(data)
                    holder = holder if isinstance(holder, dict) else {}
                except ValueError:
                    holder = {}  # unreadable lock: treat as stale
                if not (self.force or not holder or self._stale(holder, now)):
                    ttl = float(holder.get("ttl_seconds") or self.ttl_seconds)
                    raise LockError(
                        f"{self.store.uri} is in use by another run: {self._describe(holder, now)}; "
                        f"it is taken over automatically once its heartbeat is older than {ttl:.0f}s, "
                        f"or delete {self.url} if you are sure that run is dead"
                    )
                version = self.store.write_if(self.key, self._encode(now), version=cur_version)
                if version is not None:
                    self._version = version
                    self.took_over = holder
                    log.warning("took over the lock %s from %s", self.url, self._describe(holder, now))
                    break
                # Someone else changed it first (another taker, or the holder's heartbeat): re-read.
            else:
                raise LockError(f"could not acquire {self.url}: it kept changing under us; retry later")
            self._lost = None
            self._beat_at = time.monotonic()
            self._stop.clear()
            if self.heartbeat_seconds > 0:
                self._thread = threading.Thread(target=self._heartbeat, name="kftune-lock-heartbeat", daemon=True)
                self._thread.start()
            return self

    def refresh(self, *, force: bool = False) -> None:
        """Renew the heartbeat (the engine calls this after each trial; cheap when called often).

        Raises LockError if the lock was taken over meanwhile: the run must stop writing.
        Skipped when the last renewal is under ``min_refresh_seconds`` old, unless ``force``.
        """
        with self._mutex:
            if self._lost is not None:
                raise self._lost
            if self._version is None:
                raise LockError(f"{self.url} is not held by this run")
            if not force and time.monotonic() - self._beat_at < self.min_refresh_seconds:
                return
            now = self.clock()
            version = self.store.write_if(self.key, self._encode(now), version=self._version)
            if version is not None:
                self._version = version
                self._beat_at = time.monotonic()
                return
            current = self.store.read_versioned(self.key)
            holder: dict[str, Any] = {}
            if current is not None:
                try:
                    holder = json.loads(current[0])
                except ValueError:
                    pass
            who = self._describe(holder, now) if holder else "the lock was deleted"
            self._lost = LockError(
                f"lost {self.url}: another run took it over ({who}); stopping so two runs do not write the same output"
            )
            self._version = None
            raise self._lost

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.refresh(force=True)
            except LockError as exc:
                log.error("%s", exc)
                return
            except Exception as exc:  # transient storage trouble: keep the thread, try next period
                log.warning("lock heartbeat for %s failed: %s", self.url, exc)

    def release(self) -> None:
        """Stop the heartbeat and delete the lock if it is still ours (never someone else's)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._thread = None
        with self._mutex:
            if self._version is None:
                return
            version, self._version = self._version, None
            if not self.store.delete_if(self.key, version):
                log.warning("did not delete %s: it is no longer ours", self.url)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
