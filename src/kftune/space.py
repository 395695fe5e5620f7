"""The spec's search space as keras-tuner ``HyperParameters``, conditions included.

The spec is the source of truth: names declared here are registered first, so a user's
``build_model(hp)`` that asks for the same name (with the same conditions) gets the spec's range.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from kftune.spec import BooleanParam, ChoiceParam, FixedParam, FloatParam, IntParam

if TYPE_CHECKING:
    import keras_tuner

    from kftune.spec import TuningSpec


def declaration_order(space: dict[str, Any]) -> list[str]:
    """Parents before children (keras-tuner needs a parent declared before its conditional scope)."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for parent in space[name].when or {}:
            visit(parent)
        ordered.append(name)

    for name in space:
        visit(name)
    return ordered


def declare(hp: keras_tuner.HyperParameters, name: str, param: Any) -> None:
    if isinstance(param, IntParam):
        hp.Int(name, param.min, param.max, step=param.step, sampling=param.sampling, default=param.default)
    elif isinstance(param, FloatParam):
        hp.Float(name, param.min, param.max, step=param.step, sampling=param.sampling, default=param.default)
    elif isinstance(param, ChoiceParam):
        hp.Choice(name, param.values, ordered=param.ordered, default=param.default)
    elif isinstance(param, BooleanParam):
        hp.Boolean(name, default=param.default)
    elif isinstance(param, FixedParam):
        hp.Fixed(name, param.value)
    else:  # pragma: no cover - the spec's union is closed
        raise TypeError(f"unknown parameter kind {type(param).__name__}")


def build_hyperparameters(spec: TuningSpec) -> keras_tuner.HyperParameters:
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for name in declaration_order(spec.search_space):
        param = spec.search_space[name]
        with contextlib.ExitStack() as scopes:
            for parent, values in (param.when or {}).items():
                scopes.enter_context(hp.conditional_scope(parent, values))
            declare(hp, name, param)
    return hp


def is_active(spec: TuningSpec, name: str, values: dict[str, Any]) -> bool:
    """Whether ``name`` is active given the other values (all its `when` conditions hold, recursively)."""
    param = spec.search_space[name]
    for parent, allowed in (param.when or {}).items():
        if parent not in values or values[parent] not in allowed or not is_active(spec, parent, values):
            return False
    return True


def undeclared_names(spec: TuningSpec, trials: Any) -> dict[str, Any]:
    """Names build_model declared that the spec does not, with the value the first trial used.

    keras-tuner does not add untuned new entries to the oracle's space, so they are read back from
    the trials' own hyperparameters (which build_model populated).
    """
    found: dict[str, Any] = {}
    for trial in trials:
        hps = trial.hyperparameters
        for p in hps.space:
            if p.name in spec.search_space or p.name.startswith("tuner/") or p.name in found:
                continue
            found[p.name] = hps.values.get(p.name, getattr(p, "default", None))
    return found
