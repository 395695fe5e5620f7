"""One console line per trial: where the search is, the best so far, and a time estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from kftune.run.record import RunRecord


def console_progress() -> Callable[..., None]:
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)

    def show(run: RunRecord, oracle: Any, trial_id: str | None, status: str, score: float | None) -> None:
        total = run.spec.tuner.max_trials
        done = run.trials_run_here if run.role == "worker" else len(oracle.trials)
        if status == "RESUMED":
            console.print(f"[cyan]resuming[/]: {run.resumed_completed} completed trials found in {run.location.uri}")
            return
        # One numbering everywhere: a trial's place in the start order, as in trials.csv.
        order = getattr(oracle, "start_order", None) or []
        number = order.index(trial_id) + 1 if trial_id in order else done
        started = run.events.last_start(trial_id) if run.role == "chief" and trial_id else None
        where = f" on {started['tuner_id']}" if started and started.get("tuner_id") else ""
        if status == "RUNNING":
            console.print(f"trial {number}/{total} started{where}")
            return
        metric = run.spec.objective.metric
        shown = f"{score:.4f}" if score is not None else f"[red]{status.lower()}[/]" + run.failure_note(oracle, trial_id)
        best = f"{run.best_value:.4f}" if run.best_value is not None else "-"
        per_trial = sum(run.trial_seconds_here) / max(len(run.trial_seconds_here), 1)
        remaining = max(total - done, 0) * per_trial
        if run.spec.budget.max_wall_seconds:
            remaining = min(remaining, max(run.spec.budget.max_wall_seconds - run.elapsed(), 0))
        console.print(
            f"trial {number}/{total}{where}  {metric}={shown}  best={best}  "
            f"elapsed {hms(run.elapsed())}  remaining ~{hms(0 if run.stop_requested else remaining)}"
        )

    return show


def hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
