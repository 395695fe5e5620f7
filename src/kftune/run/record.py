"""The bookkeeping of one invocation: best so far, budgets, and the result files after every trial.

Written after every trial (cheap JSON/CSV, then a sync) so a killed run never loses a result; the
best model is promoted only after the oracle has recorded its trial, so a kill in between never
leaves a model for a trial the state does not know.
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kftune import layout
from kftune.results import files
from kftune.run.location import RunLocation
from kftune.run.state import EventLog, read_json
from kftune.search.trials import trial_status
from kftune.spec import TuningSpec


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
    best_trial_number: int | None = None  # the best trial's number in trials.csv and the report
    worker: str | None = None  # set when this process was a worker: the results are the chief's


def sync_facts(stats: Any) -> Any:
    if stats is None:
        return None
    if hasattr(stats, "__dict__"):
        return {k: v for k, v in vars(stats).items() if isinstance(v, (int, float, str))}
    return str(stats)


class RunRecord:
    """The mutable facts of one invocation; the tuner and the role hooks report each trial here."""

    def __init__(
        self,
        spec: TuningSpec,
        location: RunLocation,
        state: dict[str, Any],
        dataset: Any,
        *,
        role: str = "single",
        tuner_id: str | None = None,
        progress: Callable[..., None] | None = None,
        lock: Any = None,
    ) -> None:
        self.spec, self.location, self.dataset = spec, location, dataset
        self.state_dir = location.state_dir
        self.seed = int(state["seed"])
        self.role, self.tuner_id = role, tuner_id
        self.progress, self.lock = progress, lock
        self.events = EventLog(self.state_dir / layout.EVENTS_FILE)
        # Not only in the event log: that goes up after oracle.json, so a kill between the two uploads
        # would leave a trial the store has ended without its seconds.
        self.seconds: dict[str, float] = {
            str(k): float(v) for k, v in (read_json(self.state_dir / layout.TRIAL_SECONDS) or {}).items()
        }
        self.started, self.started_at = time.monotonic(), files.now_iso()
        self.stopped_because = "max_trials reached"
        self.stop_requested = False
        self.best_value: float | None = None
        self.best_trial_id: str | None = None
        self.pending_value: float | None = None  # a saved model awaiting its trial's record
        self.last_score: float | None = None
        self.trial_t0: dict[str, float] = {}
        self.trials_run_here = 0
        self.trial_seconds_here: list[float] = []
        self.resumed_completed = 0
        self.undeclared: dict[str, Any] = {}
        self.warm_record: dict[str, Any] | None = None
        self.extra_record: Callable[[], dict[str, Any]] | None = None  # e.g. the chief's distributed facts
        self.failures: dict[str, str] = {}  # trial id -> the one-line reason of a trial that failed here

    # ------------------------------------------------------------------ facts
    def better(self, value: float | None, than: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if than is None:
            return True
        return value > than if self.spec.objective.direction == "max" else value < than

    def trial_seed(self, trial_id: str, execution: int) -> int:
        digits = "".join(ch for ch in trial_id if ch.isdigit()) or "0"
        return (self.seed * 1_000_003 + int(digits) * 7919 + execution) % (2**31 - 1)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def learn_best(self, oracle: Any) -> None:
        """Take the oracle's best trial as the best so far (its model is kept elsewhere)."""
        best = oracle.get_best_trials(1)
        if best and best[0].score is not None and self.better(float(best[0].score), self.best_value):
            self.best_value, self.best_trial_id = float(best[0].score), best[0].trial_id

    # ------------------------------------------------------------------ trials
    def trial_started(self, trial_id: str, tuner_id: str | None = None) -> None:
        self.trial_t0[trial_id] = time.monotonic()
        where = {"tuner_id": tuner_id or self.tuner_id} if self.role != "single" else {}
        self.events.add(event="trial_start", trial_id=trial_id, pid=os.getpid(), **where)

    def trial_seconds(self, trial_id: str) -> float | None:
        """Seconds since the trial started here, or since its logged start (a chief restarted while a
        worker ran it); None when neither is known."""
        t0 = self.trial_t0.pop(trial_id, None)
        if t0 is not None:
            seconds: float | None = time.monotonic() - t0
        else:
            start = self.events.last_start(trial_id)
            seconds = max(time.time() - float(start["t"]), 0.0) if start and "t" in start else None
        self.trials_run_here += 1
        if seconds is not None:
            self.trial_seconds_here.append(seconds)
        return seconds

    def record_trial_end(self, oracle: Any, trial_id: str, tuner_id: str | None = None, *, model_elsewhere: bool = False) -> None:
        """After the oracle recorded a trial (here, or on the chief for a worker's): results, sync, budget.

        ``model_elsewhere``: the trial's model, if it beat the best, was stored by the process that ran it.
        """
        status = trial_status(oracle.trials[trial_id])
        score = oracle.trials[trial_id].score if status == "COMPLETED" else None
        seconds = self.trial_seconds(trial_id)
        if self.pending_value is not None:
            if status == "COMPLETED":
                self.promote_pending(trial_id, float(score))
            else:
                (self.state_dir / layout.BEST_MODEL_PENDING).unlink(missing_ok=True)
            self.pending_value = None
        elif model_elsewhere and score is not None and self.better(float(score), self.best_value):
            self.best_value, self.best_trial_id = float(score), trial_id
        where = {"tuner_id": tuner_id} if tuner_id else {}
        self.events.add(event="trial_end", trial_id=trial_id, status=status, score=score, seconds=seconds, **where)
        if seconds is not None:
            self.seconds[trial_id] = seconds
            files.write_json(self.state_dir / layout.TRIAL_SECONDS, self.seconds)
        self.write_results(oracle)
        self.check_budget(oracle)
        if self.location.remote:
            stats = self.location.push()
            # Local marker only (uploaded with the next trial): the trial is now safe in the store.
            self.events.add(event="synced", trial_id=trial_id, **(sync_facts(stats) or {}))
        if self.lock is not None and hasattr(self.lock, "refresh"):
            self.lock.refresh()
        if self.progress is not None:
            self.progress(self, oracle, trial_id, status, score)

    def trial_failed(self, trial_id: str, exc: BaseException) -> str:
        """Record why a trial failed: the full traceback appended to the trial log, one line returned."""
        import traceback

        from kftune.errors import one_line

        text = str(exc).strip().splitlines()
        is_kt = type(exc).__module__.startswith("keras_tuner")  # FailedTrialError: its own words are the reason
        reason = (text[0] if text else type(exc).__name__) if is_kt else one_line(exc)
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        self.failures[trial_id] = reason
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with (self.state_dir / layout.TRIAL_LOG).open("a", encoding="utf-8") as fh:
                fh.write(f"=== trial {trial_id} failed at {files.now_iso()}: {reason}\n")
                fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + "\n")
        except OSError:
            pass  # the log is for reading later; a full disk must not turn a failed trial into a crash
        return reason

    def failure_reason(self, oracle: Any, trial_id: str | None) -> str | None:
        """The one-line reason a trial failed (here, or on a worker: the oracle keeps the line)."""
        if trial_id is None:
            return None
        if trial_id in self.failures:
            return self.failures[trial_id]
        trial = getattr(oracle, "trials", {}).get(trial_id) if hasattr(oracle, "trials") else None
        lines = [line for line in str(getattr(trial, "message", None) or "").splitlines() if line.strip()]
        return lines[-1].strip() if lines else None

    def failure_note(self, oracle: Any, trial_id: str | None) -> str:
        """`` (ValueError: boom)`` for the console's progress line (rich markup escaped); '' if none."""
        from rich.markup import escape

        reason = self.failure_reason(oracle, trial_id)
        return f" ({escape(reason)})" if reason else ""

    def no_completed_trial(self, oracle: Any, table: files.TrialTable) -> Any:
        """NoTrialCompleted when the search has no completed trial (so no best model), else None."""
        from kftune.errors import NoTrialCompleted

        if table.completed or any(r.objective is not None for r in table.rows):  # a STOPPED trial has a value too
            return None
        ended = [t for t in getattr(oracle, "end_order", [])]
        last = self.failure_reason(oracle, ended[-1]) if ended else None
        total = len(ended) or len(getattr(oracle, "trials", {}))
        log = self.state_dir / layout.TRIAL_LOG
        where = f"; tracebacks in {log}" if log.exists() else ""
        return NoTrialCompleted(
            f"0 of {total} trials completed; last failure: {last or 'none recorded'} "
            f"({self.stopped_because}; results so far are in {self.location.uri}{where})"
        )

    def promote_pending(self, trial_id: str, value: float) -> None:
        os.replace(self.state_dir / layout.BEST_MODEL_PENDING, self.state_dir / layout.BEST_MODEL_STATE)
        files.write_json(self.state_dir / layout.BEST_MODEL_INFO, {"trial_id": trial_id, "value": value})
        self.best_value, self.best_trial_id = value, trial_id

    def reconcile_best_model(self, oracle: Any) -> None:
        """After a kill between 'oracle recorded the trial' and 'model promoted', finish the promotion."""
        self.resumed_completed = sum(trial_status(t) == "COMPLETED" for t in oracle.trials.values())
        pending = self.state_dir / layout.BEST_MODEL_PENDING
        info = read_json(self.state_dir / layout.BEST_MODEL_INFO)
        if info:
            self.best_value, self.best_trial_id = info.get("value"), info.get("trial_id")
        if pending.exists():
            best = oracle.get_best_trials(1)
            if best and best[0].trial_id != self.best_trial_id and self.better(best[0].score, self.best_value):
                self.promote_pending(best[0].trial_id, float(best[0].score))
            else:
                pending.unlink()

    # ------------------------------------------------------------------ budgets
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

    # ------------------------------------------------------------------ result files
    def table(self, oracle: Any) -> files.TrialTable:
        names = list(self.spec.search_space)
        return files.TrialTable.from_oracle(oracle, self.spec.objective.direction, names,
                                         {**self.events.seconds(), **self.seconds})

    def best_record(self, oracle: Any) -> dict[str, Any]:
        best = oracle.get_best_trials(1)
        trial = best[0] if best else None
        values = (
            {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")} if trial else {}
        )
        value = float(trial.score) if trial is not None and trial.score is not None else None
        return files.best_hyperparameters_record(
            values,
            self.spec.objective.metric,
            self.spec.objective.direction,
            value,
            trial.trial_id if trial else None,
            self.spec.spec_hash,
        )

    def write_results(self, oracle: Any) -> files.TrialTable:
        from kftune.space import undeclared_names

        self.undeclared = undeclared_names(self.spec, [oracle.trials[t] for t in oracle.start_order])
        out = self.location.local_dir
        table = self.table(oracle)
        files.atomic_write_text(out / layout.TRIALS, table.to_csv())
        files.write_json(out / layout.BEST_HYPERPARAMETERS, self.best_record(oracle))
        files.write_json(out / layout.RUN_RECORD, self.run_record(table, ended=False))
        return table

    def run_record(self, table: files.TrialTable, ended: bool) -> dict[str, Any]:
        return {
            **files.versions(),
            "name": self.spec.name,
            "output": self.location.uri,
            "spec_hash": self.spec.spec_hash,
            "seeds": {"search": self.seed, "model_weights": "derived per trial from the search seed"},
            "algorithm": self.spec.tuner.algorithm,
            "objective": self.spec.objective.model_dump(),
            "data": list(getattr(self.dataset, "sources", [])),
            "started_at": self.started_at,
            "ended_at": files.now_iso() if ended else None,
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
            "sync": sync_facts(self.location.last_sync),
            **(self.extra_record() if self.extra_record is not None else {}),
        }

    def finish(self, oracle: Any) -> TuningResult:
        """The final results: tables, the best model copied out of the state, the report, one last sync."""
        out = self.location.local_dir
        table = self.write_results(oracle)
        best = self.best_record(oracle)
        model_state = self.state_dir / layout.BEST_MODEL_STATE
        best_model: Path | None = None
        if model_state.exists():
            best_model = out / layout.BEST_MODEL
            tmp = out / f".{layout.BEST_MODEL}.tmp"
            tmp.write_bytes(model_state.read_bytes())
            os.replace(tmp, best_model)
        files.write_json(out / layout.RUN_RECORD, self.run_record(table, ended=True))
        try:
            from kftune.results.report import write_report

            write_report(out)
        except Exception as exc:  # a report problem must never lose the results above
            files.atomic_write_text(out / layout.REPORT, f"<html><body>report failed: {exc}</body></html>")
        self.location.push()
        return TuningResult(
            output=self.location.uri,
            local_dir=out,
            best_hyperparameters=best["values"],
            best_objective=best["objective"]["value"],
            best_trial_id=best["trial_id"],
            trials_completed=table.completed,
            trials_failed=table.failed,
            best_model_path=best_model,
            spec_hash=self.spec.spec_hash,
            stopped_because=self.stopped_because,
            files={name: out / name for name in layout.RESULT_FILES if (out / name).exists()},
            best_trial_number=next((r.number for r in table.rows if r.trial_id == best["trial_id"]), None),
        )
