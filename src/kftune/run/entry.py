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
from kftune.errors import SpecError
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
    workers: int | None = None,
) -> TuningResult:
    """Run (or resume) the search a spec describes and write every output; see docs/outputs.md.

    ``lock_wait_s``: wait up to this long for another holder's lock to expire (a retried pipeline
    task whose killed predecessor's lock has not aged out yet) before failing with LockError.
    ``workers``: trials at once on this node, one process each (default: one per visible GPU, else 1).
    The role (single, chief, worker) comes from the environment: kftune.run.distributed.roles.
    """
    from kftune.backend import require_backend
    from kftune.run.distributed import launcher
    from kftune.run.distributed.roles import Role, detect_role

    require_backend()  # one line naming the extra, before anything imports keras
    spec = load_spec(spec)
    if warm_start:
        spec = spec.model_copy(update={"warm_start": WarmStart.model_validate({"from": warm_start})})
    uri = str(output or spec.output or Path("kftune-runs") / spec.name)
    n = launcher.default_workers() if workers is None else workers
    if n < 1:
        raise SpecError(f"--workers: {n} must be >= 1")
    role = detect_role()
    if role.is_worker:  # no lock and no results: the output location belongs to the chief
        if n > 1:
            return _node_workers(spec, uri, n, workdir)
        from kftune.run.distributed.worker import tune_worker

        launcher.die_with_parent()
        return tune_worker(spec, uri, role, workdir=workdir, progress=progress, store_client=store_client)
    location = RunLocation(uri, workdir=workdir, client=store_client)
    if role.is_chief:
        from kftune.run.distributed.chief import ChiefHooks

        hooks: Any = ChiefHooks(role)
    elif n > 1:  # this node alone: a chief here on a free local port, n worker processes
        role = Role("chief", "chief", f"127.0.0.1:{launcher.free_port()}")
        port = str(role.address).rpartition(":")[2]
        processes = launcher.WorkerProcesses.plan(
            spec.to_json(),
            uri,
            workdir,
            n,
            location.state_dir / "logs",
            lambda i: {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port, "KERASTUNER_TUNER_ID": f"worker-{i}"},
        )
        hooks = launcher.LocalChiefHooks(role, processes)
    else:
        hooks = SingleProcess()
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with launcher.stop_on_signals(), location.locked(owner, wait_s=lock_wait_s, on_wait=_say_waiting) as lock:
        if fresh:
            location.clear()
        location.pull()
        if not isinstance(hooks, launcher.LocalChiefHooks):
            return run_session(spec, location, hooks, lock=lock, progress=progress)
        hooks.start_workers()
        try:
            return run_session(spec, location, hooks, lock=lock, progress=progress)
        finally:  # e.g. the chief failed before serving: no worker outlives it
            hooks.workers.stop(grace_s=0)


def _node_workers(spec: TuningSpec, uri: str, n: int, workdir: Any) -> TuningResult:
    """A worker pod with n GPUs: n worker processes of the same role, each with its own tuner id."""
    from kftune.run.distributed import launcher
    from kftune.run.location import default_workdir

    base = Path(workdir or default_workdir(uri))
    logs = base.with_name(f"{base.name}-logs")
    processes = launcher.WorkerProcesses.plan(spec.to_json(), uri, workdir, n, logs, lambda i: {"KFTUNE_LOCAL_RANK": str(i)})
    return launcher.run_node_workers(processes, spec.spec_hash, uri, base)


def _say_waiting(exc: Exception) -> None:
    print(f"kftune: state is locked ({exc}); waiting for an earlier attempt's lock to expire", file=sys.stderr, flush=True)
