"""Where a run lives: a local working folder, mirrored to object storage when the output is remote.

keras-tuner and Keras only ever see local disk (h5py and TensorFlow's gfile cannot write to an
emulated or preempted ``gs://``); this class restores that folder from the store when a fresh pod
starts, pushes what changed after every trial, and holds the run's lock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from kftune.errors import LockError
from kftune.layout import LOCK_NAME, STATE_DIR, SYNC_EXCLUDE, SYNC_TIERS

LOCK_RETRY_S = 15.0


def is_remote(uri: str) -> bool:
    """Whether a run at ``uri`` works in a local folder mirrored to a store (any scheme but file://;
    the store then accepts gs:// or names the URI it cannot open)."""
    return "://" in uri and not uri.startswith("file://")


def check_local_dir(path: Path, what: str) -> None:
    """PathError (one line, exit 2) unless ``path`` is, or can be made, a folder kftune can write.

    Checked before any work: a parent that is a regular file, a folder that cannot be created, one
    that cannot be written (tried with a real file: permission bits say nothing for root or a
    read-only mount)."""
    import tempfile

    from kftune.errors import PathError

    try:
        for parent in [path, *path.parents]:
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    kind = "a file" if parent.is_file() else "not a folder"
                    where = f"is {kind}" if parent == path else f"is below {parent}, which is {kind}"
                    raise PathError(f"{what} {path}: {where}; give a folder")
                break
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        if isinstance(exc, PathError):
            raise
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PathError(f"{what} {str(path)[:60]!r}...: cannot use it as a folder name ({reason})") from None
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".kftune-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PathError(f"{what} {path}: cannot create or write this folder ({reason})") from None


def check_output(uri: str, workdir: str | os.PathLike[str] | None = None) -> None:
    """Whether a run can live at ``uri`` (with ``workdir`` for a remote one): PathError otherwise."""
    from kftune.errors import PathError
    from kftune.spec import output_uri_problem

    problem = output_uri_problem(str(uri))
    if problem:
        raise PathError(f"--output {uri}: {problem}")
    if workdir is not None:
        check_local_dir(Path(workdir), "--workdir")
    if not is_remote(str(uri)):
        check_local_dir(Path(str(uri).removeprefix("file://")), "--output")


def default_workdir(uri: str) -> Path:
    cache = Path(os.environ.get("KFTUNE_CACHE_DIR", Path.home() / ".cache" / "kftune"))
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return cache / "runs" / digest


class RunLocation:
    """A run's folder: ``local_dir`` always; a store + sync when ``uri`` is remote."""

    def __init__(self, uri: str, workdir: str | os.PathLike[str] | None = None, client: Any = None) -> None:
        check_output(uri, workdir)
        self.uri = uri.rstrip("/") if is_remote(uri) else uri
        self.remote = is_remote(uri)
        if self.remote:
            from kftune.storage import DirectorySync, open_store

            self.store = open_store(self.uri, client=client) if client is not None else open_store(self.uri)
            self.local_dir = Path(workdir) if workdir else default_workdir(self.uri)
            self.sync = DirectorySync(self.local_dir, self.store, "", exclude=SYNC_EXCLUDE, upload_last=SYNC_TIERS)
        else:
            from kftune.storage import open_store

            path = uri.removeprefix("file://")
            self.local_dir = Path(path)
            self.store = open_store(str(self.local_dir))
            self.sync = None
        check_local_dir(self.local_dir, "--workdir" if self.remote else "--output")
        self.last_sync: Any = None

    @property
    def state_dir(self) -> Path:
        return self.local_dir / STATE_DIR

    @contextmanager
    def locked(self, owner: str, wait_s: float = 0.0, on_wait: Callable[[LockError], None] | None = None) -> Iterator[Any]:
        """Hold the run's lock; with ``wait_s``, first wait that long for another holder's lock to expire.

        A retried pipeline task runs on another host, so its killed predecessor's lock is only seen as
        stale once the heartbeat is older than the lock's TTL; the retry may start sooner. A live holder
        keeps its heartbeat fresh, so after the wait the LockError stands.
        """
        from kftune.storage import RunLock

        deadline = time.monotonic() + wait_s
        while True:
            lock = RunLock(self.store, LOCK_NAME, owner=owner)
            try:
                lock.acquire()
                break
            except LockError as exc:
                if time.monotonic() >= deadline:
                    raise
                if on_wait is not None:
                    on_wait(exc)
                time.sleep(min(LOCK_RETRY_S, max(deadline - time.monotonic(), 0.1)))
        try:
            yield lock
        finally:
            lock.release()

    def clear(self) -> None:
        """``--fresh``: forget the previous state and results, here and in the store."""
        for child in self.local_dir.iterdir():
            if child.name == LOCK_NAME:
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        if self.remote:
            for info in self.store.list(""):
                if info.key != LOCK_NAME:
                    self.store.delete(info.key)
            self.sync = type(self.sync)(self.local_dir, self.store, "", exclude=SYNC_EXCLUDE, upload_last=SYNC_TIERS)

    def pull(self) -> int:
        """Restore the local folder from the store (a new pod after preemption); 0 when local."""
        if not self.remote:
            return 0
        return self.sync.pull()

    def push(self) -> Any:
        if self.remote:
            self.last_sync = self.sync.push()
        return self.last_sync
