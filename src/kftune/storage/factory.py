"""Opening a store for a URI, and reading single data objects through one (the only module that
knows both implementations, so base never imports them and there is no cycle)."""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path
from typing import Any

from kftune.errors import DataError
from kftune.storage.base import ObjectNotFoundError, Store, is_remote, local_path, split_gs_uri

__all__ = ["fetch_to_local", "open_store", "uri_exists"]


def open_store(uri: str | Path, *, client: Any = None, retry: Any = None) -> Store:
    """The store rooted at ``uri``: ``gs://bucket/prefix`` (GCS), ``file:///path`` or a plain path.

    ``client`` (a ``google.cloud.storage.Client``) and ``retry`` (a google-api-core Retry) are
    passed to GCSStore; both default to the process-wide client and the client's DEFAULT_RETRY.
    """
    if is_remote(uri):
        from kftune.storage.gcs import GCSStore

        bucket, prefix = split_gs_uri(str(uri))
        return GCSStore(bucket, prefix, client=client, retry=retry)
    from kftune.storage.local import LocalStore

    return LocalStore(local_path(uri))



def uri_exists(uri: str | Path, *, client: Any = None) -> bool:
    """Whether a data file exists: a local path/``file://`` or a ``gs://`` object (no download)."""
    if not is_remote(uri):
        return local_path(uri).is_file()
    bucket, key = split_gs_uri(str(uri))
    if not key or key.endswith("/"):
        return False
    from kftune.storage.gcs import GCSStore

    return GCSStore(bucket, "", client=client).exists(key)


_fetched: dict[str, Path] = {}
_fetch_lock = threading.Lock()
_cache_root: Path | None = None


def fetch_to_local(uri: str | Path, cache_dir: str | Path | None = None, *, client: Any = None) -> Path:
    """A local path for a data file: a ``gs://`` object is downloaded once per process.

    Plain paths and ``file://`` URIs are returned as a Path without checks (the data module
    reports missing local files). A missing ``gs://`` object raises DataError naming the URI.
    The cached copy keeps the object's file name, so format detection by suffix still works.
    """
    if not is_remote(uri):
        return local_path(uri)
    uri = str(uri)
    global _cache_root
    with _fetch_lock:
        cached = _fetched.get(uri)
        if cached is not None and cached.exists():
            return cached
        bucket, key = split_gs_uri(uri)
        if not key or key.endswith("/"):
            raise DataError(f"{uri}: expected a gs:// URI naming an object, not a bucket or folder")
        if cache_dir is None:
            if _cache_root is None:
                _cache_root = Path(tempfile.mkdtemp(prefix="kftune-data-"))
            cache_dir = _cache_root
        dest = Path(cache_dir) / hashlib.sha1(uri.encode()).hexdigest()[:12] / key.rsplit("/", 1)[-1]
        from kftune.storage.gcs import GCSStore

        try:
            GCSStore(bucket, "", client=client).download_file(key, dest)
        except ObjectNotFoundError:
            raise DataError(f"data file not found: {uri}") from None
        _fetched[uri] = dest
        return dest
