"""GCSStore: the Store protocol on Google Cloud Storage with the real ``google-cloud-storage`` client.

What the client already does well is used as is: its DEFAULT_RETRY (exponential backoff on 429,
5xx and dropped connections) on every call, generation preconditions for the run lock, and
``transfer_manager`` (threads) for many files. Plain content writes are retried unconditionally:
under the run lock kftune is the only writer of its prefix and rewriting the same bytes is
idempotent. Credentials: anonymous against an emulator (``STORAGE_EMULATOR_HOST``), otherwise
Application Default Credentials / Workload Identity. Nothing here logs credentials; errors name
only the bucket and object.
"""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

from kftune.errors import MissingExtraError, StorageError
from kftune.storage.base import ObjectInfo, ObjectNotFoundError

_clients: dict[tuple[str | None, str | None], Any] = {}
_clients_lock = threading.Lock()


def _storage_module():
    try:
        from google.cloud import storage
    except ImportError:  # pragma: no cover - a core dependency
        raise MissingExtraError(
            "gs:// needs google-cloud-storage: pip install 'google-cloud-storage>=2.16'"
        ) from None
    return storage


def default_client(project: str | None = None) -> Any:
    """One client per process (per emulator host/project): creating one looks up credentials."""
    storage = _storage_module()
    emulator = os.environ.get("STORAGE_EMULATOR_HOST") or None
    key = (emulator, project)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        if emulator:
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(
                project=project or os.environ.get("GOOGLE_CLOUD_PROJECT") or "kftune-emulator",
                credentials=AnonymousCredentials(),
            )
        else:
            import google.auth.exceptions

            try:
                client = storage.Client(project=project)
            except (google.auth.exceptions.DefaultCredentialsError, OSError) as exc:
                raise StorageError(
                    "no Google Cloud credentials found (Application Default Credentials): run "
                    "`gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, "
                    f"or use Workload Identity ({type(exc).__name__})"
                ) from None
        _clients[key] = client
        return client


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg[:240]}" if msg else type(exc).__name__


class GCSStore:
    """A Store rooted at ``gs://bucket/prefix``. ``client`` and ``retry`` are injectable.

    ``retry`` defaults to the class attribute ``default_retry``, itself None meaning the client's
    DEFAULT_RETRY; tests behind a fault proxy set a shorter backoff there for every store.
    """

    default_retry: Any = None

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        retry: Any = None,
        max_workers: int = 8,
    ):
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"gs://{bucket}/{self.prefix}" if self.prefix else f"gs://{bucket}"
        self._client = client
        self._retry = retry
        self._bucket = None
        self.max_workers = max_workers

    def __repr__(self) -> str:
        return f"GCSStore({self.uri!r})"

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = default_client()
        return self._client

    @property
    def retry(self) -> Any:
        if self._retry is None:
            from google.cloud.storage.retry import DEFAULT_RETRY

            self._retry = self.default_retry or DEFAULT_RETRY
        return self._retry

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            self._bucket = self.client.bucket(self.bucket_name)
        return self._bucket

    def _name(self, key: str) -> str:
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise StorageError(f"invalid storage key {key!r} under {self.uri}")
        return "/".join([self.prefix, *parts]) if self.prefix else "/".join(parts)

    def url(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(key)}"

    def _blob(self, key: str) -> Any:
        return self.bucket.blob(self._name(key))

    @contextlib.contextmanager
    def _errors(self, op: str, target: str, *, writing: bool = False) -> Iterator[None]:
        """Turn the client's exceptions (raised after its retries) into one-line kftune errors."""
        from google.api_core import exceptions as gexc

        try:
            yield
        except (StorageError, MissingExtraError):
            raise
        except gexc.NotFound as exc:
            if writing or "bucket" in str(exc).lower() and "not exist" in str(exc).lower():
                raise StorageError(f"{op} {target} failed: bucket gs://{self.bucket_name} not found") from None
            raise ObjectNotFoundError(f"{op} {target}: no such object") from None
        except (gexc.Forbidden, gexc.Unauthorized) as exc:
            raise StorageError(
                f"{op} {target} failed: permission denied ({exc.code}); the service account needs "
                f"roles/storage.objectAdmin on gs://{self.bucket_name}"
            ) from None
        except Exception as exc:  # transport errors, retries exhausted, checksum mismatches
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise StorageError(f"{op} {target} failed after retries: {_short(exc)}") from None

    # -- plain operations ---------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        with self._errors("read", self.url(key)):
            return self._blob(key).download_as_bytes(retry=self.retry)

    def write_bytes(self, key: str, data: bytes) -> None:
        ctype = mimetypes.guess_type(key)[0] or "application/octet-stream"
        with self._errors("write", self.url(key), writing=True):
            self._blob(key).upload_from_string(bytes(data), content_type=ctype, retry=self.retry)

    def exists(self, key: str) -> bool:
        with self._errors("check", self.url(key)):
            return bool(self._blob(key).exists(retry=self.retry))

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        root = f"{self.prefix}/" if self.prefix else ""
        target = f"gs://{self.bucket_name}/{root}{prefix}"
        out = []
        with self._errors("list", target, writing=True):
            for blob in self.client.list_blobs(self.bucket_name, prefix=root + prefix, retry=self.retry):
                md5 = base64.b64decode(blob.md5_hash).hex() if blob.md5_hash else None
                out.append(ObjectInfo(blob.name[len(root):], int(blob.size or 0), md5))
        return sorted(out, key=lambda o: o.key)

    def delete(self, key: str) -> bool:
        from google.api_core import exceptions as gexc

        with self._errors("delete", self.url(key)):
            try:
                self._blob(key).delete(retry=self.retry)
                return True
            except gexc.NotFound:  # also a retried delete whose first attempt landed
                return False

    def upload_file(self, local: str | Path, key: str) -> None:
        with self._errors("upload to", self.url(key), writing=True):
            self._blob(key).upload_from_filename(str(local), retry=self.retry)

    def download_file(self, key: str, local: str | Path) -> Path:
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".kftune-tmp-{uuid.uuid4().hex}-{local.name}")
        try:
            with self._errors("download", self.url(key)):
                self._blob(key).download_to_filename(str(tmp), retry=self.retry)
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)
        return local

    def upload_files(self, items: Sequence[tuple[Path, str]]) -> None:
        items = list(items)
        if len(items) <= 1:
            for local, key in items:
                self.upload_file(local, key)
            return
        from google.cloud.storage import transfer_manager

        pairs = [(str(local), self._blob(key)) for local, key in items]
        target = f"{len(items)} files to {self.uri}"
        with self._errors("upload of", target, writing=True):
            results = transfer_manager.upload_many(
                pairs,
                upload_kwargs={"retry": self.retry},
                worker_type=transfer_manager.THREAD,
                max_workers=self.max_workers,
                raise_exception=False,
            )
        self._raise_first(results, [key for _, key in items], "upload to", writing=True)

    def download_files(self, items: Sequence[tuple[str, Path]]) -> None:
        items = list(items)
        if len(items) <= 1:
            for key, local in items:
                self.download_file(key, local)
            return
        from google.cloud.storage import transfer_manager

        tmps = []
        for _key, local in items:
            local = Path(local)
            local.parent.mkdir(parents=True, exist_ok=True)
            tmps.append(local.with_name(f".kftune-tmp-{uuid.uuid4().hex}-{local.name}"))
        try:
            with self._errors("download of", f"{len(items)} files from {self.uri}"):
                results = transfer_manager.download_many(
                    [(self._blob(key), str(tmp)) for (key, _), tmp in zip(items, tmps)],
                    download_kwargs={"retry": self.retry},
                    worker_type=transfer_manager.THREAD,
                    max_workers=self.max_workers,
                    raise_exception=False,
                )
            self._raise_first(results, [key for key, _ in items], "download")
            for (_key, local), tmp in zip(items, tmps):
                os.replace(tmp, local)
        finally:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)

    def _raise_first(self, results: list, keys: list[str], op: str, *, writing: bool = False) -> None:
        for key, result in zip(keys, results):
            if isinstance(result, BaseException):
                with self._errors(op, self.url(key), writing=writing):
                    raise result

    # -- conditional operations -------------------------------------------------------------
    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        with self._errors("read", self.url(key)):
            blob = self.bucket.get_blob(self._name(key), retry=self.retry)
            if blob is None:
                return None
            from google.api_core import exceptions as gexc

            generation = blob.generation  # read first: a download may overwrite it from headers
            try:
                data = blob.download_as_bytes(if_generation_match=generation, retry=self.retry)
            except (gexc.NotFound, gexc.PreconditionFailed):
                return None  # changed under us: report "gone"; the caller's precondition stays safe
            return data, str(generation)

    def write_if(self, key: str, data: bytes, *, version: str | None) -> str | None:
        from google.api_core import exceptions as gexc

        data = bytes(data)
        blob = self._blob(key)
        with self._errors("write", self.url(key), writing=True):
            try:
                blob.upload_from_string(
                    data,
                    content_type="application/json",
                    if_generation_match=0 if version is None else int(version),
                    retry=self.retry,
                )
                return str(blob.generation)
            except gexc.PreconditionFailed:
                # Either someone else changed it, or our earlier attempt landed and only its
                # response was lost: tell the two apart by content.
                current = self.read_versioned(key)
                return current[1] if current and current[0] == data else None

    def delete_if(self, key: str, version: str) -> bool:
        from google.api_core import exceptions as gexc

        with self._errors("delete", self.url(key)):
            try:
                self._blob(key).delete(if_generation_match=int(version), retry=self.retry)
                return True
            except gexc.NotFound:
                return True
            except gexc.PreconditionFailed:
                return False
