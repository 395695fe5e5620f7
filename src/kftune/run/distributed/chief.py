"""The chief: serves the oracle to the workers and does the per-trial bookkeeping for their trials.

It runs no trial itself. keras-tuner's servicer calls ``create_trial``/``end_trial`` from gRPC
threads; kftune wraps both so a started trial is synced at once (a restarted chief then knows it is
running) and an ended one gets the same results, sync and budget check as in a single process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from kftune import kt_compat, layout
from kftune.errors import SpecError
from kftune.results.files import write_json
from kftune.run.distributed.roles import CHIEF_LINGER_S, CHIEF_POLL_S, Role, env_seconds
from kftune.run.record import RunRecord, TuningResult
from kftune.search.earlystop import EPOCH_METRIC
from kftune.search.trials import trial_status


class ChiefHooks:
    """RoleHooks of the chief (KERASTUNER_TUNER_ID contains "chief")."""

    kind = "chief"
    owns_results = True

    def __init__(self, role: Role) -> None:
        self.role = role
        self.tuner_id = role.tuner_id
        self.abort: BaseException | None = None  # raised while serving; re-raised when the server stops
        self.notes: list[str] = []

    def state_ready(self, location: Any) -> None:
        location.push()  # workers wait for this state: its seed fixes everyone's validation split

    def tuner_ready(self, run: RunRecord, oracle: Any) -> None:
        self.notes.extend(kt_compat.repair_reloaded(oracle))
        run.reconcile_best_model(oracle)
        keep_ongoing_trials(oracle)
        best = oracle.get_best_trials(1)
        if best and best[0].score is not None:
            run.best_value, run.best_trial_id = float(best[0].score), best[0].trial_id
        run.extra_record = lambda: {"distributed": self.record(run)}
        run.write_results(oracle)  # run.json says "running" before any worker asks for a trial
        run.location.push()

    def search(self, tuner: Any, search: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        tuner.oracle.verbose = kwargs.get("verbose", 0)  # as keras-tuner's search does (no Display)
        tuner.save()
        self.serve(tuner.oracle, tuner.run)

    def fetch_parent_weights(self, run: RunRecord, parent: str, dest: Path) -> None:
        pass  # the chief runs no trial

    def trial_started(self, run: RunRecord, oracle: Any, trial: Any) -> None:
        pass

    def before_trial_report(self, run: RunRecord, trial: Any) -> None:
        pass

    def trial_ended(self, run: RunRecord, oracle: Any, trial: Any) -> None:
        pass

    def finish(self, run: RunRecord, oracle: Any) -> TuningResult:
        collect_best_model(run, oracle, run.state_dir / layout.BEST_MODEL_STATE)
        return run.finish(oracle)

    def record(self, run: RunRecord) -> dict[str, Any]:
        tuner_ids = sorted({e["tuner_id"] for e in run.events.ended() if e.get("tuner_id")})
        return {"role": "chief", "oracle_address": self.role.address, "workers_seen": tuner_ids, "notes": self.notes}

    # ------------------------------------------------------------------ serving
    def on_poll(self, oracle: Any, run: RunRecord) -> None:
        """Called every CHIEF_POLL_S while serving (the local launcher supervises its workers here)."""

    def failed(self, run: RunRecord, oracle: Any, exc: BaseException, reason: str | None = None) -> None:
        """Stop handing out trials; the error is reported when the server stops."""
        self.abort = self.abort or exc
        run.request_stop(oracle, reason or f"error: {exc}")

    def observe(self, oracle: Any, run: RunRecord) -> None:
        """Wrap the oracle's create/end_trial so the run records starts and does its per-trial work on ends."""
        create, end = oracle.create_trial, oracle.end_trial

        def create_trial(tuner_id: str) -> Any:
            with kt_compat.oracle_lock(oracle):
                trial = create(tuner_id)
                if trial_status(trial) == "RUNNING" and trial.trial_id not in run.trial_t0:
                    run.trial_started(trial.trial_id, tuner_id=tuner_id)
                    try:  # a restarted chief then knows this trial is running
                        run.location.push()
                    except Exception as exc:
                        self.failed(run, oracle, exc)
                    if run.progress is not None:
                        run.progress(run, oracle, trial.trial_id, "RUNNING", None)
                return trial

        def end_trial(trial: Any) -> None:
            with kt_compat.oracle_lock(oracle):
                trial_id = trial.trial_id
                known = oracle.trials.get(trial_id)
                running = any(o.trial_id == trial_id for o in oracle.ongoing_trials.values())
                tuner_id = next((t for t, o in oracle.ongoing_trials.items() if o.trial_id == trial_id), None)
                if trial_id not in run.trial_t0:  # started under a previous chief: when and where, from the events
                    started = run.events.last_start(trial_id)
                    if started:
                        run.trial_t0[trial_id] = time.monotonic() - max(time.time() - started["t"], 0.0)
                        tuner_id = tuner_id or started.get("tuner_id")
                if known is not None and trial_status(known) in ("COMPLETED", "FAILED", "INVALID", "STOPPED") and not running:
                    # A worker's retried EndTrial: the killed chief had already ended and saved it. Its
                    # event log goes to the store after oracle.json (layout.SYNC_TIERS): record the end
                    # here if the kill came between the two.
                    if not any(e.get("trial_id") == trial_id for e in run.events.ended()):
                        try:
                            run.record_trial_end(oracle, trial_id, tuner_id=tuner_id, model_elsewhere=True)
                        except Exception as exc:  # as below: stop handing out trials
                            self.failed(run, oracle, exc)
                    return
                kt_compat.forget_retry(oracle, trial_id)  # queued for a retry, but its worker finished it after all
                if known is not None:
                    adopt_reported_metrics(oracle, known, trial)
                try:
                    end(trial)
                except RuntimeError as exc:
                    if not kt_compat.consecutive_failures_reached(oracle):
                        raise
                    kt_compat.finish_failed_end(oracle, trial_id)
                    self.failed(run, oracle, exc, "too many consecutive failed trials")
                # keras-tuner saved oracle.json while the trial was still listed as ongoing; a chief
                # restarted from that file would hand the finished trial out again. Save it as it is now.
                oracle.save()
                try:
                    run.record_trial_end(oracle, trial_id, tuner_id=tuner_id, model_elsewhere=True)
                except Exception as exc:  # e.g. storage failed after retries: stop handing out trials
                    self.failed(run, oracle, exc)

        oracle.create_trial = create_trial
        oracle.end_trial = end_trial

    def serve(self, oracle: Any, run: RunRecord) -> None:
        """Serve the oracle until every trial has ended and every worker was told to stop.

        Replaces keras-tuner's ``oracle_chief.start_server`` (same servicer) for two reasons: it polls
        every 0.5 s instead of 20 s before exiting, and it does not wait forever for a worker that asked
        for a trial once and vanished between trials (``KFTUNE_CHIEF_LINGER_S``).
        """
        kt_compat.use_atomic_json()  # every trial/oracle file the chief writes from here on
        kt_compat.quiet_condition_protos()
        self.observe(oracle, run)
        log_oracle_errors(oracle)
        linger = env_seconds("KFTUNE_CHIEF_LINGER_S", CHIEF_LINGER_S)
        served = kt_compat.serve_oracle(oracle, str(self.role.address))
        if served is None:
            raise SpecError(
                f"environment: the chief cannot listen on {self.role.address} "
                "(KERASTUNER_ORACLE_IP/KERASTUNER_ORACLE_PORT; use 0.0.0.0 and a free port on the chief)"
            )
        server, servicer = served
        if self.role.advertise:  # Kubeflow: workers read where the chief is from the store
            from kftune.run.distributed.rendezvous import publish_chief

            publish_chief(run.location, self.role.advertise, run.spec)
        idle_since: float | None = None
        try:
            while True:
                time.sleep(CHIEF_POLL_S)
                self.on_poll(oracle, run)
                if not servicer.stop_triggered and self.abort is None:
                    continue
                with kt_compat.oracle_lock(oracle):
                    ongoing, waiting = len(oracle.ongoing_trials), sorted(oracle.tuner_ids)
                if ongoing:
                    idle_since = None
                    continue
                if not waiting:
                    break
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > linger:
                    self.notes.append(f"workers {', '.join(waiting)} did not come back for their stop signal")
                    break
        finally:
            server.stop(grace=2).wait()
        if self.abort is not None:
            raise self.abort


def keep_ongoing_trials(oracle: Any) -> list[str]:
    """After a chief restart, give each running trial back to its tuner id instead of queueing it for a retry.

    keras-tuner's ``Oracle.reload`` moves every trial that was running into the retry queue, so a
    worker that outlived the chief reports a trial that another worker has meanwhile started again.
    Tuner ids are stable (one per worker index), so keep the saved assignment: a surviving worker
    reports its trial; a replaced one (same id) is handed the same trial back by ``create_trial``.
    """
    kept = []
    for tuner_id, trial_id in kt_compat.saved_ongoing_trials(oracle).items():
        trial = oracle.trials.get(trial_id)
        if trial is None or trial_status(trial) != "RUNNING":
            continue
        oracle.ongoing_trials[tuner_id] = trial
        kt_compat.forget_retry(oracle, trial_id)
        kept.append(trial_id)
    return kept


def adopt_reported_metrics(oracle: Any, known: Any, ended: Any) -> None:
    """Take the metrics a worker's EndTrial carries (:func:`kftune.run.distributed.worker.carry_reported_metrics`)
    that this chief never recorded: it was restarted after the worker's last ``update_trial``.

    Only metrics missing altogether are adopted, with the objective's direction. If the objective is
    still missing (a worker without the carry), the trial ends INVALID, so that keras-tuner's retry
    rules apply, instead of COMPLETED without a score: that made ``end_trial`` raise, and left a
    trial whose score of None broke every later ``get_best_trials``.
    """
    objective = oracle.objective.name
    for name, history in ended.metrics.metrics.items():
        if known.metrics.exists(name):
            continue
        own = name in (objective, EPOCH_METRIC)  # the early-stopping history is the objective's, epoch by epoch
        known.metrics.register(name, direction=oracle.objective.direction if own else history.direction)
        for observation in history.get_history():
            for value in observation.value:
                known.metrics.update(name, value, step=observation.step)
    if trial_status(ended) == "COMPLETED" and not known.metrics.exists(objective):
        ended.status = "INVALID"
        ended.message = f"the chief was restarted and never received this trial's {objective}"


def collect_best_model(run: RunRecord, oracle: Any, dest: Path) -> str | None:
    """Fetch the best trial's uploaded model to ``dest``; drop the other candidates. Returns its trial id.

    Walks the trials best first and takes the first one with a model: a worker uploads only when it
    beats the best it knows, so a trial that merely ties the best may have none.
    """
    store = run.location.store
    stored = {info.key for info in store.list(f"{layout.STATE_DIR}/{layout.MODELS_DIR}/")}
    chosen: str | None = None
    for trial in oracle.get_best_trials(len(oracle.trials)):
        if layout.model_key(trial.trial_id) in stored:
            chosen = trial.trial_id
            store.download_file(layout.model_key(chosen), dest)
            write_json(dest.with_name(layout.BEST_MODEL_INFO), {"trial_id": chosen, "value": trial.score})
            break
    for key in stored - ({layout.model_key(chosen)} if chosen else set()):
        store.delete(key)
        if run.location.remote:
            (run.location.local_dir / key).unlink(missing_ok=True)
    return chosen


_SERVED = ("get_space", "update_space", "create_trial", "update_trial", "end_trial", "get_trial", "get_best_trials")


def log_oracle_errors(oracle: Any) -> None:
    """Write an exception of an oracle method the chief serves, with its traceback, to the chief's
    stderr: gRPC answers the worker UNKNOWN and logs the error through ``logging``, which keras/absl
    leave silent, so the chief's log said nothing and the worker only "lost the chief oracle (UNKNOWN)"."""
    import sys
    import traceback

    for name in _SERVED:
        method = getattr(oracle, name)

        def logged(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            try:
                return _method(*args, **kwargs)
            except Exception:
                print(f"chief: the oracle failed in {_name}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
                raise

        setattr(oracle, name, logged)
