"""The search-space parameter kinds a spec may declare, one pydantic model per ``type``.

Why here: each kind validates its own range/values and lists its ``candidates()``, so the spec's
cross-checks (conditions, grid search) and the search space can ask any parameter the same question.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

#: Integers in a parameter range: beyond 2**53 a float (keras-tuner's and the GP's encoding) loses them.
INT_LIMIT = 2**53
#: A finite parameter with more values than this is not enumerated (grid search, condition checks).
MAX_CANDIDATES = 100_000


def _not_bool_or_text(kind: str) -> Any:
    """A number field refuses ``true`` (pydantic would read it as 1) and ``"5"`` (a quoted number)."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"must be {kind}, not a boolean")
        if isinstance(value, (str, bytes)):
            raise ValueError(f"must be {kind}, not a string")
        return value

    return BeforeValidator(check)


def _finite_scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


#: An integer: no booleans, no strings; 16.0 (what KFP makes of 16) is still 16, 16.5 is refused.
Int = Annotated[int, _not_bool_or_text("an integer")]
#: A finite number: no booleans, no strings, no .inf/.nan.
Float = Annotated[float, _not_bool_or_text("a number"), AllowInfNan(False)]
#: true/false only (not 1, "yes" or "true").
Bool = StrictBool
Scalar = Annotated[Union[bool, int, float, str], AfterValidator(_finite_scalar)]
Sampling = Literal["linear", "log", "reverse_log"]


class _Strict(BaseModel):
    """Every spec model refuses unknown keys, so a typo never silently becomes a default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Param(_Strict):
    when: dict[str, list[Scalar]] | None = Field(
        default=None, description="Active only when each named parent parameter takes one of the listed values."
    )

    def allows(self, value: Any) -> bool:
        """Whether a ``when`` condition may name ``value`` as one of this parameter's values."""
        return value in self.candidates()  # type: ignore[attr-defined]

    def describe(self) -> str:
        return str(self.candidates())  # type: ignore[attr-defined]


class _Range(_Param):
    sampling: Sampling = "linear"

    def _check_range(self, integral: bool) -> None:
        lo, hi, step = self.min, self.max, self.step  # type: ignore[attr-defined]
        if not lo < hi:
            raise ValueError(f"min ({lo}) must be < max ({hi})")
        if integral and max(abs(lo), abs(hi)) > INT_LIMIT:
            raise ValueError(f"min and max must be within -2**53..2**53, got {lo}..{hi}")
        if not integral and not math.isfinite(hi - lo):
            raise ValueError(f"the range {lo}..{hi} is too wide: its width overflows a float")
        if self.sampling in ("log", "reverse_log") and lo <= 0:
            raise ValueError(f"{self.sampling} sampling needs min > 0, got min={lo}")
        default = self.default  # type: ignore[attr-defined]
        if default is not None and not lo <= default <= hi:
            raise ValueError(f"default ({default}) is outside {lo}..{hi}")
        if step is None:
            return
        if self.sampling == "linear":
            if step <= 0:
                raise ValueError(f"step ({step}) must be > 0")
            if step > hi - lo:
                raise ValueError(f"step ({step}) does not fit the range {lo}..{hi}")
            if integral and (hi - lo) % step:
                raise ValueError(f"step ({step}) does not divide the range {lo}..{hi}")
            if not integral and not math.isfinite((hi - lo) / step):
                raise ValueError(f"step ({step}) is too small for the range {lo}..{hi}")
        elif step <= 1:
            raise ValueError(f"step ({step}) with {self.sampling} sampling is a factor and must be > 1")

    def count(self) -> int | None:
        """How many values a linear range with a step (any int range) has; None when continuous."""
        if self.sampling != "linear":
            return None
        if isinstance(self, IntParam):
            return (self.max - self.min) // (self.step or 1) + 1
        if self.step is None:  # type: ignore[attr-defined]
            return None
        return int(math.floor((self.max - self.min) / self.step + 1e-9)) + 1  # type: ignore[attr-defined]

    def allows(self, value: Any) -> bool:
        """Whether a ``when`` condition may name ``value`` (a continuous range allows any value)."""
        if self.count() is None:
            return True
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.min <= value <= self.max:  # type: ignore[attr-defined]
            return False
        steps = (value - self.min) / (self.step or 1)  # type: ignore[attr-defined]
        return abs(steps - round(steps)) < 1e-9

    def describe(self) -> str:
        values = self.candidates()  # type: ignore[attr-defined]
        return str(values) if values is not None else f"{self.min}..{self.max}"  # type: ignore[attr-defined]


class IntParam(_Range):
    """An integer range; ``step`` is additive for linear sampling, a factor for log."""

    type: Literal["int"]
    min: Int
    max: Int
    step: Int | None = None
    default: Int | None = None

    @model_validator(mode="after")
    def _valid(self) -> IntParam:
        self._check_range(integral=True)
        return self

    def candidates(self) -> list[Any] | None:
        count = self.count()
        if count is None or count > MAX_CANDIDATES:
            return None
        return list(range(self.min, self.max + 1, self.step or 1))


class FloatParam(_Range):
    type: Literal["float"]
    min: Float
    max: Float
    step: Float | None = None
    default: Float | None = None

    @model_validator(mode="after")
    def _valid(self) -> FloatParam:
        self._check_range(integral=False)
        return self

    def candidates(self) -> list[Any] | None:
        count = self.count()
        if count is None or count > MAX_CANDIDATES:
            return None
        return [self.min + i * self.step for i in range(count)]  # type: ignore[operator]


class ChoiceParam(_Param):
    type: Literal["choice"]
    values: list[Scalar]
    ordered: Bool | None = None
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
    default: Bool = False

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
