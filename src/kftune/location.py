"""Where a run lives: a local working folder, mirrored to object storage when the output is remote.

keras-tuner and Keras only ever see local disk (h5py and TensorFlow's gfile cannot write to an
emulated or preempted ``gs://``); this class restores that folder from the store when a fresh pod
starts, pushes what changed after every trial, and holds the run's lock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from kftune.outputs import STATE_DIR

LOCK_NAME = ".kftune.lock"
# The lock lives only in the store; temp files and a not-yet-promoted model are never results.
SYNC_EXCLUDE = (LOCK_NAME, "*.tmp", "state/best_model.pending.keras")
# Upload order after each trial: the trial's own files, then keras-tuner's oracle.json (the commit
# point of the state), then the results that report the trial — so whatever a reader or a new pod
# sees as COMPLETED in the store is also completed in the state it resumes from.
SYNC_TIERS = (("oracle.json", "*/oracle.json"), ("trials.csv", "best_hyperparameters.json", "run.json"))


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def default_workdir(uri: str) -> Path:
    cache = Path(os.environ.get("KFTUNE_CACHE_DIR", Path.home() / ".cache" / "kftune"))
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return cache / "runs" / digest


class RunLocation:
    """A run's folder: ``local_dir`` always; a store + sync when ``uri`` is remote."""

    def __init__(self, uri: str, workdir: str | os.PathLike[str] | None = None, client: Any = None) -> None:
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
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.last_sync: Any = None

    @property
    def state_dir(self) -> Path:
        return self.local_dir / STATE_DIR

    @contextmanager
    def locked(self, owner: str) -> Iterator[Any]:
        from kftune.storage import RunLock

        with RunLock(self.store, LOCK_NAME, owner=owner) as lock:
            yield lock

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
