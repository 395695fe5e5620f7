"""The tuning run: spec -> keras-tuner search -> outputs, resumable after any kill.

keras-tuner's Oracle owns the algorithm and trial state; kftune's Tuner subclass only runs a trial
(seeded, session cleared once, NaN -> failed, best weights kept in memory, the model saved only
when a trial beats the best) and, after each trial, writes results, syncs state and checks budgets.
"""

from __future__ import annotations

import gc
import json
import math
import os
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kftune import distributed, outputs
from kftune.errors import KftuneError, ResumeError, SpecError
from kftune.location import RunLocation
from kftune.spec import TuningSpec, WarmStart, fingerprint_diff, load_spec

STATE_FILE = "kftune_state.json"
EVENTS_FILE = "kftune_events.jsonl"
BEST_MODEL_STATE = "best_model.keras"
BEST_MODEL_PENDING = "best_model.pending.keras"
BEST_MODEL_INFO = "best_model.json"


@dataclass
class TuningResult:
    """What a finished (or budget-stopped) run produced."""

    output: str
    local_dir: Path
    best_hyperparameters: dict[str, Any]
    best_objective: float | None
    best_trial_id: str | None
    trials_completed: int
    trials_failed: int
    best_model_path: Path | None
    spec_hash: str
    stopped_because: str
    files: dict[str, Path] = field(default_factory=dict)


class SearchAborted(KftuneError, RuntimeError):
    """The search stopped on its own failure (e.g. too many consecutive failed trials); results are written."""

    exit_code = 7


# --------------------------------------------------------------------------- run state


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def check_or_init_state(state_dir: Path, spec: TuningSpec, command: str) -> dict[str, Any]:
    """Refuse to resume a state made by a different search; otherwise return (or create) it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    state = _read_json(path)
    fingerprint = spec.search_fingerprint()
    if state is not None:
        if state.get("spec_hash") != spec.spec_hash:
            changed = fingerprint_diff(state.get("fingerprint", {}), fingerprint)
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise ResumeError(
                f"{state_dir.parent}: saved state belongs to a different spec (changed: {shown or 'unknown'}); "
                f"rerun with --fresh to start over, or use another --output"
            )
        return state
    seed = spec.tuner.seed if spec.tuner.seed is not None else random.SystemRandom().randrange(2**31)
    state = {
        "spec_hash": spec.spec_hash,
        "fingerprint": fingerprint,
        "seed": seed,
        "created_at": outputs.now_iso(),
        "command": command,
    }
    outputs.write_json(path, state)
    return state


class EventLog:
    """Append-only trial events (start/end with wall time), the source of per-trial seconds and resume facts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    self.events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a kill

    def add(self, **event: Any) -> None:
        event["t"] = time.time()
        self.events.append(event)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, default=str) + "\n")

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.events:
            if e.get("event") == "trial_end" and e.get("seconds") is not None:
                out[e["trial_id"]] = float(e["seconds"])
        return out


# --------------------------------------------------------------------------- oracle


def make_oracle(spec: TuningSpec, hyperparameters: Any, seed: int, warm: Any | None) -> Any:
    import keras_tuner as kt

    t = spec.tuner
    objective = kt.Objective(spec.objective.metric, direction=spec.objective.direction)
    common = dict(
        objective=objective,
        hyperparameters=hyperparameters,
        seed=seed,
        tune_new_entries=t.tune_new_entries,
        allow_new_entries=True,  # undeclared names are recorded; fixed at defaults unless tune_new_entries
        max_consecutive_failed_trials=t.max_consecutive_failed_trials,
    )
    queued = warm.queued_values if warm is not None else []
    if t.algorithm == "bayesian":
        from kftune.oracle import GPOracle

        priors = warm.prior_observations if warm is not None and spec.warm_start and spec.warm_start.use_as_prior else []
        extra: dict[str, Any] = {"prior_observations": priors} if priors else {}
        base: type = GPOracle
        kwargs = dict(common, max_trials=t.max_trials, num_initial_points=t.num_initial_points, **extra)
    elif t.algorithm == "keras_bayesian":
        base = kt.oracles.BayesianOptimizationOracle
        kwargs = dict(common, max_trials=t.max_trials, num_initial_points=t.num_initial_points, alpha=t.alpha, beta=t.beta)
    elif t.algorithm == "random":
        base = kt.oracles.RandomSearchOracle
        kwargs = dict(common, max_trials=t.max_trials)
    elif t.algorithm == "grid":
        base = kt.oracles.GridSearchOracle
        kwargs = dict(common, max_trials=t.max_trials)
    else:  # hyperband
        oracle = kt.oracles.HyperbandOracle(
            max_epochs=t.max_epochs or spec.training.epochs,
            factor=t.factor,
            hyperband_iterations=t.hyperband_iterations,
            **common,
        )
        oracle.max_trials = t.max_trials  # a cap on top of Hyperband's own schedule
        return oracle
    if queued:
        base = _with_queue(base)
        kwargs["queued_values"] = queued
    return base(**kwargs)


def _with_queue(base: type) -> type:
    """An oracle that first proposes given configurations (warm start), each at most once across resumes."""

    class QueuedOracle(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, queued_values: list[dict[str, Any]] = (), **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._queued_values = list(queued_values)

        def populate_space(self, trial_id: str) -> dict[str, Any]:
            tried = [t.hyperparameters.values for t in self.trials.values()]
            while self._queued_values:
                values = self._queued_values.pop(0)
                if not any(_same_values(values, v) for v in tried):
                    return {"status": "RUNNING", "values": values}
            return super().populate_space(trial_id)

    QueuedOracle.__name__ = f"Queued{base.__name__}"
    return QueuedOracle


def _same_values(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = {k for k in a if not k.startswith("tuner/")} | {k for k in b if not k.startswith("tuner/")}
    for k in keys:
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) or isinstance(y, float):
            if x is None or y is None or not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True


# --------------------------------------------------------------------------- the tuner


class _ObjectiveMissing(Exception):
    def __init__(self, metric: str, available: list[str]) -> None:
        super().__init__(metric)
        self.metric, self.available = metric, available


def _make_tuner_class() -> type:
    """Defined lazily so importing kftune never imports keras/TensorFlow."""
    import keras
    import keras_tuner as kt

    class BestEpoch(keras.callbacks.Callback):
        """Remembers the best epoch's value, logs and weights (in memory: no checkpoint per epoch)."""

        def __init__(self, metric: str, direction: str) -> None:
            super().__init__()
            self.metric, self.direction = metric, direction
            self.value: float | None = None
            self.logs: dict[str, float] = {}
            self.weights: list[Any] | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            if self.metric not in logs:
                raise _ObjectiveMissing(self.metric, sorted(logs))
            value = float(logs[self.metric])
            if not math.isfinite(value):
                return
            if self.value is None or (value > self.value if self.direction == "max" else value < self.value):
                self.value = value
                self.logs = {k: float(v) for k, v in logs.items()}
                self.weights = self.model.get_weights()

    class KftuneTuner(kt.Tuner):
        def __init__(self, *, run: _Run, **kwargs: Any) -> None:
            self.run = run
            super().__init__(**kwargs)

        # One clear_session + one collection per build (keras-tuner runs two full collections). The
        # collection is cheap because the long-lived heap (TensorFlow, data) was frozen before the search.
        def _try_build(self, hp: Any) -> Any:
            keras.backend.clear_session(free_memory=False)
            release_custom_gradients(self.run.gradient_baseline)
            gc.collect()
            model = self._build_hypermodel(hp)
            if not isinstance(model, keras.Model):
                raise kt.errors.FatalTypeError(
                    f"model: build_model must return a keras.Model, got {type(model).__name__}"
                )
            return model

        def _build_hypermodel(self, hp: Any) -> Any:
            model = super()._build_hypermodel(hp)
            parent = hp.values.get("tuner/trial_id")
            if parent is not None:  # Hyperband: continue from the promoted trial's weights
                weights = self.run.state_dir / f"trial_{parent}" / "kftune.weights.h5"
                if not weights.exists() and self.run.role.is_worker:
                    distributed.fetch_parent_weights(self.run, parent, weights)
                if weights.exists():
                    model.load_weights(str(weights))
            return model

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            self.run.trial_started(trial)

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            return self.run.run_trial(self, trial, BestEpoch)

        def on_trial_end(self, trial: Any) -> None:
            if self.run.role.is_worker:  # the model is in the store before the chief hears of the trial
                distributed.worker_upload(self.run, trial)
            super().on_trial_end(trial)  # the oracle records the trial and saves its state
            self.run.trial_ended(self, trial)

        def search(self, *args: Any, **kwargs: Any) -> None:
            if self.run.role.is_chief:  # the chief runs no trial: it serves the oracle to the workers
                self.oracle.verbose = kwargs.get("verbose", 0)  # as keras-tuner's search does (no Display)
                self.save()
                distributed.serve_chief(self, self.run)
                return
            super().search(*args, **kwargs)

        def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
            pass  # kftune saves only models that beat the best (see _Run.run_trial)

        def load_model(self, trial: Any) -> Any:
            return keras.models.load_model(self.run.state_dir / BEST_MODEL_STATE)

    return KftuneTuner


def custom_gradient_names() -> set[str] | None:
    """Names in TensorFlow's gradient registry now (None on other Keras backends)."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return None
    try:
        from tensorflow.python.framework import ops
    except ImportError:
        return None
    return set(ops._gradient_registry._registry)


def release_custom_gradients(baseline: set[str] | None) -> None:
    """Drop gradient functions the previous trial's traces registered.

    Every trace of Keras' train step registers a ``CustomGradient-<uid>`` function in TensorFlow's
    global gradient registry and never removes it; the closure pins that trial's whole FuncGraph,
    so memory grew ~4-7 MB per trial (docs/benchmarks.md). After ``clear_session`` no graph of an
    earlier trial is used again, so their entries can go.
    """
    if baseline is None:
        return
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    for name in [n for n in registry if n.startswith("CustomGradient-") and n not in baseline]:
        del registry[name]


# --------------------------------------------------------------------------- one run


class _Run:
    """The mutable facts of one invocation; the tuner calls back into it around each trial."""

    def __init__(self, spec: TuningSpec, location: RunLocation, state: dict[str, Any], dataset: Any, progress: Any) -> None:
        self.spec = spec
        self.location = location
        self.state_dir = location.state_dir
        self.seed = int(state["seed"])
        self.dataset = dataset
        self.progress = progress
        self.events = EventLog(self.state_dir / EVENTS_FILE)
        self.started = time.monotonic()
        self.started_at = outputs.now_iso()
        self.stopped_because = "max_trials reached"
        self.stop_requested = False
        self.best_value: float | None = None
        self.best_trial_id: str | None = None
        self.trial_t0: dict[str, float] = {}
        self.trials_run_here = 0
        self.lock: Any = None
        self.pending_better = False
        self.trial_seconds_here: list[float] = []
        self.undeclared: dict[str, Any] = {}
        self.warm_record: dict[str, Any] | None = None
        self.resumed_completed = 0
        self.hp_names = list(spec.search_space)
        self.oracle: Any = None
        self.gradient_baseline = custom_gradient_names()
        # Distributed tuning (kftune.distributed): this process's role; a worker's store for models.
        self.role: distributed.Role = distributed.SINGLE
        self.model_store: Any = None
        self.abort: BaseException | None = None  # chief: an error raised while serving, re-raised at the end
        self.notes: list[str] = []
        self.last_score: float | None = None
        self.pending_value: float | None = None
        self.seed_checked = False

    # ------------------------------------------------------------------ helpers
    def better(self, value: float | None, than: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if than is None:
            return True
        return value > than if self.spec.objective.direction == "max" else value < than

    def trial_seed(self, trial_id: str, execution: int) -> int:
        digits = "".join(ch for ch in trial_id if ch.isdigit()) or "0"
        return (self.seed * 1_000_003 + int(digits) * 7919 + execution) % (2**31 - 1)

    # ------------------------------------------------------------------ callbacks from the tuner
    def trial_started(self, trial: Any, tuner_id: str | None = None) -> None:
        self.trial_t0[trial.trial_id] = time.monotonic()
        where = {"tuner_id": tuner_id or self.role.tuner_id} if self.role.kind != "single" else {}
        self.events.add(event="trial_start", trial_id=trial.trial_id, pid=os.getpid(), **where)
        if self.role.is_worker:
            distributed.worker_trial_started(self, trial)

    def run_trial(self, tuner: Any, trial: Any, best_epoch_cls: type) -> dict[str, float]:
        import keras
        import keras_tuner as kt
        import numpy as np

        spec, data = self.spec, self.dataset
        hp = trial.hyperparameters
        epochs = int(hp.values.get("tuner/epochs", spec.training.epochs))
        initial_epoch = int(hp.values.get("tuner/initial_epoch", 0))
        values, logs_per_execution = [], []
        best_execution: tuple[float, Any, Any] | None = None
        for execution in range(tuner.executions_per_trial):
            keras.utils.set_random_seed(self.trial_seed(trial.trial_id, execution))
            model = tuner._try_build(hp)
            best = best_epoch_cls(spec.objective.metric, spec.objective.direction)
            callbacks: list[Any] = [keras.callbacks.TerminateOnNaN(), best]
            es = spec.training.early_stopping
            if es is not None:
                callbacks.append(
                    keras.callbacks.EarlyStopping(
                        monitor=es.monitor or spec.objective.metric,
                        mode=spec.objective.direction,
                        patience=es.patience,
                        min_delta=es.min_delta,
                    )
                )
            try:
                history = model.fit(
                    data.x_train,
                    data.y_train,
                    validation_data=(data.x_val, data.y_val),
                    epochs=epochs,
                    initial_epoch=initial_epoch,
                    batch_size=spec.training.batch_size,
                    callbacks=callbacks,
                    verbose=spec.training.verbose,
                )
            except _ObjectiveMissing as exc:
                raise kt.errors.FatalError(
                    f"objective.metric: '{exc.metric}' is not reported by the model "
                    f"(it reports: {', '.join(exc.available) or 'nothing'})"
                ) from None
            losses = history.history.get("loss", [])
            if any(not math.isfinite(float(v)) for v in losses) or best.value is None:
                raise kt.errors.FailedTrialError(
                    f"trial {trial.trial_id}: loss or {spec.objective.metric} became NaN/inf"
                )
            values.append(best.value)
            logs_per_execution.append(best.logs)
            if best_execution is None or self.better(best.value, best_execution[0]):
                best_execution = (best.value, model, best.weights)
        if "tuner/epochs" in hp.values and best_execution is not None:
            # Hyperband promotes trials; their successors continue from these weights.
            _, model, weights = best_execution
            model.set_weights(weights)
            trial_dir = self.state_dir / f"trial_{trial.trial_id}"
            trial_dir.mkdir(parents=True, exist_ok=True)
            model.save_weights(str(trial_dir / "kftune.weights.h5"))
        score = float(np.mean(values))
        self.last_score = score
        if self.better(score, self.best_value) and best_execution is not None:
            # Only a trial that beats the best is written to disk; promoted after the oracle records it.
            _, model, weights = best_execution
            model.set_weights(weights)
            pending = self.state_dir / BEST_MODEL_PENDING
            model.save(str(pending))
            self.pending_better, self.pending_value = True, score
        metrics = {k: float(np.mean([logs.get(k, np.nan) for logs in logs_per_execution])) for k in logs_per_execution[0]}
        metrics[spec.objective.metric] = score
        return metrics

    def trial_ended(self, tuner: Any, trial: Any) -> None:
        if self.role.is_worker:  # an OracleClient has no trials; results are the chief's job
            distributed.worker_trial_ended(self, trial)
        else:
            self.record_trial_end(tuner.oracle, trial.trial_id)

    def record_trial_end(self, oracle: Any, trial_id: str, tuner_id: str | None = None) -> None:
        """After the oracle recorded a trial (here, or on the chief for a worker's trial): results, sync, budget."""
        recorded = oracle.trials[trial_id]
        status = str(getattr(recorded.status, "value", recorded.status))
        seconds = time.monotonic() - self.trial_t0.pop(trial_id, time.monotonic())
        score = recorded.score if status == "COMPLETED" else None
        if self.pending_better:
            if status == "COMPLETED":
                self.promote_pending(trial_id, float(score))
            else:
                (self.state_dir / BEST_MODEL_PENDING).unlink(missing_ok=True)
            self.pending_better = False
        elif self.role.is_chief and score is not None and self.better(float(score), self.best_value):
            self.best_value, self.best_trial_id = float(score), trial_id  # its model is in the store
        self.trials_run_here += 1
        self.trial_seconds_here.append(seconds)
        where = {"tuner_id": tuner_id} if tuner_id else {}
        self.events.add(event="trial_end", trial_id=trial_id, status=status, score=score, seconds=seconds, **where)
        self.write_results(oracle)
        self.check_budget(oracle)
        if self.location.remote:
            stats = self.location.push()
            # Local marker only (uploaded with the next trial): the trial is now safe in the store.
            self.events.add(event="synced", trial_id=trial_id, **(_sync_facts(stats) or {}))
        if self.lock is not None and hasattr(self.lock, "refresh"):
            self.lock.refresh()
        if self.progress is not None:
            self.progress(self, oracle, trial_id, status, score)

    def promote_pending(self, trial_id: str, value: float) -> None:
        os.replace(self.state_dir / BEST_MODEL_PENDING, self.state_dir / BEST_MODEL_STATE)
        outputs.write_json(self.state_dir / BEST_MODEL_INFO, {"trial_id": trial_id, "value": value})
        self.best_value, self.best_trial_id = value, trial_id

    def check_budget(self, oracle: Any) -> None:
        budget = self.spec.budget
        if budget.objective_goal is not None and self.best_value is not None:
            goal_met = (
                self.best_value >= budget.objective_goal
                if self.spec.objective.direction == "max"
                else self.best_value <= budget.objective_goal
            )
            if goal_met:
                self.request_stop(oracle, f"objective_goal {budget.objective_goal} reached")
        if budget.max_wall_seconds is not None and self.elapsed() >= budget.max_wall_seconds:
            self.request_stop(oracle, f"max_wall_seconds {budget.max_wall_seconds:g} reached")

    def request_stop(self, oracle: Any, reason: str) -> None:
        # The oracle stops creating trials once len(trials) >= max_trials; max_trials is not saved state.
        oracle.max_trials = len(oracle.trials)
        self.stop_requested = True
        self.stopped_because = reason

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # ------------------------------------------------------------------ results
    def table(self, oracle: Any) -> outputs.TrialTable:
        return outputs.TrialTable.from_oracle(oracle, self.spec.objective.direction, self.hp_names, self.events.seconds())

    def best_record(self, oracle: Any) -> dict[str, Any]:
        best = oracle.get_best_trials(1)
        trial = best[0] if best else None
        values = (
            {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")} if trial else {}
        )
        value = float(trial.score) if trial is not None and trial.score is not None else None
        return outputs.best_hyperparameters_record(
            values,
            self.spec.objective.metric,
            self.spec.objective.direction,
            value,
            trial.trial_id if trial else None,
            self.spec.spec_hash,
        )

    def write_results(self, oracle: Any) -> outputs.TrialTable:
        from kftune.space import undeclared_names

        self.undeclared = undeclared_names(self.spec, [oracle.trials[t] for t in oracle.start_order])
        out = self.location.local_dir
        table = self.table(oracle)
        outputs.atomic_write_text(out / outputs.TRIALS, table.to_csv())
        outputs.write_json(out / outputs.BEST_HYPERPARAMETERS, self.best_record(oracle))
        outputs.write_json(out / outputs.RUN_RECORD, self.run_record(table, ended=False))
        return table

    def run_record(self, table: outputs.TrialTable, ended: bool) -> dict[str, Any]:
        return {
            **outputs.versions(),
            "name": self.spec.name,
            "output": self.location.uri,
            "spec_hash": self.spec.spec_hash,
            "seeds": {"search": self.seed, "model_weights": "derived per trial from the search seed"},
            "algorithm": self.spec.tuner.algorithm,
            "objective": self.spec.objective.model_dump(),
            "data": list(getattr(self.dataset, "sources", [])),
            "started_at": self.started_at,
            "ended_at": outputs.now_iso() if ended else None,
            "host": socket.gethostname(),
            "trials": {
                "completed": table.completed,
                "failed": table.failed,
                "resumed": self.resumed_completed,
                "run_in_this_invocation": self.trials_run_here,
                "max_trials": self.spec.tuner.max_trials,
            },
            "stopped_because": self.stopped_because if ended else "running",
            "undeclared_hyperparameters": {
                "values": self.undeclared,
                "tuned": self.spec.tuner.tune_new_entries,
            },
            "warm_start": self.warm_record,
            "sync": _sync_facts(self.location.last_sync),
            **({"distributed": self.distributed_record()} if self.role.is_chief else {}),
        }

    def distributed_record(self) -> dict[str, Any]:
        ends = [e for e in self.events.events if e.get("event") == "trial_end" and e.get("tuner_id")]
        tuner_ids = sorted({e["tuner_id"] for e in ends})
        return {"role": "chief", "oracle_address": self.role.address, "workers_seen": tuner_ids, "notes": self.notes}


def _sync_facts(stats: Any) -> Any:
    if stats is None:
        return None
    if hasattr(stats, "__dict__"):
        return {k: v for k, v in vars(stats).items() if isinstance(v, (int, float, str))}
    return str(stats)


def _reconcile_best_model(run: _Run, oracle: Any) -> None:
    """After a kill between 'oracle recorded the trial' and 'model promoted', finish the promotion."""
    pending = run.state_dir / BEST_MODEL_PENDING
    info = _read_json(run.state_dir / BEST_MODEL_INFO)
    if info:
        run.best_value, run.best_trial_id = info.get("value"), info.get("trial_id")
    if pending.exists():
        best = oracle.get_best_trials(1)
        if best and best[0].trial_id not in (run.best_trial_id,) and run.better(best[0].score, run.best_value):
            run.promote_pending(best[0].trial_id, float(best[0].score))
        else:
            pending.unlink()


# --------------------------------------------------------------------------- entry point


def tune(
    spec: TuningSpec | dict[str, Any] | str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    fresh: bool = False,
    warm_start: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    progress: bool | Callable[..., None] = True,
    store_client: Any = None,
) -> TuningResult:
    """Run (or resume) the search a spec describes and write every output; see docs/outputs.md."""
    spec = load_spec(spec)
    if warm_start:
        spec = spec.model_copy(update={"warm_start": WarmStart.model_validate({"from": warm_start})})
    uri = str(output or spec.output or Path("kftune-runs") / spec.name)
    role = distributed.detect_role()
    if role.is_worker:  # no lock and no results: the output location belongs to the chief
        return distributed.tune_worker(spec, uri, role, workdir=workdir, progress=progress, store_client=store_client)
    location = RunLocation(uri, workdir=workdir, client=store_client)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with location.locked(owner) as lock:
        if fresh:
            location.clear()
        location.pull()
        return _tune_locked(spec, location, lock, progress, role=role)


def _tune_locked(
    spec: TuningSpec,
    location: RunLocation,
    lock: Any,
    progress: Any,
    *,
    role: distributed.Role = distributed.SINGLE,
    model_store: Any = None,
) -> TuningResult:
    from kftune.data import load_dataset
    from kftune.hypermodels import bind_model, resolve_model

    # keras-tuner rewrites trial.json/oracle.json in place; a kill mid-write would leave an empty file
    # that the resumed run cannot reload. Write-then-rename instead, for every role.
    distributed.atomic_keras_tuner_json()
    state = check_or_init_state(location.state_dir, spec, command="tune")
    outputs.write_json(location.local_dir / outputs.SPEC, json.loads(spec.to_json()))
    if role.is_chief:
        location.push()  # workers wait for this state: its seed fixes everyone's validation split
    dataset = load_dataset(spec.data, seed=int(state["seed"]))
    build_model = bind_model(resolve_model(spec.model), dataset)

    from kftune.space import build_hyperparameters

    reporter = progress if callable(progress) else (_console_progress() if progress else None)
    run = _Run(spec, location, state, dataset, reporter)
    run.lock = lock
    run.role, run.model_store = role, model_store
    warm = None
    if spec.warm_start is not None and not role.is_worker:
        from kftune.warmstart import prepare_warm_start

        warm = prepare_warm_start(spec, store_client=None)
        run.warm_record = warm.record

    import keras_tuner as kt

    hp = build_hyperparameters(spec)
    oracle = make_oracle(spec, hp, run.seed, warm)
    tuner_cls = _make_tuner_class()
    try:
        tuner = tuner_cls(
            run=run,
            oracle=oracle,
            hypermodel=build_model,
            directory=str(location.local_dir),
            project_name=outputs.STATE_DIR,
            overwrite=False,
            executions_per_trial=spec.tuner.executions_per_trial,
        )
    except kt.errors.FatalError as exc:
        raise SpecError(str(exc)) from None
    oracle = tuner.oracle
    run.oracle = oracle
    if not role.is_worker:
        run.resumed_completed = sum(
            str(getattr(t.status, "value", t.status)) == "COMPLETED" for t in oracle.trials.values()
        )
        _reconcile_best_model(run, oracle)
    if role.is_chief:
        distributed.keep_ongoing_trials(oracle)
        best = oracle.get_best_trials(1)
        if best and best[0].score is not None:
            run.best_value, run.best_trial_id = float(best[0].score), best[0].trial_id
        run.write_results(oracle)  # run.json says "running" before any worker asks for a trial
        location.push()
    if run.progress is not None and run.resumed_completed:
        run.progress(run, oracle, None, "RESUMED", None)

    failure: KftuneError | None = None
    # Move everything alive now (TensorFlow's modules, the data) out of the collector's sight, so the
    # per-trial collection that frees the last model scans only what trials allocate.
    gc.collect()
    gc.freeze()
    try:
        tuner.search(verbose=0)
    except kt.errors.FatalError as exc:  # the user's model or objective, not a trial's bad luck
        failure = SpecError(str(exc).strip().splitlines()[-1])
    except RuntimeError as exc:
        if "consecutive failures" not in str(exc):
            raise
        last = [line for line in str(exc).strip().splitlines() if line.strip()]
        failure = SearchAborted(
            f"search stopped: {spec.tuner.max_consecutive_failed_trials} consecutive trials failed "
            f"(last: {last[-1] if last else 'unknown'}); results so far are in {location.uri}"
        )
        run.stopped_because = "too many consecutive failed trials"
    finally:
        gc.unfreeze()
    if role.is_worker:
        return worker_result(spec, getattr(model_store, "uri", location.uri), location, run=run)
    result = _finish(run, oracle)
    if failure is not None:
        raise failure
    return result


def _finish(run: _Run, oracle: Any) -> TuningResult:
    out = run.location.local_dir
    table = run.write_results(oracle)
    best = run.best_record(oracle)
    model_state = run.state_dir / BEST_MODEL_STATE
    if run.role.is_chief:
        distributed.collect_best_model(run, oracle, model_state)
    best_model: Path | None = None
    if model_state.exists():
        best_model = out / outputs.BEST_MODEL
        tmp = out / f".{outputs.BEST_MODEL}.tmp"
        tmp.write_bytes(model_state.read_bytes())
        os.replace(tmp, best_model)
    outputs.write_json(out / outputs.RUN_RECORD, run.run_record(table, ended=True))
    try:
        from kftune.report import write_report

        write_report(out)
    except Exception as exc:  # a report problem must never lose the results above
        outputs.atomic_write_text(out / outputs.REPORT, f"<html><body>report failed: {exc}</body></html>")
    run.location.push()
    files = {name: out / name for name in outputs.RESULT_FILES if (out / name).exists()}
    return TuningResult(
        output=run.location.uri,
        local_dir=out,
        best_hyperparameters=best["values"],
        best_objective=best["objective"]["value"],
        best_trial_id=best["trial_id"],
        trials_completed=table.completed,
        trials_failed=table.failed,
        best_model_path=best_model,
        spec_hash=run.spec.spec_hash,
        stopped_because=run.stopped_because,
        files=files,
    )


def worker_result(
    spec: TuningSpec,
    uri: str,
    location: RunLocation,
    *,
    run: _Run | None = None,
    stopped_because: str = "the chief stopped the search",
) -> TuningResult:
    """What a worker reports: the trials it ran and the best objective it knew of; the results are the chief's."""
    ended = [e for e in run.events.events if e.get("event") == "trial_end"] if run else []
    completed = sum(e.get("status") == "COMPLETED" for e in ended)
    return TuningResult(
        output=uri,
        local_dir=location.local_dir,
        best_hyperparameters={},
        best_objective=run.best_value if run else None,
        best_trial_id=run.best_trial_id if run else None,
        trials_completed=completed,
        trials_failed=len(ended) - completed,
        best_model_path=None,
        spec_hash=spec.spec_hash,
        stopped_because=stopped_because,
    )


def _console_progress() -> Callable[..., None]:
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)

    def show(run: _Run, oracle: Any, trial_id: str | None, status: str, score: float | None) -> None:
        total = run.spec.tuner.max_trials
        done = run.trials_run_here if run.role.is_worker else len(oracle.trials)
        if status == "RESUMED":
            console.print(f"[cyan]resuming[/]: {run.resumed_completed} completed trials found in {run.location.uri}")
            return
        metric = run.spec.objective.metric
        shown = f"{score:.4f}" if score is not None else f"[red]{status.lower()}[/]"
        best = f"{run.best_value:.4f}" if run.best_value is not None else "-"
        per_trial = sum(run.trial_seconds_here) / max(len(run.trial_seconds_here), 1)
        remaining = max(total - done, 0) * per_trial
        if run.spec.budget.max_wall_seconds:
            remaining = min(remaining, max(run.spec.budget.max_wall_seconds - run.elapsed(), 0))
        console.print(
            f"trial {done}/{total}  {metric}={shown}  best={best}  "
            f"elapsed {_hms(run.elapsed())}  remaining ~{_hms(0 if run.stop_requested else remaining)}"
        )

    return show


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
