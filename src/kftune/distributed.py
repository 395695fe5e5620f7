"""Distributed tuning on keras-tuner's own chief/worker protocol (``KERASTUNER_*`` environment variables).

Why this module: in keras-tuner's scheme the chief only serves the oracle over gRPC and a worker
only holds an ``OracleClient`` (no ``.trials``), so the single-process engine's per-trial duties
are split here. The chief holds the run lock, owns the oracle, writes the results, syncs the
state and applies the budgets after every trial a worker ends; a worker runs trials and, when a
trial beats the best so far, uploads its model to ``state/models/trial_<id>.keras`` under the
output location; at the end the chief copies the best trial's model to ``best_model.keras``.
Operational facts (timeouts, restarts, what a dead worker costs) are in docs/distributed.md.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from kftune.errors import KftuneError, ResumeError, SpecError

if TYPE_CHECKING:
    from kftune.engine import TuningResult, _Run
    from kftune.spec import TuningSpec

MODELS_DIR = "state/models"
STATE_KEY = "state/kftune_state.json"
RUN_RECORD_KEY = "run.json"

# Seconds. Environment overrides: KFTUNE_CHIEF_WAIT_S, KFTUNE_ORACLE_TIMEOUT_S, KFTUNE_CHIEF_LINGER_S.
CHIEF_WAIT_S = 1800.0  # a worker waits this long for the chief's state (chief pod scheduled, state pulled)
ORACLE_TIMEOUT_S = 600.0  # each worker -> chief call (keras-tuner's own default: 3600)
CHIEF_LINGER_S = 60.0  # after the last trial, how long the chief waits for workers to ask and be told to stop
CHIEF_POLL_S = 0.5  # keras-tuner's chief polls every 20 s before it exits


class ChiefUnavailable(KftuneError, ConnectionError):
    """A worker lost the chief oracle (gone, or not answering within the timeout)."""

    exit_code = 8


def _seconds(name: str, default: float) -> float:
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


# --------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class Role:
    """Which part of a search this process plays: ``single`` (no KERASTUNER_* set), ``chief`` or ``worker``."""

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
    from keras_tuner.src.distribute import utils

    try:
        if not utils.has_chief_oracle():
            return SINGLE
    except RuntimeError as exc:  # IP set without PORT or TUNER_ID
        raise SpecError(f"environment: {exc}") from None
    tuner_id = os.environ["KERASTUNER_TUNER_ID"]
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    return Role("chief" if utils.is_chief_oracle() else "worker", tuner_id, address)


def model_key(trial_id: str) -> str:
    return f"{MODELS_DIR}/trial_{trial_id}.keras"


# --------------------------------------------------------------------------- the chief


@contextmanager
def holding(oracle: Any) -> Iterator[None]:
    """Hold the oracle's lock as keras-tuner's ``@synchronized`` does, but released on an exception too.

    keras-tuner's decorator never releases the lock when the method raises (e.g. its "consecutive
    failures" RuntimeError inside ``end_trial``), which would freeze every later call from another
    thread; calls made while holding this are re-entrant, as with the decorator.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    name = threading.current_thread().name
    if oracle_module.THREADS[oracle] == name:
        yield
        return
    oracle_module.LOCKS[oracle].acquire()
    oracle_module.THREADS[oracle] = name
    try:
        yield
    finally:
        oracle_module.THREADS[oracle] = None
        oracle_module.LOCKS[oracle].release()


def observe_chief_oracle(oracle: Any, run: _Run) -> None:
    """Wrap the chief oracle's create/end_trial so the run records starts and does its per-trial work on ends."""
    create, end = oracle.create_trial, oracle.end_trial

    def create_trial(tuner_id: str) -> Any:
        with holding(oracle):
            trial = create(tuner_id)
            status = str(getattr(trial.status, "value", trial.status))
            if status == "RUNNING" and trial.trial_id not in run.trial_t0:
                run.trial_started(trial, tuner_id=tuner_id)
                try:  # a restarted chief then knows this trial is running (keras-tuner queues it for a retry)
                    run.location.push()
                except Exception as exc:
                    run.abort = run.abort or exc
                    run.request_stop(oracle, f"error: {exc}")
            return trial

    def end_trial(trial: Any) -> None:
        with holding(oracle):
            trial_id = trial.trial_id
            known = oracle.trials.get(trial_id)
            done = str(getattr(getattr(known, "status", None), "value", getattr(known, "status", None)))
            running = any(o.trial_id == trial_id for o in oracle.ongoing_trials.values())
            if known is not None and done in ("COMPLETED", "FAILED", "INVALID") and not running:
                return  # a worker's retried EndTrial: the killed chief had already ended and saved it
            tuner_id = next((t for t, o in oracle.ongoing_trials.items() if o.trial_id == trial_id), None)
            if trial_id not in run.trial_t0:  # started under a previous chief: when and where, from the events
                started = [
                    e for e in run.events.events if (e.get("event"), e.get("trial_id")) == ("trial_start", trial_id)
                ]
                if started:
                    run.trial_t0[trial_id] = time.monotonic() - max(time.time() - started[-1]["t"], 0.0)
                    tuner_id = tuner_id or started[-1].get("tuner_id")
            if trial_id in oracle._retry_queue:  # queued for a retry, but its worker finished it after all
                oracle._retry_queue.remove(trial_id)
            try:
                end(trial)
            except RuntimeError as exc:
                if "consecutive failures" not in str(exc):
                    raise
                # keras-tuner raised before saving the trial and releasing it: finish that, stop the search.
                oracle._save_trial(oracle.trials[trial_id])
                oracle.save()
                for key, ongoing in list(oracle.ongoing_trials.items()):
                    if ongoing.trial_id == trial_id:
                        oracle.ongoing_trials.pop(key)
                run.abort = exc
                run.request_stop(oracle, "too many consecutive failed trials")
            try:
                run.record_trial_end(oracle, trial_id, tuner_id=tuner_id)
            except Exception as exc:  # e.g. storage failed after retries: stop handing out trials, report at the end
                run.abort = run.abort or exc
                run.request_stop(oracle, f"error: {exc}")

    oracle.create_trial = create_trial
    oracle.end_trial = end_trial


def keep_ongoing_trials(oracle: Any) -> list[str]:
    """After a chief restart, give each running trial back to its tuner id instead of queueing it for a retry.

    keras-tuner's ``Oracle.reload`` moves every trial that was running into the retry queue, so a
    worker that outlived the chief reports a trial that another worker has meanwhile started again.
    Tuner ids are stable (one per worker index), so keep the saved assignment: a surviving worker
    reports its trial; a replaced one (same id) is handed the same trial back by ``create_trial``.
    """
    try:
        saved = json.loads(Path(oracle._get_oracle_fname()).read_text(encoding="utf-8")).get("ongoing_trials", {})
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    kept = []
    for tuner_id, trial_id in saved.items():
        trial = oracle.trials.get(trial_id)
        if trial is None or str(getattr(trial.status, "value", trial.status)) != "RUNNING":
            continue
        oracle.ongoing_trials[tuner_id] = trial
        oracle._retry_queue = [t for t in oracle._retry_queue if t != trial_id]
        kept.append(trial_id)
    return kept


def atomic_keras_tuner_json() -> None:
    """Make keras-tuner write its ``trial.json``/``oracle.json`` files write-then-rename on local disk.

    keras-tuner's ``utils.save_json`` truncates and rewrites in place; a chief killed mid-write (a
    preempted pod) leaves an empty ``trial.json`` and the restarted chief dies in ``Oracle.reload``
    with a JSONDecodeError. Remote (``scheme://``) paths keep keras-tuner's own writer. Idempotent.
    """
    from keras_tuner.src import utils

    if getattr(utils.save_json, "kftune_atomic", False):
        return
    original = utils.save_json

    def save_json(path: Any, obj: Any) -> str:
        if "://" in str(path):
            return original(path, obj)
        from kftune import outputs

        text = json.dumps(obj)
        outputs.atomic_write_text(Path(path), text)
        return text

    save_json.kftune_atomic = True  # type: ignore[attr-defined]
    utils.save_json = save_json


def serve_chief(tuner: Any, run: _Run) -> None:
    """Serve the oracle to the workers until every trial has ended and every worker was told to stop.

    Replaces keras-tuner's ``oracle_chief.start_server`` (same servicer) for two reasons: it polls
    every 0.5 s instead of 20 s before exiting, and it does not wait forever for a worker that asked
    for a trial once and vanished between trials (``KFTUNE_CHIEF_LINGER_S``).
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    oracle = tuner.oracle
    atomic_keras_tuner_json()  # every trial/oracle file the chief writes from here on
    observe_chief_oracle(oracle, run)
    linger = _seconds("KFTUNE_CHIEF_LINGER_S", CHIEF_LINGER_S)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(run.role.address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise SpecError(
            f"environment: the chief cannot listen on {run.role.address} "
            "(KERASTUNER_ORACLE_IP/KERASTUNER_ORACLE_PORT; use 0.0.0.0 and a free port on the chief)"
        )
    server.start()
    idle_since: float | None = None
    try:
        while True:
            time.sleep(CHIEF_POLL_S)
            if not servicer.stop_triggered and run.abort is None:
                continue
            with holding(oracle):
                ongoing, waiting = len(oracle.ongoing_trials), sorted(oracle.tuner_ids)
            if ongoing:
                idle_since = None
                continue
            if not waiting:
                break
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > linger:
                run.notes.append(f"workers {', '.join(waiting)} did not come back for their stop signal")
                break
    finally:
        server.stop(grace=2).wait()
    if run.abort is not None:
        raise run.abort


def collect_best_model(run: _Run, oracle: Any, dest: Path) -> str | None:
    """Fetch the best trial's uploaded model to ``dest``; drop the other candidates. Returns its trial id.

    Walks the trials best first and takes the first one with a model: a worker uploads only when it
    beats the best it knows, so a trial that merely ties the best may have none.
    """
    store = run.location.store
    stored = {info.key for info in store.list(MODELS_DIR + "/")}
    chosen: str | None = None
    for trial in oracle.get_best_trials(len(oracle.trials)):
        if model_key(trial.trial_id) in stored:
            chosen = trial.trial_id
            store.download_file(model_key(chosen), dest)
            from kftune import outputs

            outputs.write_json(dest.with_name("best_model.json"), {"trial_id": chosen, "value": trial.score})
            break
    for key in stored - ({model_key(chosen)} if chosen else set()):
        store.delete(key)
        if run.location.remote:
            (run.location.local_dir / key).unlink(missing_ok=True)
    return chosen


# --------------------------------------------------------------------------- a worker


def wait_for_chief_state(store: Any, spec: TuningSpec, timeout: float) -> dict[str, Any]:
    """The chief's ``kftune_state.json`` for this spec (its seed gives every process the same validation split)."""
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
        record = json.loads(store.read_bytes(RUN_RECORD_KEY))
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return record.get("spec_hash") == spec.spec_hash and record.get("ended_at") is not None


class _RetryingStub:
    """An ``OracleStub`` whose calls retry on UNAVAILABLE until ``oracle_client.TIMEOUT`` has passed.

    ``wait_for_ready`` only covers a chief that is not up yet; a call already in flight when the chief
    is killed fails at once ("Stream removed"), and keras-tuner then marks the worker's trial FAILED
    (or the worker dies in ``end_trial``). Retried calls reach the restarted chief, which gives a
    worker its running trial back (``keep_ongoing_trials``).
    """

    def __init__(self, stub: Any) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        import grpc
        from keras_tuner.src.distribute import oracle_client

        method = getattr(self._stub, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            deadline = time.monotonic() + float(oracle_client.TIMEOUT)
            while True:
                try:
                    return method(*args, **kwargs)
                except grpc.RpcError as exc:
                    code = exc.code() if hasattr(exc, "code") else None
                    if code != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise
                    time.sleep(1.0)

        return call


def retry_oracle_client_calls() -> None:
    """Make every keras-tuner ``OracleClient`` created from now on use a ``_RetryingStub``. Idempotent."""
    from keras_tuner.src.distribute import oracle_client

    cls = oracle_client.OracleClient
    if getattr(cls.__init__, "kftune_retrying", False):
        return
    original = cls.__init__

    def __init__(self: Any, oracle: Any) -> None:
        original(self, oracle)
        self.stub = _RetryingStub(self.stub)

    __init__.kftune_retrying = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def tune_worker(
    spec: TuningSpec,
    uri: str,
    role: Role,
    *,
    workdir: str | os.PathLike[str] | None,
    progress: Any,
    store_client: Any = None,
) -> TuningResult:
    """Run trials for the chief until it says stop. No lock, no results: the output location belongs to the chief."""
    from keras_tuner.src.distribute import oracle_client

    from kftune import engine, outputs
    from kftune.location import RunLocation, default_workdir
    from kftune.storage import open_store

    store = open_store(uri, client=store_client) if store_client is not None else open_store(uri)
    state = wait_for_chief_state(store, spec, _seconds("KFTUNE_CHIEF_WAIT_S", CHIEF_WAIT_S))
    oracle_client.TIMEOUT = _seconds("KFTUNE_ORACLE_TIMEOUT_S", ORACLE_TIMEOUT_S)
    retry_oracle_client_calls()
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(role.tuner_id))
    base = Path(workdir or default_workdir(uri))
    private = base.with_name(f"{base.name}-{safe_id}")  # beside, never inside, a chief's folder that it syncs
    shutil.rmtree(private, ignore_errors=True)  # a worker's own folder is scratch: its state lives in the chief
    location = RunLocation(str(private))
    location.state_dir.mkdir(parents=True, exist_ok=True)
    outputs.write_json(location.state_dir / engine.STATE_FILE, state)
    try:
        return engine._tune_locked(spec, location, None, progress, role=role, model_store=store)
    except Exception as exc:
        import grpc

        if not isinstance(exc, grpc.RpcError):
            raise
        if _run_finished(store, spec):  # the chief finished without this worker (it arrived late)
            return engine.worker_result(spec, uri, location, stopped_because="the chief had finished the search")
        code = exc.code().name if hasattr(exc, "code") else type(exc).__name__
        raise ChiefUnavailable(
            f"worker {role.tuner_id}: lost the chief oracle at {role.address} ({code}); "
            f"the chief's pod restarts resume the search (KFTUNE_ORACLE_TIMEOUT_S={oracle_client.TIMEOUT:g})"
        ) from None


def worker_trial_started(run: _Run, trial: Any) -> None:
    """First trial: check the seed is still the chief's (a --fresh chief makes a new one); learn the global best."""
    if run.trials_run_here == 0 and not run.seed_checked:
        state = json.loads(run.model_store.read_bytes(STATE_KEY))
        if state.get("spec_hash") != run.spec.spec_hash or int(state["seed"]) != run.seed:
            raise ResumeError(
                f"worker {run.role.tuner_id}: the chief's state changed since this worker started "
                "(a --fresh chief?); restart the worker"
            )
        run.seed_checked = True
    best = run.oracle.get_best_trials(1)
    if best and best[0].score is not None and run.better(float(best[0].score), run.best_value):
        run.best_value, run.best_trial_id = float(best[0].score), best[0].trial_id


def worker_upload(run: _Run, trial: Any) -> None:
    """Before the trial is reported to the chief: upload its model if it beat the best, and Hyperband weights."""
    status = str(getattr(trial.status, "value", trial.status))
    weights = run.state_dir / f"trial_{trial.trial_id}" / "kftune.weights.h5"
    if weights.exists():
        run.model_store.upload_file(weights, f"state/trial_{trial.trial_id}/kftune.weights.h5")
    if not run.pending_better:
        return
    from kftune.engine import BEST_MODEL_PENDING

    pending = run.state_dir / BEST_MODEL_PENDING
    if status == "COMPLETED":
        run.model_store.upload_file(pending, model_key(trial.trial_id))
        run.best_value, run.best_trial_id = run.pending_value, trial.trial_id
    pending.unlink(missing_ok=True)
    run.pending_better = False


def fetch_parent_weights(run: _Run, parent: str, dest: Path) -> None:
    """Hyperband: the promoted trial may have run on another worker; its weights are in the store."""
    key = f"state/trial_{parent}/kftune.weights.h5"
    if run.model_store.exists(key):
        run.model_store.download_file(key, dest)


def worker_trial_ended(run: _Run, trial: Any) -> None:
    status = str(getattr(trial.status, "value", trial.status))
    seconds = time.monotonic() - run.trial_t0.pop(trial.trial_id, time.monotonic())
    score = run.last_score if status == "COMPLETED" else None
    run.trials_run_here += 1
    run.trial_seconds_here.append(seconds)
    run.events.add(event="trial_end", trial_id=trial.trial_id, status=status, score=score, seconds=seconds,
                   tuner_id=run.role.tuner_id, host=socket.gethostname())
    if run.progress is not None:
        run.progress(run, run.oracle, trial.trial_id, status, score)
