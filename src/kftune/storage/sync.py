"""DirectorySync: mirror a local folder (the keras-tuner state dir) to a store prefix, cheaply.

Why: keras-tuner and Keras write to local disk only (TF's gs:// filesystem cannot reach an
emulator and tensorflow-io is broken on TF 2.21), so after every trial the engine pushes what
changed; a new pod with an empty disk pulls it back.

How ``push`` stays proportional to what changed: a manifest ``relpath -> (size, mtime_ns, md5)``
of files known to be identical on both sides. A file whose size and mtime match is skipped
without reading it; one whose mtime is too close to the scan that recorded it ("racy", as in
git's index) is hashed once more instead, so a rewrite within the filesystem's timestamp
granularity is never missed. The first push of a process seeds the manifest from one listing
of the prefix (GCS keeps an md5 of every object), so a restarted run does not re-upload the
state it just pulled. Files matching ``upload_last`` (keras-tuner's ``oracle.json``, which names
trials whose ``trial.json`` must exist on reload) are uploaded only after everything else landed,
so a pod killed mid-push never leaves an oracle pointing at missing trials. A remote file is deleted only if this process saw it locally (pulled or
pushed it) and it has since disappeared: a push from an empty folder never wipes the prefix.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from kftune.storage.base import Store, file_md5

__all__ = ["DirectorySync", "SyncStats"]

# A file whose mtime is within this window of the scan that recorded it is re-hashed on the next
# push: a later write inside the same timestamp tick would leave size and mtime unchanged.
# Nanosecond filesystems tick with the kernel's coarse clock (a few ms); a file whose mtime is a
# whole second suggests a 1-2 s filesystem (FAT, some network mounts).
_RACY_NS = 50_000_000
_RACY_COARSE_NS = 2_000_000_000


def _racy(mtime_ns: int, scan_ns: int) -> bool:
    window = _RACY_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else _RACY_NS
    return mtime_ns >= scan_ns - window


@dataclass(frozen=True)
class SyncStats:
    """What one push or pull did: files/bytes transferred, remote files deleted, files looked at."""

    files: int
    bytes: int
    deleted: int
    scanned: int
    seconds: float


@dataclass
class _Entry:
    size: int
    mtime_ns: int | None  # None: known only from the remote listing
    md5: str | None
    racy: bool = False


class DirectorySync:
    """Keep ``store``/``prefix`` a copy of ``local_dir``: ``push()`` after each trial, ``pull()`` on start.

    ``exclude``: fnmatch patterns on the relative path (``/`` separators) never synced.
    ``delete``: remove remote files that were deleted locally (see the module docstring).
    ``upload_last``: "commit point" files uploaded after all the others, as ordered tiers: each
    entry is a pattern or a tuple of patterns, and each tier lands before the next one starts (the
    engine uploads keras-tuner's oracle.json before the results tables that report its trials).
    """

    def __init__(
        self,
        local_dir: str | Path,
        store: Store,
        prefix: str = "",
        *,
        exclude: Iterable[str] = (),
        delete: bool = True,
        upload_last: Iterable[str | tuple[str, ...]] = (("oracle.json", "*/oracle.json"),),
    ):
        self.local_dir = Path(local_dir)
        self.store = store
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.exclude = tuple(exclude)
        self.delete = delete
        self.upload_last = tuple((t,) if isinstance(t, str) else tuple(t) for t in upload_last)
        self._manifest: dict[str, _Entry] = {}
        self._seeded = False
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        # A LocalStore whose target *is* local_dir: nothing to copy.
        root = getattr(store, "root", None)
        self._same_place = root is not None and (
            Path(root, self.prefix).resolve() == self.local_dir.resolve()
        )

    def __repr__(self) -> str:
        return f"DirectorySync({str(self.local_dir)!r} <-> {self.url()!r})"

    def url(self) -> str:
        return self.store.uri.rstrip("/") + "/" + self.prefix if self.prefix else self.store.uri

    def _excluded(self, rel: str) -> bool:
        if ".kftune-tmp-" in rel:  # our own in-flight downloads
            return True
        return any(fnmatch.fnmatchcase(rel, p) for p in self.exclude)

    def _scan(self) -> dict[str, os.stat_result]:
        """relpath -> stat of every synced local file (scandir: no Path objects per file)."""
        out: dict[str, os.stat_result] = {}
        stack = [("", str(self.local_dir))]
        while stack:
            rel_dir, abs_dir = stack.pop()
            try:
                entries = list(os.scandir(abs_dir))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                rel = rel_dir + entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((rel + "/", entry.path))
                    elif entry.is_file() and not self._excluded(rel):  # skips links to folders
                        out[rel] = entry.stat()
                except FileNotFoundError:  # deleted while we walked
                    continue
        return out

    def _seed_from_remote(self) -> None:
        if self._seeded:
            return
        for obj in self.store.list(self.prefix):
            rel = obj.key[len(self.prefix):]
            if rel and not self._excluded(rel):
                self._manifest.setdefault(rel, _Entry(obj.size, None, obj.md5))
        self._seeded = True

    def pull(self) -> SyncStats:
        """Restore ``local_dir`` from the store: download what is missing or different locally."""
        t0 = time.perf_counter()
        with self._lock:
            if self._same_place:
                return SyncStats(0, 0, 0, 0, time.perf_counter() - t0)
            scan_ns = time.time_ns()
            remote = [o for o in self.store.list(self.prefix) if not self._excluded(o.key[len(self.prefix):])]
            todo: list[tuple[str, Path]] = []
            nbytes = 0
            for obj in remote:
                rel = obj.key[len(self.prefix):]
                if not rel:
                    continue
                path = self.local_dir / rel
                if path.is_file() and path.stat().st_size == obj.size and obj.md5 and file_md5(path) == obj.md5:
                    self._record(rel, path.stat(), obj.md5, scan_ns)
                    continue
                todo.append((obj.key, path))
                nbytes += obj.size
            self.store.download_files(todo)
            for obj in remote:
                rel = obj.key[len(self.prefix):]
                if rel:
                    path = self.local_dir / rel
                    self._record(rel, path.stat(), obj.md5 or file_md5(path), scan_ns)
            self._seeded = True
            return SyncStats(len(todo), nbytes, 0, len(remote), time.perf_counter() - t0)

    def _record(self, rel: str, st: os.stat_result, md5: str, scan_ns: int) -> None:
        self._manifest[rel] = _Entry(st.st_size, st.st_mtime_ns, md5, _racy(st.st_mtime_ns, scan_ns))
        self._seen.add(rel)

    def push(self) -> SyncStats:
        """Upload files changed since the last push/pull; delete remote files removed locally."""
        t0 = time.perf_counter()
        with self._lock:
            if self._same_place:
                return SyncStats(0, 0, 0, 0, time.perf_counter() - t0)
            self._seed_from_remote()
            scan_ns = time.time_ns()
            local = self._scan()
            changed: list[tuple[str, os.stat_result, str]] = []
            for rel, st in local.items():
                entry = self._manifest.get(rel)
                if entry is not None and entry.size == st.st_size:
                    if entry.mtime_ns == st.st_mtime_ns and not entry.racy:
                        continue
                    md5 = file_md5(self.local_dir / rel)
                    if md5 == entry.md5:
                        self._record(rel, st, md5, scan_ns)
                        continue
                else:
                    md5 = file_md5(self.local_dir / rel)
                changed.append((rel, st, md5))
            batches: list[list[tuple[str, os.stat_result, str | None]]] = [[] for _ in range(len(self.upload_last) + 1)]
            for item in changed:
                tier = next(
                    (i + 1 for i, pats in enumerate(self.upload_last) if any(fnmatch.fnmatchcase(item[0], p) for p in pats)),
                    0,
                )
                batches[tier].append(item)
            for batch in batches:
                if batch:
                    self.store.upload_files([(self.local_dir / rel, self.prefix + rel) for rel, _, _ in batch])
            for rel, st, md5 in changed:
                self._record(rel, st, md5, scan_ns)
            deleted = 0
            if self.delete:
                for rel in sorted(self._seen - local.keys()):
                    if rel in self._manifest:
                        self.store.delete(self.prefix + rel)
                        del self._manifest[rel]
                        deleted += 1
                    self._seen.discard(rel)
            return SyncStats(
                len(changed), sum(st.st_size for _, st, _ in changed), deleted, len(local), time.perf_counter() - t0
            )
