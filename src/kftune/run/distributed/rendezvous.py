"""Workers find the chief through the run's store: the chief publishes where it serves the oracle.

Kubeflow gives a task no stable address for another task of the same run, but every task of a run
shares the state location; so the chief writes ``state/chief.json`` there (its pod IP and port) once
its server is up, and a worker reads it. A restarted chief pod has a new IP: workers re-read the
file when a call fails (kt_compat.use_retrying_client's ``resolve``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from kftune import layout
from kftune.errors import ChiefUnavailable
from kftune.results.files import now_iso, write_json
from kftune.spec import TuningSpec

CHIEF_KEY = layout.state_key(layout.CHIEF_FILE)


def publish_chief(location: Any, address: str, spec: TuningSpec) -> None:
    """Write the chief's address into the state and push it (the next push keeps it: it is a state file)."""
    record = {"address": address, "spec_hash": spec.spec_hash, "host": socket.gethostname(),
              "pid": os.getpid(), "since": now_iso()}
    write_json(location.state_dir / layout.CHIEF_FILE, record)
    location.push()


def chief_address(store: Any, spec: TuningSpec) -> str | None:
    """The address the chief of this spec last published, or None."""
    try:
        record = json.loads(store.read_bytes(CHIEF_KEY))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return record.get("address") if record.get("spec_hash") == spec.spec_hash else None


def find_chief(store: Any, spec: TuningSpec, timeout: float) -> str:
    """Wait up to ``timeout`` seconds for a chief of this spec to publish its address."""
    deadline = time.monotonic() + timeout
    while True:
        address = chief_address(store, spec)
        if address:
            return address
        if time.monotonic() > deadline:
            raise ChiefUnavailable(
                f"{store.url(CHIEF_KEY)}: no chief published its address after {timeout:g} s; "
                "is the chief task running with the same spec and state location (KFTUNE_ROLE=chief)?"
            )
        time.sleep(1.0)
