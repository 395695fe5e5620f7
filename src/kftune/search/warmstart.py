"""Warm start: a new search begins with what a previous run learned.

Semantics (docs/warm-start.md):
1. the previous run's ``top_k`` completed configurations are re-evaluated first (data or code may
   have changed since, so old scores are not trusted as this run's results);
2. with the ``bayesian`` algorithm every previous completed trial is also given to the surrogate as a
   prior observation (``use_as_prior``), so proposals start informed instead of from random points;
3. the previous configurations are mapped onto the new search space: removed parameters are
   ignored, added ones take their default, numbers outside a changed range are clipped (and snapped
   to the step), a choice value no longer offered drops that configuration. Nothing here raises
   for a changed space; a missing previous run (the first scheduled run) means a cold start.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from kftune.layout import BEST_HYPERPARAMETERS, TRIALS
from kftune.space import is_active
from kftune.spec import BooleanParam, ChoiceParam, FixedParam, FloatParam, IntParam, TuningSpec


@dataclass
class WarmStartPlan:
    queued_values: list[dict[str, Any]] = field(default_factory=list)
    prior_observations: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)


def default_value(param: Any) -> Any:
    if isinstance(param, FixedParam):
        return param.value
    if isinstance(param, BooleanParam):
        return param.default
    if isinstance(param, ChoiceParam):
        return param.default if param.default is not None else param.values[0]
    return param.default if param.default is not None else param.min


def _parse(param: Any, text: str) -> Any:
    """A trials.csv cell back to the parameter's type; None when it cannot be one."""
    if text == "":
        return None
    try:
        if isinstance(param, IntParam):
            return int(round(float(text)))
        if isinstance(param, FloatParam):
            return float(text)
    except ValueError:
        return None
    if isinstance(param, BooleanParam):
        return text.strip().lower() in ("true", "1", "yes")
    if isinstance(param, (ChoiceParam, FixedParam)):
        options = param.values if isinstance(param, ChoiceParam) else [param.value]
        for option in options:
            if str(option) == text or (isinstance(option, (int, float)) and not isinstance(option, bool) and _num_eq(option, text)):
                return option
        return _Unknown(text)
    return text


class _Unknown(str):
    """A choice value the new space no longer offers."""


def _num_eq(option: float, text: str) -> bool:
    try:
        return math.isclose(float(option), float(text), rel_tol=1e-9)
    except ValueError:
        return False


def _fit_number(param: IntParam | FloatParam, value: float) -> tuple[float, bool]:
    clipped = min(max(value, param.min), param.max)
    if param.step and param.sampling == "linear":
        clipped = param.min + round((clipped - param.min) / param.step) * param.step
        clipped = min(clipped, param.max)
    if isinstance(param, IntParam):
        clipped = int(round(clipped))
    return clipped, not math.isclose(float(clipped), float(value), rel_tol=1e-12, abs_tol=1e-12)


def adapt(spec: TuningSpec, previous: dict[str, str]) -> tuple[dict[str, Any] | None, bool]:
    """Map one previous configuration onto this spec's space: (values or None if dropped, clipped?)."""
    values: dict[str, Any] = {}
    clipped_any = False
    for name, param in spec.search_space.items():
        value = _parse(param, previous.get(name, ""))
        if isinstance(value, _Unknown):
            return None, False
        if value is None:
            value = default_value(param)
        if isinstance(param, (IntParam, FloatParam)):
            value, clipped = _fit_number(param, float(value))
            clipped_any |= clipped
        values[name] = value
    active = {name: v for name, v in values.items() if is_active(spec, name, values)}
    return active, clipped_any


def _key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def prepare_warm_start(spec: TuningSpec, store_client: Any = None) -> WarmStartPlan:
    from kftune.storage import open_store

    ws = spec.warm_start
    assert ws is not None
    record: dict[str, Any] = {"from": ws.from_, "top_k": ws.top_k, "use_as_prior": ws.use_as_prior}
    store = open_store(ws.from_, client=store_client) if store_client is not None else open_store(ws.from_)
    if not store.exists(TRIALS):
        record.update(found=False, note=f"no {TRIALS} at {ws.from_}: cold start")
        return WarmStartPlan(record=record)
    rows = list(csv.DictReader(io.StringIO(store.read_bytes(TRIALS).decode("utf-8"))))
    previous_objective: dict[str, Any] = {}
    if store.exists(BEST_HYPERPARAMETERS):
        previous_objective = json.loads(store.read_bytes(BEST_HYPERPARAMETERS)).get("objective", {})
    same_objective = previous_objective.get("metric", spec.objective.metric) == spec.objective.metric
    direction = previous_objective.get("direction", spec.objective.direction)

    completed: list[tuple[float, dict[str, Any]]] = []
    dropped = clipped = 0
    for row in rows:
        if row.get("status") != "COMPLETED" or not row.get("objective"):
            continue
        score = float(row["objective"])
        if not math.isfinite(score):
            continue
        values, was_clipped = adapt(spec, row)
        if values is None:
            dropped += 1
            continue
        clipped += was_clipped
        completed.append((score, values))
    completed.sort(key=lambda item: -item[0] if direction == "max" else item[0])

    queued: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _, values in completed:
        if len(queued) >= ws.top_k:
            break
        if _key(values) not in seen:
            seen.add(_key(values))
            queued.append(values)
    priors = []
    if ws.use_as_prior and same_objective and spec.tuner.algorithm == "bayesian":
        priors = [{"values": values, "score": score} for score, values in completed]
    record.update(
        found=True,
        previous_trials=len(rows),
        previous_completed=len(completed) + dropped,
        reevaluated=len(queued),
        prior_observations=len(priors),
        dropped_out_of_space=dropped,
        clipped_into_range=clipped,
        same_objective=same_objective,
        queued_values=queued,
    )
    return WarmStartPlan(queued_values=queued, prior_observations=priors, record=record)
