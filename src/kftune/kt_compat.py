"""Every use of keras-tuner's private API, and every patch of it, in one place.

keras-tuner 1.4.8 gives no public hook for what kftune needs around a trial and a distributed chief,
so kftune reaches into it here, and only here: this is the surface that can break on the next
keras-tuner release. Nothing is patched on import; callers apply what they need explicitly. Each
entry names the private attribute it touches and why. ``CHECKED_VERSIONS`` lists the releases these
were read against; tests/test_kt_compat.py fails, naming this module, on any other version or when a
target is gone. (TensorFlow's gradient registry is touched in kftune.run.memory; that is TensorFlow's.)
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

CHECKED_VERSIONS = ("1.4.8",)

# (module, attribute path) this module relies on; "Oracle()" is an instance (its attribute is set in
# __init__). tests/test_kt_compat.py checks that each still exists.
PRIVATE_TARGETS = (
    ("keras_tuner.src.utils", "save_json"),  # use_atomic_json: write-then-rename
    ("keras_tuner.src.engine.oracle", "LOCKS"),  # oracle_lock: @synchronized's per-oracle lock ...
    ("keras_tuner.src.engine.oracle", "THREADS"),  # ... and its owner thread
    ("keras_tuner.src.engine.oracle", "Oracle._save_trial"),  # finish_failed_end
    ("keras_tuner.src.engine.oracle", "Oracle._get_oracle_fname"),  # saved_ongoing_trials
    ("keras_tuner.src.engine.oracle", "Oracle()._retry_queue"),  # forget_retry, repair_reloaded
    ("keras_tuner.src.engine.tuner", "Tuner._try_build"),  # TunerBase: kftune's memory release per build
    ("keras_tuner.src.engine.tuner", "Tuner._build_hypermodel"),  # TunerBase: Hyperband weights after build
    ("keras_tuner.src.distribute.utils", "has_chief_oracle"),  # distributed_role: keras-tuner's env rule
    ("keras_tuner.src.distribute.utils", "is_chief_oracle"),
    ("keras_tuner.src.distribute.oracle_chief", "OracleServicer"),  # serve_oracle: a faster-exiting server
    ("keras_tuner.src.distribute.oracle_client", "OracleClient"),  # use_retrying_client: retry UNAVAILABLE
    ("keras_tuner.src.distribute.oracle_client", "TIMEOUT"),  # use_retrying_client: per-call timeout
    ("keras_tuner.src.protos", "get_service_grpc"),  # serve_oracle
    ("keras_tuner.src.engine.conditions", "Parent.to_proto"),  # quiet_condition_protos
    ("keras_tuner.src.config", "DEBUG"),  # quiet_trial_tracebacks: no traceback per failed trial
)


def version_problem() -> str | None:
    """A one-line warning when the installed keras-tuner is not one these patches were checked against."""
    import keras_tuner

    if keras_tuner.__version__ in CHECKED_VERSIONS:
        return None
    return (
        f"kftune/kt_compat.py was checked against keras-tuner {', '.join(CHECKED_VERSIONS)}, "
        f"not {keras_tuner.__version__}: re-check every entry of PRIVATE_TARGETS"
    )


def missing_targets() -> list[str]:
    """The PRIVATE_TARGETS that no longer exist in the installed keras-tuner."""
    import importlib

    missing = []
    for module_name, path in PRIVATE_TARGETS:
        try:
            obj: Any = importlib.import_module(module_name)
            for part in path.split("."):
                if part.endswith("()"):
                    obj = getattr(obj, part[:-2])(objective="val_loss")
                else:
                    obj = getattr(obj, part)
        except (ImportError, AttributeError):
            missing.append(f"{module_name}.{path}")
    return missing


def trial_status(trial: Any) -> str:
    """A trial's status as a plain string ("COMPLETED", "RUNNING", ...).

    keras-tuner's ``TrialStatus`` values are plain strings; an Enum-valued status is reduced to its
    ``value`` so that every comparison in kftune is against the same string."""
    return str(getattr(trial.status, "value", trial.status))


# --------------------------------------------------------------------------- files


def use_atomic_json() -> None:
    """Make keras-tuner write ``trial.json``/``oracle.json`` write-then-rename on local disk. Idempotent.

    ``keras_tuner.src.utils.save_json`` truncates and rewrites in place: a process killed mid-write (a
    preempted pod) leaves an empty file and the resumed run dies in ``Oracle.reload``. Remote
    (``scheme://``) paths keep keras-tuner's own writer.
    """
    from keras_tuner.src import utils

    if getattr(utils.save_json, "kftune_atomic", False):
        return
    original = utils.save_json

    def save_json(path: Any, obj: Any) -> str:
        if "://" in str(path):
            return original(path, obj)
        text = json.dumps(obj)
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        return text

    save_json.kftune_atomic = True  # type: ignore[attr-defined]
    utils.save_json = save_json


# --------------------------------------------------------------------------- the oracle


@contextmanager
def oracle_lock(oracle: Any) -> Iterator[None]:
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


def consecutive_failures_reached(oracle: Any) -> bool:
    """Whether the oracle's ended trials end in ``max_consecutive_failed_trials`` failures.

    The same count as keras-tuner's ``Oracle._check_consecutive_failures`` (over ``end_order``),
    read from the oracle's state, so no caller has to recognise its RuntimeError by its message.
    """
    limit = getattr(oracle, "max_consecutive_failed_trials", None)
    if not limit:
        return False
    run = 0
    for trial_id in oracle.end_order:
        run = run + 1 if trial_status(oracle.trials[trial_id]) == "FAILED" else 0
        if run >= limit:
            return True
    return False


def finish_failed_end(oracle: Any, trial_id: str) -> None:
    """keras-tuner's ``end_trial`` raised its consecutive-failures error before saving the trial and
    releasing it from ``ongoing_trials``: do both, as it would have."""
    oracle._save_trial(oracle.trials[trial_id])
    oracle.save()
    for key, ongoing in list(oracle.ongoing_trials.items()):
        if ongoing.trial_id == trial_id:
            oracle.ongoing_trials.pop(key)


def repair_reloaded(oracle: Any) -> list[str]:
    """Make a reloaded oracle's bookkeeping agree with its trial files; returns what was repaired.

    keras-tuner writes ``trial_<id>/trial.json`` before ``oracle.json`` and, in ``end_trial``, saves
    ``oracle.json`` while the ended trial is still listed as ongoing; ``Oracle.reload`` then puts
    every ongoing trial in the retry queue. A process killed in one of those windows (or a store
    that holds the trial file but not the newer oracle.json) would resume by running a completed
    trial again, or by never reporting a trial it had created. So, from the trial files:
    a finished trial leaves the retry queue and joins ``end_order``; a trial the oracle created but
    never recorded as started joins ``start_order`` and the retry queue (no one was told to run it).
    """
    final = ("COMPLETED", "FAILED", "INVALID", "STOPPED")
    notes = []
    for trial_id in sorted(oracle.trials):
        status = trial_status(oracle.trials[trial_id])
        if status in final and trial_id not in oracle.end_order:
            oracle.end_order.append(trial_id)
            notes.append(f"trial {trial_id}: ended before the last oracle save")
        if trial_id not in oracle.start_order:
            oracle.start_order.append(trial_id)
            if status not in final:
                oracle._retry_queue.append(trial_id)
            notes.append(f"trial {trial_id}: created before the last oracle save")
    stale = [t for t in oracle._retry_queue if trial_status(oracle.trials[t]) in final]
    if stale:
        oracle._retry_queue = [t for t in oracle._retry_queue if t not in stale]
        notes.extend(f"trial {t}: finished, not retried" for t in sorted(set(stale)))
    return notes


def saved_ongoing_trials(oracle: Any) -> dict[str, str]:
    """tuner id -> trial id as the oracle last saved them (``oracle.json``'s ``ongoing_trials``)."""
    try:
        return json.loads(Path(oracle._get_oracle_fname()).read_text(encoding="utf-8")).get("ongoing_trials", {})
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def forget_retry(oracle: Any, trial_id: str) -> bool:
    """Take a trial out of the oracle's retry queue (``Oracle._retry_queue``); True if it was queued."""
    queue = oracle._retry_queue
    if trial_id not in queue:
        return False
    oracle._retry_queue = [t for t in queue if t != trial_id]
    return True


# --------------------------------------------------------------------------- the tuner


def tuner_base() -> type:
    """``keras_tuner.Tuner`` with its two private build steps routed to public, overridable names.

    ``Tuner._try_build`` (clear the session, two full collections, build, type-check) becomes
    ``try_build(hp)``; ``Tuner._build_hypermodel`` (build under the distribution strategy, override
    compile arguments) is reachable as ``build_hypermodel(hp)``. Defined lazily: no keras on import.
    """
    import keras_tuner as kt

    class TunerBase(kt.Tuner):
        def _try_build(self, hp: Any) -> Any:
            return self.try_build(hp)

        def try_build(self, hp: Any) -> Any:
            return super()._try_build(hp)

        def build_hypermodel(self, hp: Any) -> Any:
            return super()._build_hypermodel(hp)

    return TunerBase


# --------------------------------------------------------------------------- distributed protocol


def distributed_role() -> tuple[bool, bool]:
    """(has a chief oracle, is the chief): keras-tuner's own reading of ``KERASTUNER_*``.

    Raises RuntimeError when KERASTUNER_ORACLE_IP is set without the port or tuner id.
    """
    from keras_tuner.src.distribute import utils

    if not utils.has_chief_oracle():
        return False, False
    return True, bool(utils.is_chief_oracle())


def serve_oracle(oracle: Any, address: str) -> tuple[Any, Any] | None:
    """Start keras-tuner's ``OracleServicer`` for ``oracle`` on ``address``: (server, servicer), or None
    when the address cannot be bound. kftune polls ``servicer.stop_triggered`` itself instead of
    keras-tuner's ``start_server`` loop, which sleeps 20 s between checks."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        return None
    server.start()
    return server, servicer


# gRPC's reconnect back-off (first retry after 1 s, growing 1.6x to 120 s) would leave a worker that
# started before its chief, or outlived a preempted one, up to two minutes behind a chief that is back;
# a chief is one address on the cluster network, so retrying it often costs nothing.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def oracle_stub(address: str) -> Any:
    """keras-tuner's ``OracleStub`` on a channel to ``address`` that retries a refused connection at least every second."""
    import grpc
    from keras_tuner.src import protos

    return protos.get_service_grpc().OracleStub(grpc.insecure_channel(address, options=CHANNEL_OPTIONS))


class _RetryingStub:
    """An ``OracleStub`` whose calls retry on UNAVAILABLE until ``oracle_client.TIMEOUT`` has passed.

    ``wait_for_ready`` only covers a chief that is not up yet; a call already in flight when the chief
    is killed fails at once ("Stream removed"), and keras-tuner then marks the worker's trial FAILED
    (or the worker dies in ``end_trial``). Retried calls reach the restarted chief; with ``resolve``
    (a function returning the chief's current address) they follow a chief that came back elsewhere.
    """

    def __init__(self, stub: Any, address: str, resolve: Callable[[], str | None] | None) -> None:
        self._stub, self._address, self._resolve = stub, address, resolve

    def _follow(self) -> None:
        address = self._resolve() if self._resolve is not None else None
        if address and address != self._address:
            self._stub, self._address = oracle_stub(address), address

    def __getattr__(self, name: str) -> Any:
        import grpc
        from keras_tuner.src.distribute import oracle_client

        def call(*args: Any, **kwargs: Any) -> Any:
            deadline = time.monotonic() + float(oracle_client.TIMEOUT)
            while True:
                try:
                    return getattr(self._stub, name)(*args, **kwargs)
                except grpc.RpcError as exc:
                    code = exc.code() if hasattr(exc, "code") else None
                    if code != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise
                    time.sleep(1.0)
                    self._follow()

        return call


_resolve: list[Callable[[], str | None] | None] = [None]


def use_retrying_client(timeout_s: float, resolve: Callable[[], str | None] | None = None) -> None:
    """Every ``OracleClient`` created from now on waits up to ``timeout_s`` per call (keras-tuner's
    module-level ``TIMEOUT``, 3600 s by default) and retries calls a restarting chief dropped,
    re-reading the chief's address with ``resolve`` when given."""
    import os

    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = timeout_s
    _resolve[0] = resolve
    cls = oracle_client.OracleClient
    if getattr(cls.__init__, "kftune_retrying", False):
        return
    original = cls.__init__

    def __init__(self: Any, oracle: Any) -> None:
        original(self, oracle)
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        self.stub = _RetryingStub(oracle_stub(address), address, _resolve[0])  # in place of keras-tuner's channel

    __init__.kftune_retrying = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def requeue_ongoing(oracle: Any, tuner_id: str) -> str | None:
    """A worker is gone for good: send its running trial back to the retry queue; returns the trial id."""
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    if trial is None:
        return None
    oracle._retry_queue.append(trial.trial_id)
    oracle.tuner_ids.discard(tuner_id)
    oracle.save()
    return trial.trial_id


def quiet_trial_tracebacks() -> None:
    """keras-tuner prints the full traceback of every failed trial (``keras_tuner.src.config.DEBUG``,
    True in 1.4.8): kftune shows one line per failed trial and keeps the traceback in the run's trial
    log (layout.TRIAL_LOG) instead."""
    import importlib

    importlib.import_module("keras_tuner.src.config").DEBUG = False


def quiet_condition_protos() -> None:
    """keras-tuner 1.4.8's ``conditions.Parent.to_proto`` prints its first value (a stray debug print)
    every time a trial with a conditional parameter crosses the chief/worker wire; the same method
    without the print. Idempotent."""
    from keras_tuner.src import protos
    from keras_tuner.src.engine import conditions

    if getattr(conditions.Parent.to_proto, "kftune_quiet", False):
        return

    def to_proto(self: Any) -> Any:
        proto = protos.get_proto()
        first = self.values[0]
        kind = "string_value" if isinstance(first, str) else "boolean_value" if isinstance(first, bool) else (
            "int_value" if isinstance(first, int) else "float_value")
        values = [proto.Value(**{kind: v}) for v in self.values]
        return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))

    to_proto.kftune_quiet = True  # type: ignore[attr-defined]
    conditions.Parent.to_proto = to_proto


def client_timeout() -> float:
    from keras_tuner.src.distribute import oracle_client

    return float(oracle_client.TIMEOUT)
