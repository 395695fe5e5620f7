"""LocalStore: the Store protocol on a local folder (the embedded default, and the test twin of GCS).

Writes go to a temporary file and are renamed into place, so a reader never sees half a file.
Conditional writes (for the run lock) use ``os.link`` for create-if-absent and an ``flock`` on
the current file for compare-and-swap; versions are the sha1 of the content.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator, Sequence

from kftune.errors import StorageError
from kftune.storage.base import ObjectInfo, ObjectNotFoundError, file_md5

_TMP = ".kftune-tmp-"


def _version(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class LocalStore:
    """A Store rooted at a local directory (created on first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()
        self.uri = str(self.root)

    def __repr__(self) -> str:
        return f"LocalStore({self.uri!r})"

    def url(self, key: str) -> str:
        return str(self._path(key))

    def _path(self, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise StorageError(f"invalid storage key {key!r} under {self.uri}")
        return self.root.joinpath(*parts)

    @contextlib.contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{op} {self.url(key)}: no such file") from None
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"{op} {self.url(key)} failed: {exc.strerror or exc}") from None

    def _tmp_for(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(f"{_TMP}{uuid.uuid4().hex}-{path.name}")

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = self._tmp_for(path)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    # -- plain operations ---------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        with self._errors("read", key):
            return self._path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> None:
        with self._errors("write", key):
            self._atomic_write(self._path(key), bytes(data))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        # Walk only the deepest folder the prefix names, then filter by the full prefix.
        base = self.root.joinpath(*[p for p in prefix.split("/")[:-1] if p])
        out: list[ObjectInfo] = []
        if not base.is_dir():
            return out
        with self._errors("list", prefix or "."):
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    if name.startswith(_TMP):
                        continue
                    path = Path(dirpath, name)
                    key = path.relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        out.append(ObjectInfo(key, path.stat().st_size, file_md5(path)))
        return sorted(out, key=lambda o: o.key)

    def delete(self, key: str) -> bool:
        with self._errors("delete", key):
            try:
                self._path(key).unlink()
                return True
            except FileNotFoundError:
                return False

    def upload_file(self, local: str | Path, key: str) -> None:
        dest = self._path(key)
        with self._errors("upload to", key):
            tmp = self._tmp_for(dest)
            try:
                shutil.copyfile(local, tmp)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)

    def download_file(self, key: str, local: str | Path) -> Path:
        local = Path(local)
        with self._errors("download", key):
            tmp = self._tmp_for(local)
            try:
                shutil.copyfile(self._path(key), tmp)
                os.replace(tmp, local)
            finally:
                tmp.unlink(missing_ok=True)
        return local

    def upload_files(self, items: Sequence[tuple[Path, str]]) -> None:
        for local, key in items:
            self.upload_file(local, key)

    def download_files(self, items: Sequence[tuple[str, Path]]) -> None:
        for key, local in items:
            self.download_file(key, local)

    # -- conditional operations -------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[bytes | None]:
        """Hold an exclusive flock on the file currently at ``path``; yield its content (None if absent).

        Re-checks the inode after locking: a writer may have renamed a new file into place
        while we waited on the old one.
        """
        import fcntl

        while True:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                yield None
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    continue
                with open(fd, "rb", closefd=False) as f:
                    content = f.read()
                yield content
                return
            finally:
                os.close(fd)

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        with self._errors("read", key):
            try:
                data = self._path(key).read_bytes()
            except FileNotFoundError:
                return None
        return data, _version(data)

    def write_if(self, key: str, data: bytes, *, version: str | None) -> str | None:
        path = self._path(key)
        data = bytes(data)
        with self._errors("write", key):
            if version is None:
                tmp = self._tmp_for(path)
                try:
                    tmp.write_bytes(data)
                    os.link(tmp, path)  # atomic create-if-absent, content already complete
                    return _version(data)
                except FileExistsError:
                    current = self.read_versioned(key)
                    return current[1] if current and current[0] == data else None
                finally:
                    tmp.unlink(missing_ok=True)
            with self._locked(path) as current:
                if current is None or _version(current) != version:
                    return _version(data) if current == data else None
                self._atomic_write(path, data)
                return _version(data)

    def delete_if(self, key: str, version: str) -> bool:
        path = self._path(key)
        with self._errors("delete", key):
            with self._locked(path) as current:
                if current is None:
                    return True
                if _version(current) != version:
                    return False
                path.unlink()
                return True
