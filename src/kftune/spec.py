"""The tuning spec: the one contract with users, validated once, errors naming the field.

Loaded from YAML (safe loader), JSON or a dict. Unknown keys are refused everywhere, so a typo
never silently becomes a default. Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kftune.errors import SpecError

Scalar = Union[bool, int, float, str]
Sampling = Literal["linear", "log", "reverse_log"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- search space


class _Param(_Strict):
    when: dict[str, list[Scalar]] | None = Field(
        default=None, description="Active only when each named parent parameter takes one of the listed values."
    )


class _Range(_Param):
    sampling: Sampling = "linear"

    def _check_range(self, integral: bool) -> None:
        lo, hi, step = self.min, self.max, self.step  # type: ignore[attr-defined]
        if not lo < hi:
            raise ValueError(f"min ({lo}) must be < max ({hi})")
        if self.sampling in ("log", "reverse_log") and lo <= 0:
            raise ValueError(f"{self.sampling} sampling needs min > 0, got min={lo}")
        if step is None:
            return
        if self.sampling == "linear":
            if step <= 0:
                raise ValueError(f"step ({step}) must be > 0")
            if step > hi - lo:
                raise ValueError(f"step ({step}) does not fit the range {lo}..{hi}")
            if integral and (hi - lo) % step:
                raise ValueError(f"step ({step}) does not divide the range {lo}..{hi}")
        elif step <= 1:
            raise ValueError(f"step ({step}) with {self.sampling} sampling is a factor and must be > 1")
        default = self.default  # type: ignore[attr-defined]
        if default is not None and not lo <= default <= hi:
            raise ValueError(f"default ({default}) is outside {lo}..{hi}")


class IntParam(_Range):
    """An integer range; ``step`` is additive for linear sampling, a factor for log."""

    type: Literal["int"]
    min: int
    max: int
    step: int | None = None
    default: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> IntParam:
        self._check_range(integral=True)
        return self

    def candidates(self) -> list[Any] | None:
        step = self.step or 1
        if self.sampling != "linear":
            return None
        return list(range(self.min, self.max + 1, step))


class FloatParam(_Range):
    type: Literal["float"]
    min: float
    max: float
    step: float | None = None
    default: float | None = None

    @model_validator(mode="after")
    def _valid(self) -> FloatParam:
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            raise ValueError("min and max must be finite numbers")
        self._check_range(integral=False)
        return self

    def candidates(self) -> list[Any] | None:
        if self.step is None or self.sampling != "linear":
            return None
        n = int(math.floor((self.max - self.min) / self.step + 1e-9))
        return [self.min + i * self.step for i in range(n + 1)]


class ChoiceParam(_Param):
    type: Literal["choice"]
    values: list[Scalar]
    ordered: bool | None = None
    default: Scalar | None = None

    @model_validator(mode="after")
    def _valid(self) -> ChoiceParam:
        if not self.values:
            raise ValueError("values must not be empty")
        kinds = {type(v) for v in self.values}
        if len(kinds) > 1 and not kinds <= {int, float}:
            raise ValueError(f"values must all have one type, got {sorted(k.__name__ for k in kinds)}")
        seen: list[Any] = []
        for v in self.values:
            if v in seen:
                raise ValueError(f"duplicated value {v!r}")
            seen.append(v)
        if self.default is not None and self.default not in self.values:
            raise ValueError(f"default ({self.default!r}) is not one of the values")
        return self

    def candidates(self) -> list[Any]:
        return list(self.values)


class BooleanParam(_Param):
    type: Literal["boolean"]
    default: bool = False

    def candidates(self) -> list[Any]:
        return [False, True]


class FixedParam(_Param):
    type: Literal["fixed"]
    value: Scalar

    def candidates(self) -> list[Any]:
        return [self.value]


Parameter = Annotated[
    Union[IntParam, FloatParam, ChoiceParam, BooleanParam, FixedParam], Field(discriminator="type")
]
PARAM_TYPES = ("int", "float", "choice", "boolean", "fixed")

# --------------------------------------------------------------------------- sections


class DataSpec(_Strict):
    train: str = Field(description="Training data: CSV, Parquet or NPZ; a local path or gs:// URI.")
    validation: str | None = Field(default=None, description="Validation data file; else validation_split is used.")
    validation_split: float = Field(default=0.2, gt=0, lt=1)
    label: str | None = Field(default=None, description="Label column (csv/parquet) or array (npz, default 'y').")
    features: str | list[str] | None = Field(
        default=None, description="npz: features array name (default 'x'); csv/parquet: columns (default all but label)."
    )

    @field_validator("train", "validation")
    @classmethod
    def _non_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
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
    max_trials: int = Field(default=10, ge=1)
    executions_per_trial: int = Field(default=1, ge=1)
    seed: int | None = Field(default=None, ge=0, description="Seeds the search and the model weights.")
    tune_new_entries: bool = Field(
        default=False, description="Tune names build_model uses but the spec does not declare (else fixed at defaults)."
    )
    max_consecutive_failed_trials: int = Field(default=3, ge=1)


class BayesianTuner(_TunerBase):
    """kftune's Gaussian-process search (ARD Matern kernel, unordered choices, log scales)."""

    algorithm: Literal["bayesian"]
    num_initial_points: int | None = Field(default=None, ge=1)


class KerasBayesianTuner(_TunerBase):
    """keras-tuner's own BayesianOptimizationOracle, kept selectable for comparison."""

    algorithm: Literal["keras_bayesian"]
    num_initial_points: int | None = Field(default=None, ge=1)
    alpha: float = Field(default=1e-4, gt=0)
    beta: float = Field(default=2.6, gt=0)


class RandomTuner(_TunerBase):
    algorithm: Literal["random"]


class HyperbandTuner(_TunerBase):
    algorithm: Literal["hyperband"]
    max_epochs: int | None = Field(default=None, ge=2, description="Defaults to training.epochs.")
    factor: int = Field(default=3, ge=2)
    hyperband_iterations: int = Field(default=1, ge=1)


class GridTuner(_TunerBase):
    algorithm: Literal["grid"]


TunerSpec = Annotated[
    Union[BayesianTuner, KerasBayesianTuner, RandomTuner, HyperbandTuner, GridTuner],
    Field(discriminator="algorithm"),
]
ALGORITHMS = ("bayesian", "keras_bayesian", "random", "hyperband", "grid")


class EarlyStopping(_Strict):
    patience: int = Field(default=3, ge=0)
    monitor: str | None = Field(default=None, description="Defaults to the objective metric.")
    min_delta: float = Field(default=0.0, ge=0)


class Training(_Strict):
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1)
    early_stopping: EarlyStopping | None = None
    verbose: Literal[0, 1, 2] = 0


class Budget(_Strict):
    max_wall_seconds: float | None = Field(default=None, gt=0)
    objective_goal: float | None = None


class WarmStart(_Strict):
    from_: str = Field(alias="from", min_length=1, description="Output URI of a previous kftune run.")
    top_k: int = Field(default=3, ge=0, description="Previous best configurations re-evaluated first.")
    use_as_prior: bool = Field(default=True, description="Feed previous trials to the Bayesian surrogate.")


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
        module, sep, attr = v.rpartition(":")
        if not sep or not module or not attr.isidentifier():
            raise ValueError(f"'{v}' must look like 'pkg.module:build_model' or 'path/to/file.py:build_model'")
        return v

    @field_validator("search_space")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not name or not name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum():
                raise ValueError(f"'{name}' is not a valid parameter name")
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
                options = space[parent].candidates()
                for value in allowed:
                    if options is not None and value not in options:
                        raise SpecLocError(
                            f"{where}.{parent}", f"value {value!r} is not a possible value of '{parent}' ({options})"
                        )
        _check_acyclic(space)
        if self.tuner.algorithm == "grid":
            for name, param in space.items():
                if param.candidates() is None:
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
        tuner = {k: v for k, v in dumped["tuner"].items() if k != "max_trials"}
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


# --------------------------------------------------------------------------- loading


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, SpecLocError):
        where, msg = ctx_error.loc, ctx_error.msg
    else:
        parts: list[str] = []
        loc = list(first["loc"])
        for i, part in enumerate(loc):
            # Drop discriminator tags pydantic inserts ("search_space.units.int.min" -> "...units.min").
            if i > 0 and isinstance(part, str) and (
                (loc[0] == "search_space" and i == 2 and part in PARAM_TYPES)
                or (loc[0] == "tuner" and i == 1 and part in ALGORITHMS)
            ):
                continue
            parts.append(str(part))
        where = ".".join(parts) or "<spec>"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        elif first["type"] == "union_tag_invalid":
            tag = (first.get("ctx") or {}).get("tag")
            expected = (first.get("ctx") or {}).get("expected_tags")
            msg = f"unknown value {tag!r} (expected one of {expected})"
        elif first["type"] == "union_tag_not_found":
            msg = f"missing '{(first.get('ctx') or {}).get('discriminator', 'type').strip(chr(39))}'"
        elif first["type"] == "missing":
            msg = "required field is missing"
        if first["type"] not in ("missing", "extra_forbidden", "union_tag_not_found") and "input" in first:
            value = first["input"]
            if not isinstance(value, (dict, list)):
                msg = f"{msg} (got {value!r})"
    more = len(err.errors()) - 1
    return f"{where}: {msg}" + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def _resolve_relative(spec: TuningSpec, base_dir: Path | None) -> TuningSpec:
    """Relative data/model paths: the working directory first, then the spec file's folder."""

    def resolve(path: str) -> str:
        if "://" in path or os.path.isabs(path) or base_dir is None or os.path.exists(path):
            return path
        candidate = base_dir / path
        return str(candidate) if candidate.exists() else path

    spec.data.train = resolve(spec.data.train)
    if spec.data.validation:
        spec.data.validation = resolve(spec.data.validation)
    module, _, attr = spec.model.rpartition(":")
    if module.endswith(".py"):
        spec.model = f"{resolve(module)}:{attr}"
    return spec


def load_spec(source: str | os.PathLike[str] | dict[str, Any] | TuningSpec) -> TuningSpec:
    """A validated spec from a YAML/JSON file path, a JSON string, a dict or a spec; SpecError otherwise."""
    if isinstance(source, TuningSpec):
        return source
    base_dir: Path | None = None
    if isinstance(source, dict):
        raw: Any = source
    else:
        text_source = str(source)
        if isinstance(source, str) and text_source.lstrip().startswith("{"):
            try:
                raw = json.loads(text_source)
            except json.JSONDecodeError as exc:
                raise SpecError(f"<spec json>: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        else:
            path = Path(text_source)
            if not path.is_file():
                raise SpecError(f"{path}: spec file not found")
            base_dir = path.resolve().parent
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
                problem = getattr(exc, "problem", None) or "invalid syntax"
                raise SpecError(f"{path}: not valid YAML/JSON ({problem}{where})") from None
            except UnicodeDecodeError:
                raise SpecError(f"{path}: not a text file") from None
    if not isinstance(raw, dict):
        raise SpecError(f"<spec>: must be a mapping of fields, got {type(raw).__name__}")
    try:
        spec = TuningSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_error(exc)) from None
    except SpecLocError as exc:  # raised outside pydantic's wrapping (defensive)
        raise SpecError(str(exc)) from None
    return _resolve_relative(spec, base_dir)


def json_schema() -> dict[str, Any]:
    return TuningSpec.model_json_schema(by_alias=True)
