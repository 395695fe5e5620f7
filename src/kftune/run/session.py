"""The search loop, the same for every role: state -> data -> model -> oracle -> trials -> results.

It runs in a location that is already prepared (locked and pulled by the entry point, or a worker's
scratch folder) and asks the role hooks for everything a chief or a worker does differently; it never
imports kftune.run.distributed.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from kftune import kt_compat, layout
from kftune.errors import KftuneError, ModelBuildError, SearchAborted, SpecError
from kftune.results.files import write_json
from kftune.run.hooks import RoleHooks
from kftune.run.location import RunLocation
from kftune.run.memory import frozen_heap
from kftune.run.progress import console_progress
from kftune.run.record import RunRecord, TuningResult
from kftune.run.state import EventLog, commit_state, read_state
from kftune.spec import TuningSpec


def run_session(
    spec: TuningSpec,
    location: RunLocation,
    hooks: RoleHooks,
    *,
    lock: Any = None,
    progress: bool | Callable[..., None] = True,
) -> TuningResult:
    """Run (or resume) the search in ``location`` and return what ``hooks.finish`` reports."""
    import keras_tuner as kt

    from kftune.data import load_dataset
    from kftune.hypermodels import bind_model, check_signature, probe_build, refuse_problems, resolve_model
    from kftune.run.trial import make_tuner_class
    from kftune.search import make_oracle
    from kftune.space import build_hyperparameters

    # keras-tuner rewrites trial.json/oracle.json in place; a kill mid-write would leave an empty file
    # that the resumed run cannot reload. Write-then-rename instead, for every role.
    kt_compat.use_atomic_json()
    if hooks.owns_results and _only_failed_trials(location):
        print(f"kftune: no trial of the earlier attempt at {location.uri} completed; starting over", file=sys.stderr)
        location.clear()
    # Start-up (data, model, oracle) writes no state: a failure here leaves the output as it was, and
    # the fixed spec then starts there as if nothing happened. The state is written before trial 1.
    state, new_state = read_state(location.state_dir, spec, command="tune")
    dataset = load_dataset(spec.data, seed=int(state["seed"]))
    model_fn = resolve_model(spec.model)
    build_model = bind_model(model_fn, dataset)

    reporter = progress if callable(progress) else (console_progress() if progress else None)
    run = RunRecord(
        spec, location, state, dataset, role=hooks.kind, tuner_id=hooks.tuner_id, progress=reporter, lock=lock
    )
    warm = None
    if spec.warm_start is not None and hooks.owns_results:
        from kftune.search.warmstart import prepare_warm_start

        warm = prepare_warm_start(spec, store_client=None)
        run.warm_record = warm.record

    oracle = make_oracle(spec, build_hyperparameters(spec), run.seed, warm)
    try:  # one build with the defaults: what can never work stops here, before any trial
        check_signature(model_fn, spec.model)
        refuse_problems(spec, probe_build(spec, build_model, dataset), dataset)
    except ModelBuildError as exc:  # the model function itself: results written, state not pinned
        if hooks.owns_results:
            run.stopped_because = f"error: {exc}"
            run.finish(oracle)
        raise
    population = _PopulationBuild(build_model)
    try:
        tuner = make_tuner_class()(
            run=run,
            hooks=hooks,
            oracle=oracle,
            hypermodel=population,
            directory=str(location.local_dir),
            project_name=layout.STATE_DIR,
            overwrite=False,
            executions_per_trial=spec.tuner.executions_per_trial,
        )
    except kt.errors.FatalError as exc:
        raise SpecError(str(exc)) from None
    population.done = True
    commit_state(location.state_dir, state, new_state)
    write_json(location.local_dir / layout.SPEC, json.loads(spec.to_json()))
    hooks.state_ready(location)
    oracle = tuner.oracle
    hooks.tuner_ready(run, oracle)
    if reporter is not None and run.resumed_completed:
        reporter(run, oracle, None, "RESUMED", None)

    failure: KftuneError | None = None
    with frozen_heap():
        try:
            tuner.search(verbose=0)
        except kt.errors.FatalError as exc:  # the user's model or objective, not a trial's bad luck
            cause = exc.__cause__
            failure = cause if isinstance(cause, KftuneError) else SpecError(str(exc).strip().splitlines()[-1])
            run.stopped_because = f"error: {failure}"
        except RuntimeError:
            if not kt_compat.consecutive_failures_reached(oracle):
                raise
            failure = _aborted(spec, run, oracle, location)
            run.stopped_because = "too many consecutive failed trials"
    result = hooks.finish(run, oracle)
    if failure is None and hooks.owns_results:
        failure = run.no_completed_trial(oracle, run.table(oracle))
    elif isinstance(failure, SearchAborted) and hooks.owns_results:
        failure = run.no_completed_trial(oracle, run.table(oracle)) or failure
    if failure is not None:
        raise failure
    return result


def _only_failed_trials(location: RunLocation) -> bool:
    """Whether the saved state is an attempt whose every ended trial failed (none running when it
    stopped): it holds nothing to resume, so the fixed model or spec starts over on the same output
    instead of finding max_trials already spent (or being refused as a different spec)."""
    if not (location.state_dir / layout.STATE_FILE).exists():
        return False
    events = EventLog(location.state_dir / layout.EVENTS_FILE)
    ended = events.ended()
    started = {e.get("trial_id") for e in events.events if e.get("event") == "trial_start"}
    return bool(ended) and all(e.get("status") == "FAILED" for e in ended) and started <= {e.get("trial_id") for e in ended}


class _PopulationBuild:
    """The model function as keras-tuner's tuner construction calls it (it builds the model to find
    the names the model declares). A build that raises there is not yet a trial's failure: the space
    keeps what was declared before the raise, and the first trial then fails with the reason."""

    def __init__(self, build: Callable[[Any], Any]) -> None:
        self.build, self.done = build, False

    def __call__(self, hp: Any) -> Any:
        if self.done:
            return self.build(hp)
        try:
            return self.build(hp)
        except Exception:  # the trial that builds it reports it, one line, as FAILED
            return None


def _aborted(spec: TuningSpec, run: RunRecord, oracle: Any, location: RunLocation) -> SearchAborted:
    last = run.failure_reason(oracle, oracle.end_order[-1]) if oracle.end_order else None
    return SearchAborted(
        f"search stopped: {spec.tuner.max_consecutive_failed_trials} consecutive trials failed "
        f"(last: {last or 'unknown'}); results so far are in {location.uri}"
    )
