"""A worker: runs trials for the chief until it says stop. No lock, no results: the output is the chief's.

Its own folder is scratch beside the chief's (never inside a folder the chief syncs). Models of
trials that beat the best, and Hyperband's weights, go to the store before the chief hears of the
trial, so whatever the chief records can be collected.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from kftune import kt_compat, layout
from kftune.errors import ChiefUnavailable, ResumeError
from kftune.results.files import write_json
from kftune.run.distributed.rendezvous import chief_address, find_chief
from kftune.run.distributed.roles import CHIEF_WAIT_S, ORACLE_TIMEOUT_S, Role, env_seconds
from kftune.run.location import RunLocation, default_workdir
from kftune.run.record import RunRecord, TuningResult
from kftune.run.session import run_session
from kftune.search.trials import trial_status
from kftune.spec import TuningSpec

STATE_KEY = layout.state_key(layout.STATE_FILE)


class WorkerHooks:
    """RoleHooks of a worker (KERASTUNER_TUNER_ID without "chief")."""

    kind = "worker"
    owns_results = False

    def __init__(self, role: Role, store: Any, uri: str, spec: TuningSpec, location: RunLocation) -> None:
        self.role, self.store, self.uri, self.spec, self.location = role, store, uri, spec, location
        self.tuner_id = role.tuner_id
        self.seed_checked = False

    def state_ready(self, location: Any) -> None:
        pass

    def tuner_ready(self, run: RunRecord, oracle: Any) -> None:
        carry_reported_metrics(oracle)

    def search(self, tuner: Any, search: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        search(*args, **kwargs)

    def fetch_parent_weights(self, run: RunRecord, parent: str, dest: Path) -> None:
        """Hyperband: the promoted trial may have run on another worker; its weights are in the store."""
        key = layout.trial_weights_key(parent)
        if not dest.exists() and self.store.exists(key):
            self.store.download_file(key, dest)

    def trial_started(self, run: RunRecord, oracle: Any, trial: Any) -> None:
        """First trial: check the seed is still the chief's (a --fresh chief makes a new one); learn the global best."""
        if run.trials_run_here == 0 and not self.seed_checked:
            state = json.loads(self.store.read_bytes(STATE_KEY))
            if state.get("spec_hash") != run.spec.spec_hash or int(state["seed"]) != run.seed:
                raise ResumeError(
                    f"worker {self.tuner_id}: the chief's state changed since this worker started "
                    "(a --fresh chief?); restart the worker"
                )
            self.seed_checked = True
        run.learn_best(oracle)

    def before_trial_report(self, run: RunRecord, trial: Any) -> None:
        """Upload the trial's model if it beat the best, and its Hyperband weights."""
        weights = run.location.local_dir / layout.trial_weights_key(trial.trial_id)
        if weights.exists():
            self.store.upload_file(weights, layout.trial_weights_key(trial.trial_id))
        if run.pending_value is None:
            return
        pending = run.state_dir / layout.BEST_MODEL_PENDING
        if trial_status(trial) == "COMPLETED":
            self.store.upload_file(pending, layout.model_key(trial.trial_id))
            run.best_value, run.best_trial_id = run.pending_value, trial.trial_id
        pending.unlink(missing_ok=True)
        run.pending_value = None

    def trial_ended(self, run: RunRecord, oracle: Any, trial: Any) -> None:
        status = trial_status(trial)
        seconds = run.trial_seconds(trial.trial_id)
        score = run.last_score if status == "COMPLETED" else None
        run.events.add(event="trial_end", trial_id=trial.trial_id, status=status, score=score, seconds=seconds,
                       tuner_id=self.tuner_id, host=socket.gethostname())
        if run.progress is not None:
            run.progress(run, oracle, trial.trial_id, status, score)

    def finish(self, run: RunRecord | None, oracle: Any, stopped_because: str = "the chief stopped the search") -> TuningResult:
        """What a worker reports: the trials it ran and the best objective it knew of; the results are the chief's."""
        ended = run.events.ended() if run else []
        completed = sum(e.get("status") == "COMPLETED" for e in ended)
        return TuningResult(
            output=getattr(self.store, "uri", self.uri),
            local_dir=self.location.local_dir,
            best_hyperparameters={},
            best_objective=run.best_value if run else None,
            best_trial_id=run.best_trial_id if run else None,
            trials_completed=completed,
            trials_failed=len(ended) - completed,
            best_model_path=None,
            spec_hash=self.spec.spec_hash,
            stopped_because=stopped_because,
            worker=str(self.role.tuner_id),
        )


def carry_reported_metrics(client: Any) -> None:
    """Send every metric this worker reported for a trial again inside its EndTrial.

    keras-tuner's worker reports a trial's results with ``update_trial`` and then sends ``end_trial``
    with only the hyperparameters and status; the chief scores the trial from what it recorded. A
    chief killed between the two (it pushes a trial to the store when it starts and when it ends, not
    on updates) comes back without those results. Its ``end_trial`` then failed ("Unknown metric"),
    the worker exited, and the new chief waited for that trial for ever. With the metrics in the
    EndTrial, the chief adopts what it lacks (:func:`kftune.run.distributed.chief.adopt_reported_metrics`).
    """
    reported: dict[str, list[tuple[dict[str, float], int]]] = {}
    update, end = client.update_trial, client.end_trial

    def update_trial(trial_id: str, metrics: dict[str, Any], step: int = 0) -> Any:
        reported.setdefault(trial_id, []).append(({k: float(v) for k, v in metrics.items()}, step))
        return update(trial_id, metrics, step=step)

    def end_trial(trial: Any) -> Any:
        for metrics, step in reported.pop(trial.trial_id, []):
            for name, value in metrics.items():
                trial.metrics.update(name, value, step=step)
        return end(trial)

    client.update_trial, client.end_trial = update_trial, end_trial


def wait_for_chief_state(store: Any, spec: TuningSpec, timeout: float) -> dict[str, Any]:
    """The chief's ``kftune_state.json`` for this spec (its seed gives every process the same validation split)."""
    import time

    deadline = time.monotonic() + timeout
    seen: str | None = None
    while True:
        try:
            state = json.loads(store.read_bytes(STATE_KEY))
        except (FileNotFoundError, json.JSONDecodeError):
            state = None
        if state is not None and state.get("spec_hash") == spec.spec_hash:
            return state
        seen = state.get("spec_hash") if state else seen
        if time.monotonic() > deadline:
            found = f"only a state for spec hash {seen}" if seen else "no state"
            raise ChiefUnavailable(
                f"{store.url(STATE_KEY)}: {found} after {timeout:g} s, expected spec hash {spec.spec_hash}; "
                "is the chief running with the same spec and --output?"
            )
        time.sleep(1.0)


def _run_finished(store: Any, spec: TuningSpec) -> bool:
    try:
        record = json.loads(store.read_bytes(layout.RUN_RECORD))
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return record.get("spec_hash") == spec.spec_hash and record.get("ended_at") is not None


def tune_worker(
    spec: TuningSpec,
    uri: str,
    role: Role,
    *,
    workdir: str | os.PathLike[str] | None,
    progress: Any,
    store_client: Any = None,
) -> TuningResult:
    """Run trials for the chief until it says stop."""
    from kftune.storage import open_store

    store = open_store(uri, client=store_client) if store_client is not None else open_store(uri)
    wait_s = env_seconds("KFTUNE_CHIEF_WAIT_S", CHIEF_WAIT_S)
    state = wait_for_chief_state(store, spec, wait_s)
    resolve = None
    if role.address is None:  # Kubeflow: the chief's address is in the store, and may change on a retry
        role = replace(role, address=find_chief(store, spec, wait_s))
        resolve = lambda: chief_address(store, spec)  # noqa: E731
    host, _, port = str(role.address).rpartition(":")
    # keras-tuner's Tuner becomes a worker (an OracleClient) by reading these.
    os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port, KERASTUNER_TUNER_ID=str(role.tuner_id))
    kt_compat.use_retrying_client(env_seconds("KFTUNE_ORACLE_TIMEOUT_S", ORACLE_TIMEOUT_S), resolve)
    kt_compat.quiet_condition_protos()
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(role.tuner_id))
    base = Path(workdir or default_workdir(uri))
    private = base.with_name(f"{base.name}-{safe_id}")  # beside, never inside, a chief's folder that it syncs
    shutil.rmtree(private, ignore_errors=True)  # a worker's own folder is scratch: its state lives in the chief
    location = RunLocation(str(private))
    location.state_dir.mkdir(parents=True, exist_ok=True)
    write_json(location.state_dir / layout.STATE_FILE, state)
    hooks = WorkerHooks(role, store, uri, spec, location)
    try:
        return run_session(spec, location, hooks, progress=progress)
    except Exception as exc:
        import grpc

        if not isinstance(exc, grpc.RpcError):
            raise
        if _run_finished(store, spec):  # the chief finished without this worker (it arrived late)
            return hooks.finish(None, None, stopped_because="the chief had finished the search")
        code = exc.code().name if hasattr(exc, "code") else type(exc).__name__
        if code == "UNKNOWN":  # the chief answered with an exception: its log has the traceback
            code = "UNKNOWN: the chief's oracle failed on this call, see the chief's log"
        raise ChiefUnavailable(
            f"worker {role.tuner_id}: lost the chief oracle at {role.address} ({code}); "
            f"the chief's pod restarts resume the search (KFTUNE_ORACLE_TIMEOUT_S={kt_compat.client_timeout():g})"
        ) from None
