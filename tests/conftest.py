"""Shared fixtures: a GCS emulator on 127.0.0.1 for the session, and a fault-injecting proxy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/ helpers: gcs_emulator, faultproxy

from faultproxy import FaultProxy  # noqa: E402
from gcs_emulator import Emulator, start_emulator  # noqa: E402

EMULATOR_BUCKET = "kftune-test"


@pytest.fixture(scope="session")
def gcs_emulator() -> Emulator:
    """gcp-storage-emulator (in memory, bucket ``kftune-test``) with STORAGE_EMULATOR_HOST set.

    The emulator comes from the ``test`` extra; it is started once per session on a free port
    and stopped at the end.
    """
    emulator = None
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        try:
            emulator = start_emulator(EMULATOR_BUCKET)
            break
        except RuntimeError as exc:
            error = exc
    if emulator is None:
        pytest.fail(f"GCS emulator did not start: {error}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        mp.setenv("GOOGLE_CLOUD_PROJECT", "kftune-test")
        try:
            yield emulator
        finally:
            emulator.stop()


@pytest.fixture
def gcs_client(gcs_emulator):
    """A fresh google-cloud-storage client talking to the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="kftune-test", credentials=AnonymousCredentials())


@pytest.fixture
def fault_proxy(gcs_emulator, monkeypatch):
    """A FaultProxy in front of the emulator (10% 503, 5% dropped, 5% lost responses, seed 0).

    Point a client at it with ``client_options={"api_endpoint": fault_proxy.url}``, or set
    STORAGE_EMULATOR_HOST to ``fault_proxy.url``. For the test's duration every GCSStore retries
    with the client's own predicate but a short backoff (10 ms doubling to 200 ms, 60 s budget),
    so hundreds of injected faults cost seconds, not minutes.
    """
    from google.cloud.storage.retry import DEFAULT_RETRY

    from kftune.storage import GCSStore

    fast = DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.2, multiplier=2.0).with_timeout(60)
    monkeypatch.setattr(GCSStore, "default_retry", fast)
    with FaultProxy(gcs_emulator.host, gcs_emulator.port, seed=int(os.environ.get("KFTUNE_FAULT_SEED", "0"))) as proxy:
        yield proxy
