"""The search loop, the same for every role: state -> data -> model -> oracle -> trials -> results.

It runs in a location that is already prepared (locked and pulled by the entry point, or a worker's
scratch folder) and asks the role hooks for everything a chief or a worker does differently; it never
imports kftune.run.distributed.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from kftune import kt_compat, layout
from kftune.errors import KftuneError, SearchAborted, SpecError
from kftune.results.files import write_json
from kftune.run.hooks import RoleHooks
from kftune.run.location import RunLocation
from kftune.run.memory import frozen_heap
from kftune.run.progress import console_progress
from kftune.run.record import RunRecord, TuningResult
from kftune.run.state import check_or_init_state
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
    from kftune.hypermodels import bind_model, resolve_model
    from kftune.run.trial import make_tuner_class
    from kftune.search import make_oracle
    from kftune.space import build_hyperparameters

    # keras-tuner rewrites trial.json/oracle.json in place; a kill mid-write would leave an empty file
    # that the resumed run cannot reload. Write-then-rename instead, for every role.
    kt_compat.use_atomic_json()
    state = check_or_init_state(location.state_dir, spec, command="tune")
    write_json(location.local_dir / layout.SPEC, json.loads(spec.to_json()))
    hooks.state_ready(location)
    dataset = load_dataset(spec.data, seed=int(state["seed"]))
    build_model = bind_model(resolve_model(spec.model), dataset)

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
    try:
        tuner = make_tuner_class()(
            run=run,
            hooks=hooks,
            oracle=oracle,
            hypermodel=build_model,
            directory=str(location.local_dir),
            project_name=layout.STATE_DIR,
            overwrite=False,
            executions_per_trial=spec.tuner.executions_per_trial,
        )
    except kt.errors.FatalError as exc:
        raise SpecError(str(exc)) from None
    oracle = tuner.oracle
    hooks.tuner_ready(run, oracle)
    if reporter is not None and run.resumed_completed:
        reporter(run, oracle, None, "RESUMED", None)

    failure: KftuneError | None = None
    with frozen_heap():
        try:
            tuner.search(verbose=0)
        except kt.errors.FatalError as exc:  # the user's model or objective, not a trial's bad luck
            failure = SpecError(str(exc).strip().splitlines()[-1])
        except RuntimeError:
            if not kt_compat.consecutive_failures_reached(oracle):
                raise
            failure = _aborted(spec, oracle, location)
            run.stopped_because = "too many consecutive failed trials"
    result = hooks.finish(run, oracle)
    if failure is not None:
        raise failure
    return result


def _aborted(spec: TuningSpec, oracle: Any, location: RunLocation) -> SearchAborted:
    last = oracle.trials[oracle.end_order[-1]].message if oracle.end_order else None
    lines = [line for line in str(last or "").strip().splitlines() if line.strip()]
    return SearchAborted(
        f"search stopped: {spec.tuner.max_consecutive_failed_trials} consecutive trials failed "
        f"(last: {lines[-1] if lines else 'unknown'}); results so far are in {location.uri}"
    )
