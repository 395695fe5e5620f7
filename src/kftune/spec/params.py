"""The search-space parameter kinds a spec may declare, one pydantic model per ``type``.

Why here: each kind validates its own range/values and lists its ``candidates()``, so the spec's
cross-checks (conditions, grid search) and the search space can ask any parameter the same question.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = Union[bool, int, float, str]
Sampling = Literal["linear", "log", "reverse_log"]


class _Strict(BaseModel):
    """Every spec model refuses unknown keys, so a typo never silently becomes a default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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
