"""``kftune.tune``: the entry point. Picks the role, prepares the location, runs the session."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any, Callable

from kftune.run.hooks import SingleProcess
from kftune.run.location import RunLocation
from kftune.run.record import TuningResult
from kftune.run.session import run_session
from kftune.spec import TuningSpec, WarmStart, load_spec


def tune(
    spec: TuningSpec | dict[str, Any] | str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    fresh: bool = False,
    warm_start: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    progress: bool | Callable[..., None] = True,
    store_client: Any = None,
    lock_wait_s: float = 0.0,
) -> TuningResult:
    """Run (or resume) the search a spec describes and write every output; see docs/outputs.md.

    ``lock_wait_s``: wait up to this long for another holder's lock to expire (a retried pipeline
    task whose killed predecessor's lock has not aged out yet) before failing with LockError.
    """
    from kftune.run.distributed.roles import detect_role

    spec = load_spec(spec)
    if warm_start:
        spec = spec.model_copy(update={"warm_start": WarmStart.model_validate({"from": warm_start})})
    uri = str(output or spec.output or Path("kftune-runs") / spec.name)
    role = detect_role()
    if role.is_worker:  # no lock and no results: the output location belongs to the chief
        from kftune.run.distributed.worker import tune_worker

        return tune_worker(spec, uri, role, workdir=workdir, progress=progress, store_client=store_client)
    if role.is_chief:
        from kftune.run.distributed.chief import ChiefHooks

        hooks: Any = ChiefHooks(role)
    else:
        hooks = SingleProcess()
    location = RunLocation(uri, workdir=workdir, client=store_client)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with location.locked(owner, wait_s=lock_wait_s, on_wait=_say_waiting) as lock:
        if fresh:
            location.clear()
        location.pull()
        return run_session(spec, location, hooks, lock=lock, progress=progress)


def _say_waiting(exc: Exception) -> None:
    print(f"kftune: state is locked ({exc}); waiting for an earlier attempt's lock to expire", file=sys.stderr, flush=True)
