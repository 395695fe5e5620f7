"""The spec's sections and the whole :class:`TuningSpec`, with its search fingerprint.

Why together: the cross-field checks (conditions, grid, hyperband) and the fingerprint that decides
whether a resume is the same search both need every section at once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, field_validator, model_validator

from kftune.spec.params import MAX_CANDIDATES, Bool, Float, Int, Parameter, _Strict

# --------------------------------------------------------------------------- sections


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be 0, 1 or 2, not a boolean")
    return value



class DataSpec(_Strict):
    train: str = Field(description="Training data: CSV, Parquet or NPZ; a local path or gs:// URI.")
    validation: str | None = Field(default=None, description="Validation data file; else validation_split is used.")
    validation_split: Float = Field(default=0.2, gt=0, lt=1)
    label: str | None = Field(default=None, description="Label column (csv/parquet) or array (npz, default 'y').")
    features: str | list[str] | None = Field(
        default=None, description="npz: features array name (default 'x'); csv/parquet: columns (default all but label)."
    )

    @field_validator("train", "validation")
    @classmethod
    def _non_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        if v is not None and "\x00" in v:
            raise ValueError("must not contain a NUL character")
        return v


class Objective(_Strict):
    metric: str = Field(min_length=1)
    direction: Literal["max", "min"] | None = Field(
        default=None, description="Inferred when omitted: min for losses and errors, max otherwise."
    )

    @model_validator(mode="after")
    def _infer(self) -> Objective:
        if self.direction is None:
            lowered = self.metric.lower()
            minimize = any(k in lowered for k in ("loss", "error", "mse", "mae", "mape", "rmse"))
            self.direction = "min" if minimize else "max"
        return self


class _TunerBase(_Strict):
    max_trials: Int = Field(default=10, ge=1)
    executions_per_trial: Int = Field(default=1, ge=1)
    seed: Int | None = Field(default=None, ge=0, le=2**32 - 1, description="Seeds the search and the model weights.")
    tune_new_entries: Bool = Field(
        default=False, description="Tune names build_model uses but the spec does not declare (else fixed at defaults)."
    )
    max_consecutive_failed_trials: Int = Field(default=3, ge=1)


class TrialEarlyStopping(_Strict):
    """Stop a running trial after an epoch at which it is clearly behind other trials at the same epoch."""

    rule: Literal["median", "asha"] = Field(
        default="median",
        description="median: stop when behind the median of completed trials at that epoch; asha: at epochs "
        "min_epochs * reduction_factor^k keep only the top 1/reduction_factor of the trials that reached it.",
    )
    min_epochs: Int = Field(default=1, ge=1, description="Epochs every trial runs before it can be stopped.")
    min_trials: Int = Field(default=3, ge=1, description="Other trials that must have reached the epoch first.")
    reduction_factor: Int = Field(default=3, ge=2, description="asha only: keep the top 1/reduction_factor.")


class BayesianTuner(_TunerBase):
    """kftune's Gaussian-process search (ARD Matern kernel, unordered choices, log scales)."""

    algorithm: Literal["bayesian"]
    num_initial_points: Int | None = Field(default=None, ge=1)
    early_stopping: TrialEarlyStopping | None = None


class KerasBayesianTuner(_TunerBase):
    """keras-tuner's own BayesianOptimizationOracle, kept selectable for comparison."""

    algorithm: Literal["keras_bayesian"]
    num_initial_points: Int | None = Field(default=None, ge=1)
    early_stopping: TrialEarlyStopping | None = None
    alpha: Float = Field(default=1e-4, gt=0)
    beta: Float = Field(default=2.6, gt=0)


class RandomTuner(_TunerBase):
    algorithm: Literal["random"]
    early_stopping: TrialEarlyStopping | None = None


class HyperbandTuner(_TunerBase):
    algorithm: Literal["hyperband"]
    max_epochs: Int | None = Field(default=None, ge=2, description="Defaults to training.epochs.")
    factor: Int = Field(default=3, ge=2)
    hyperband_iterations: Int = Field(default=1, ge=1)


class GridTuner(_TunerBase):
    algorithm: Literal["grid"]
    early_stopping: TrialEarlyStopping | None = None


TunerSpec = Annotated[
    Union[BayesianTuner, KerasBayesianTuner, RandomTuner, HyperbandTuner, GridTuner],
    Field(discriminator="algorithm"),
]
ALGORITHMS = ("bayesian", "keras_bayesian", "random", "hyperband", "grid")


class EarlyStopping(_Strict):
    patience: Int = Field(default=3, ge=0)
    monitor: str | None = Field(default=None, description="Defaults to the objective metric.")
    min_delta: Float = Field(default=0.0, ge=0)


class Training(_Strict):
    epochs: Int = Field(default=10, ge=1)
    batch_size: Int = Field(default=32, ge=1)
    early_stopping: EarlyStopping | None = None
    verbose: Annotated[Literal[0, 1, 2], BeforeValidator(_not_a_bool)] = 0


class Budget(_Strict):
    max_wall_seconds: Float | None = Field(default=None, gt=0)
    objective_goal: Float | None = None


class WarmStart(_Strict):
    from_: str = Field(alias="from", min_length=1, description="Output URI of a previous kftune run.")
    top_k: Int = Field(default=3, ge=0, description="Previous best configurations re-evaluated first.")
    use_as_prior: Bool = Field(default=True, description="Feed previous trials to the Bayesian surrogate.")


class TuningSpec(_Strict):
    """A whole tuning run: what to search, on which data, with which model, within which budget."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    description: str | None = None
    model: str = Field(description="'pkg.module:build_model', 'path/to/file.py:build_model' or a kftune.hypermodels built-in.")
    data: DataSpec
    objective: Objective
    search_space: dict[str, Parameter] = Field(default_factory=dict)
    tuner: TunerSpec = Field(default_factory=lambda: BayesianTuner(algorithm="bayesian"))
    training: Training = Field(default_factory=Training)
    budget: Budget = Field(default_factory=Budget)
    output: str | None = None
    warm_start: WarmStart | None = None

    @field_validator("model")
    @classmethod
    def _model_ref_shape(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("must not contain a NUL character")
        module, sep, attr = v.rpartition(":")
        if not sep or not module or not attr.isidentifier():
            raise ValueError(f"'{v}' must look like 'pkg.module:build_model' or 'path/to/file.py:build_model'")
        return v

    @field_validator("output")
    @classmethod
    def _output_uri(cls, v: str | None) -> str | None:
        problem = output_uri_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("search_space")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not name or not name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum():
                raise ValueError(f"{name!r} is not a valid parameter name")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> TuningSpec:
        space = self.search_space
        for name, param in space.items():
            for parent, allowed in (param.when or {}).items():
                where = f"search_space.{name}.when"
                if parent == name:
                    raise SpecLocError(where, "a parameter cannot depend on itself")
                if parent not in space:
                    raise SpecLocError(where, f"names unknown parameter '{parent}'")
                if not allowed:
                    raise SpecLocError(f"{where}.{parent}", "must list at least one value")
                for value in allowed:
                    if not space[parent].allows(value):
                        raise SpecLocError(
                            f"{where}.{parent}",
                            f"value {value!r} is not a possible value of '{parent}' ({space[parent].describe()})",
                        )
        _check_acyclic(space)
        if self.tuner.algorithm == "grid":
            for name, param in space.items():
                if param.candidates() is None:
                    count = getattr(param, "count", lambda: None)()
                    if count is not None:
                        raise SpecLocError(
                            f"search_space.{name}", f"grid search over {count} values is too large (at most {MAX_CANDIDATES})"
                        )
                    raise SpecLocError(
                        f"search_space.{name}", "grid search needs a finite parameter: give a float a step, use linear sampling"
                    )
        if self.tuner.algorithm == "hyperband":
            max_epochs = self.tuner.max_epochs or self.training.epochs
            if max_epochs < 2:
                raise SpecLocError("tuner.max_epochs", "hyperband needs max_epochs >= 2 (or training.epochs >= 2)")
        return self

    # ----------------------------------------------------------------- derived facts

    def search_fingerprint(self) -> dict[str, Any]:
        """The parts that define *which* search this is; resuming with any of them changed is refused.

        Budgets, max_trials, output, warm start and the name may change between resumes: they say how
        long or where to run, not what is searched.
        """
        dumped = self.model_dump(mode="json", by_alias=True)
        # early_stopping left out while unset, so specs written before it existed keep their hash
        tuner = {k: v for k, v in dumped["tuner"].items() if k != "max_trials" and not (k == "early_stopping" and v is None)}
        return {
            "model": dumped["model"],
            "data": dumped["data"],
            "objective": dumped["objective"],
            "search_space": dumped["search_space"],
            "tuner": tuner,
            "training": dumped["training"],
        }

    @property
    def spec_hash(self) -> str:
        return fingerprint_hash(self.search_fingerprint())

    def with_data(self, train: str | None = None, validation: str | None = None) -> TuningSpec:
        """A copy reading other data files (a pipeline step's artifacts); None keeps the spec's own."""
        update = {k: v for k, v in (("train", train), ("validation", validation)) if v}
        if not update:
            return self
        return self.model_copy(update={"data": self.data.model_copy(update=update)})

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=False, indent=2)


def output_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a run's output (a local folder, ``file:///PATH`` or ``gs://BUCKET/PREFIX``), else None."""
    if not uri.strip():
        return "must not be empty"
    if "\x00" in uri:
        return "must not contain a NUL character"
    if "://" not in uri:
        return None
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        return None if rest.startswith("/") else f"{uri!r}: a file:// URI names an absolute path (file:///PATH)"
    if scheme == "gs":
        bucket = rest.split("/", 1)[0]
        if not bucket or any(c in rest for c in "?#"):
            return f"{uri!r} is not a gs://BUCKET/PREFIX URI"
        return None
    return f"unsupported URI scheme {scheme!r} in {uri!r} (use a local folder, file:///PATH or gs://BUCKET/PREFIX)"


class SpecLocError(ValueError):
    """A cross-field problem with an explicit location (pydantic reports it under that path)."""

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(f"{loc}: {msg}")
        self.loc, self.msg = loc, msg


def _check_acyclic(space: dict[str, Any]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path, name])
            raise SpecLocError(f"search_space.{name}.when", f"conditions form a cycle ({cycle})")
        state[name] = 1
        for parent in space[name].when or {}:
            visit(parent, [*path, name])
        state[name] = 2

    for name in space:
        visit(name, [])


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def fingerprint_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Field paths whose values differ, e.g. ['search_space.units.max', 'training.epochs']."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                out.append(f"{path} (added)")
            elif key not in new:
                out.append(f"{path} (removed)")
            else:
                out.extend(fingerprint_diff(old[key], new[key], path))
        return out
    return [] if old == new else [prefix or "<spec>"]
