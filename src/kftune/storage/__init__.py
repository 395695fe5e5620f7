"""Object storage for kftune: one ``Store`` protocol (local folder or ``gs://``), data fetch,
state-dir sync and the run lock. Imports google-cloud-storage only when a ``gs://`` URI is used.
"""

from kftune.storage.base import ObjectInfo, ObjectNotFoundError, Store, file_md5, is_remote, split_gs_uri
from kftune.storage.factory import fetch_to_local, open_store, uri_exists
from kftune.storage.gcs import GCSStore
from kftune.storage.local import LocalStore
from kftune.storage.lock import RunLock
from kftune.storage.sync import DirectorySync, SyncStats

__all__ = [
    "DirectorySync",
    "GCSStore",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFoundError",
    "RunLock",
    "Store",
    "SyncStats",
    "fetch_to_local",
    "file_md5",
    "is_remote",
    "open_store",
    "split_gs_uri",
    "uri_exists",
]
