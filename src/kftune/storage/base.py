"""The storage interface: a small ``Store`` protocol and URI parsing (``open_store`` is in storage.factory).

Why a protocol: tuner state, data and outputs go to a local folder or to ``gs://`` through the
same few calls, and one contract test runs against every implementation. Keys are relative to
the store's root URI and always use ``/``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable
from urllib.parse import unquote, urlparse

from kftune.errors import StorageError

__all__ = [
    "ObjectInfo",
    "ObjectNotFoundError",
    "Store",
    "file_md5",
    "is_remote",
    "local_path",
    "split_gs_uri",
]


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """The object (or file) does not exist; the message names its URI."""


@dataclass(frozen=True)
class ObjectInfo:
    """One object under a store: ``key`` relative to the store root, ``md5`` as hex (or None)."""

    key: str
    size: int
    md5: str | None = None


@runtime_checkable
class Store(Protocol):
    """What kftune needs from object storage. Implementations: LocalStore, GCSStore."""

    uri: str

    def url(self, key: str) -> str:
        """Full URI of ``key`` (for messages and records)."""

    def read_bytes(self, key: str) -> bytes:
        """Content of ``key``; ObjectNotFoundError if it does not exist."""

    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace ``key`` (complete or not at all)."""

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (recursive), sorted by key."""

    def delete(self, key: str) -> bool:
        """Delete ``key``; True if it existed."""

    def upload_file(self, local: str | Path, key: str) -> None: ...

    def download_file(self, key: str, local: str | Path) -> Path:
        """Write ``key`` to ``local`` atomically (parents created); ObjectNotFoundError if missing."""

    def upload_files(self, items: Sequence[tuple[Path, str]]) -> None:
        """Upload many ``(local path, key)`` pairs, concurrently where the store gains from it."""

    def download_files(self, items: Sequence[tuple[str, Path]]) -> None:
        """Download many ``(key, local path)`` pairs, concurrently where the store gains from it."""

    # Conditional operations (what a lock needs). A version is an opaque string.
    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        """``(content, version)`` of ``key``, or None if it does not exist."""

    def write_if(self, key: str, data: bytes, *, version: str | None) -> str | None:
        """Write only if ``key``'s version is ``version`` (None: only if ``key`` does not exist).

        Returns the new version, or None when the precondition failed. A retried write whose
        first attempt landed (lost response) is recognised by its content and counts as success.
        """

    def delete_if(self, key: str, version: str) -> bool:
        """Delete only if ``key``'s version is ``version``; True if it is gone afterwards."""


def is_remote(uri: str | Path) -> bool:
    return isinstance(uri, str) and uri.startswith("gs://")


def split_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``; StorageError naming the URI if malformed."""
    parsed = urlparse(uri)
    bucket = parsed.netloc
    if parsed.scheme != "gs" or not bucket or "/" in bucket or parsed.query or parsed.fragment:
        raise StorageError(f"invalid URI {uri!r}: expected gs://BUCKET/PREFIX")
    return bucket, parsed.path.lstrip("/")


def local_path(uri: str | Path) -> Path:
    if isinstance(uri, Path):
        return uri
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(f"invalid URI {uri!r}: file:// URIs must name a local absolute path")
        return Path(unquote(parsed.path))
    if len(parsed.scheme) > 1:  # a one-letter "scheme" is a Windows drive
        raise StorageError(
            f"unsupported storage URI {uri!r}: use gs://BUCKET/PREFIX, file:///PATH or a local path"
        )
    return Path(uri)


def file_md5(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex md5 of a file (the digest GCS keeps for every non-composite object)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
