"""Reading a spec from a file, a JSON string or a dict, and turning pydantic's errors into one line.

Why apart from the models: the YAML/JSON parsing, relative-path resolution and error wording are
about the user's file, not about what a valid spec is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kftune.errors import SpecError
from kftune.spec.params import PARAM_TYPES
from kftune.spec.tuning import ALGORITHMS, SpecLocError, TuningSpec


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
