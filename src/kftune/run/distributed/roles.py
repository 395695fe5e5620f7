"""Which part of a search this process plays, read from keras-tuner's ``KERASTUNER_*`` environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kftune import kt_compat
from kftune.errors import SpecError

# Seconds. Environment overrides: KFTUNE_CHIEF_WAIT_S, KFTUNE_ORACLE_TIMEOUT_S, KFTUNE_CHIEF_LINGER_S.
CHIEF_WAIT_S = 1800.0  # a worker waits this long for the chief's state (chief pod scheduled, state pulled)
ORACLE_TIMEOUT_S = 600.0  # each worker -> chief call (keras-tuner's own default: 3600)
CHIEF_LINGER_S = 60.0  # after the last trial, how long the chief waits for workers to ask and be told to stop
CHIEF_POLL_S = 0.5  # keras-tuner's chief polls every 20 s before it exits


@dataclass(frozen=True)
class Role:
    """``single`` (no KERASTUNER_* set), ``chief`` or ``worker``, with keras-tuner's tuner id and oracle address."""

    kind: str = "single"
    tuner_id: str | None = None
    address: str | None = None

    @property
    def is_chief(self) -> bool:
        return self.kind == "chief"

    @property
    def is_worker(self) -> bool:
        return self.kind == "worker"


SINGLE = Role()


def detect_role() -> Role:
    """keras-tuner's rule: KERASTUNER_ORACLE_IP set -> distributed; a tuner id containing "chief" -> the chief."""
    try:
        distributed, chief = kt_compat.distributed_role()
    except RuntimeError as exc:  # IP set without PORT or TUNER_ID
        raise SpecError(f"environment: {exc}") from None
    if not distributed:
        return SINGLE
    tuner_id = os.environ["KERASTUNER_TUNER_ID"]
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    return Role("chief" if chief else "worker", tuner_id, address)


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
