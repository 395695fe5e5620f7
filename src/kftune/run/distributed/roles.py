"""Which part of a search this process plays, read from the environment.

Three sources, so the same ``kftune tune`` command runs in every process of every setup:
- keras-tuner's own ``KERASTUNER_ORACLE_IP/PORT/TUNER_ID`` (Kubernetes Jobs, manifests/distributed);
- Vertex AI's ``CLUSTER_SPEC`` (a CustomJob with worker pools: pool 0 the chief, pool 1 the workers);
- ``KFTUNE_ROLE=chief|worker`` (Kubeflow tasks): the chief publishes its address in the run's store,
  the workers find it there (kftune.run.distributed.rendezvous).
``KFTUNE_LOCAL_RANK`` (set by the local launcher on each worker process of a multi-GPU node) makes
a worker's tuner id unique per process.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass

from kftune import kt_compat
from kftune.errors import SpecError

# Seconds. Environment overrides: KFTUNE_CHIEF_WAIT_S, KFTUNE_ORACLE_TIMEOUT_S, KFTUNE_CHIEF_LINGER_S.
CHIEF_WAIT_S = 1800.0  # a worker waits this long for the chief's state (chief pod scheduled, state pulled)
ORACLE_TIMEOUT_S = 600.0  # each worker -> chief call (keras-tuner's own default: 3600)
CHIEF_LINGER_S = 60.0  # after the last trial, how long the chief waits for workers to ask and be told to stop
CHIEF_POLL_S = 0.5  # keras-tuner's chief polls every 20 s before it exits
CHIEF_PORT = 8470  # KFTUNE_ROLE=chief listens here unless KFTUNE_CHIEF_PORT says otherwise


@dataclass(frozen=True)
class Role:
    """``single`` (no KERASTUNER_* set), ``chief`` or ``worker``, with keras-tuner's tuner id and oracle address."""

    kind: str = "single"
    tuner_id: str | None = None
    address: str | None = None  # chief: where it listens; worker: the chief's (None: read it from the store)
    advertise: str | None = None  # a chief that publishes its address in the store: what workers dial

    @property
    def is_chief(self) -> bool:
        return self.kind == "chief"

    @property
    def is_worker(self) -> bool:
        return self.kind == "worker"


SINGLE = Role()


def detect_role() -> Role:
    """This process's role: keras-tuner's variables first, then Vertex's CLUSTER_SPEC, then KFTUNE_ROLE."""
    rank = os.environ.get("KFTUNE_LOCAL_RANK", "")
    suffix = f"-{rank}" if rank else ""
    try:
        distributed, chief = kt_compat.distributed_role()
    except RuntimeError as exc:  # IP set without PORT or TUNER_ID
        raise SpecError(f"environment: {exc}") from None
    if distributed:
        tuner_id = os.environ["KERASTUNER_TUNER_ID"]
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        return Role("chief", tuner_id, address) if chief else Role("worker", tuner_id + suffix, address)
    if os.environ.get("CLUSTER_SPEC"):
        return _vertex_role(os.environ["CLUSTER_SPEC"], suffix)
    role = os.environ.get("KFTUNE_ROLE", "").strip().lower()
    if role in ("", "single"):
        return SINGLE
    if role == "chief":
        port = os.environ.get("KFTUNE_CHIEF_PORT", str(CHIEF_PORT))
        host = os.environ.get("KFTUNE_POD_IP") or _own_ip()
        return Role("chief", "chief", f"0.0.0.0:{port}", advertise=f"{host}:{port}")
    if role == "worker":
        index = os.environ.get("KFTUNE_WORKER_INDEX", "0")
        return Role("worker", f"worker-{index}{suffix}")
    raise SpecError(f"environment: KFTUNE_ROLE={role!r} must be chief, worker or single")


def _vertex_role(raw: str, suffix: str) -> Role:
    """Vertex AI CustomJob: ``{"cluster": {"workerpool0": ["host:port"], ...}, "task": {"type", "index"}}``.

    Pool 0 (one replica) is the chief and serves the oracle on its own port; every replica of pool 1
    is a worker. A job with pool 0 alone is a single process. (cloud.google.com/vertex-ai/docs/training/
    distributed-training, "CLUSTER_SPEC".)
    """
    try:
        spec = json.loads(raw)
        cluster, task = spec["cluster"], spec["task"]
        chief = cluster["workerpool0"][0]
        kind, index = task["type"], int(task.get("index", 0))
    except (ValueError, KeyError, IndexError, TypeError):
        raise SpecError("environment: CLUSTER_SPEC is not Vertex AI's cluster description "
                        '({"cluster": {"workerpool0": [...]}, "task": {"type": ..., "index": ...}})') from None
    if kind == "workerpool0":
        if not cluster.get("workerpool1"):
            return SINGLE
        return Role("chief", "chief", f"0.0.0.0:{chief.rpartition(':')[2]}")
    if kind == "workerpool1":
        return Role("worker", f"worker-{index}{suffix}", chief)
    raise SpecError(f"environment: CLUSTER_SPEC task type {kind!r}: kftune uses workerpool0 (chief) and workerpool1 (workers)")


def _own_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment, or ``default``; SpecError names a bad value."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SpecError(f"environment: {name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise SpecError(f"environment: {name}={raw!r} must be > 0")
    return value
