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


#: Deeper nesting than this is no spec (the deepest real one is 5 levels: search_space.x.when.y.0).
MAX_DEPTH = 32


class _SpecYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (YAML says keys are unique;
    PyYAML silently keeps the last one, so a copy-pasted parameter would replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first.line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _check_depth(node: Any, where: str) -> None:
    """Iteratively (a recursive walk would itself overflow): refuse nesting deeper than MAX_DEPTH."""
    stack = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        children = list(item.values()) if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise SpecError(f"{where}: nested more than {MAX_DEPTH} levels deep; a spec is a few levels of mappings")
        stack.extend((child, depth + 1) for child in children)


def _flow_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting outside quotes and comments: PyYAML's scanner slows down
    quadratically on deep flow collections (5,000 brackets: ~10 s), so deep input is refused first."""
    depth = deepest = 0
    quote = ""
    previous = "\n"
    for ch in text:
        if quote:
            if ch == quote or ch == "\n":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and previous in " \t\n":
            quote = "\n"  # a comment runs to the end of the line
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
        previous = ch
    return deepest


def _read_yaml(path: Path, text: str) -> Any:
    if _flow_depth(text) > MAX_DEPTH:
        raise SpecError(f"{path}: nested more than {MAX_DEPTH} levels deep; a spec is a few levels of mappings")
    try:
        node = yaml.compose(text, Loader=_SpecYamlLoader)
        if node is not None:  # depth check on the node tree before building anything from it
            _check_depth_nodes(node, str(path))
        return yaml.load(text, Loader=_SpecYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise SpecError(f"{path}: not valid YAML ({problem}{where})") from None
    except RecursionError:
        raise SpecError(f"{path}: not valid YAML (nested too deeply)") from None


def _check_depth_nodes(root: yaml.Node, where: str) -> None:
    """On the composed node tree, before anything is built: keys given twice (named by their field
    path) and nesting deeper than MAX_DEPTH. Iterative, so deep input cannot overflow the stack."""
    stack: list[tuple[yaml.Node, int, str]] = [(root, 1, "")]
    visited: set[int] = set()  # an alias repeats a node: walk it once (no "billion laughs")
    while stack:
        node, depth, path = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            children = []
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                field = f"{path}.{_part(key)}" if path else _part(key)
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    if key in seen:
                        raise SpecError(
                            f"{field}: duplicate key (lines {seen[key]} and {key_node.start_mark.line + 1} of {where}); "
                            "YAML keeps only the last one"
                        )
                    seen[key] = key_node.start_mark.line + 1
                children.append((value_node, field))
        elif isinstance(node, yaml.SequenceNode):
            children = [(child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(node.value)]
        else:
            continue
        if depth > MAX_DEPTH:
            line = node.start_mark.line + 1
            parts = path.split(".")
            shown = ".".join(parts[:3]) + "..." + parts[-1] if len(parts) > 5 else path
            raise SpecError(f"{shown or where}: nested more than {MAX_DEPTH} levels deep (line {line} of {where})")
        stack.extend((child, depth + 1, child_path) for child, child_path in children)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _read_json(where: str, text: str) -> Any:
    """Strict JSON: no trailing commas, NaN/Infinity or duplicate keys (Python's json allows the last two)."""
    try:
        raw = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # from the hooks above
        raise SpecError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise SpecError(f"{where}: not valid JSON (nested too deeply)") from None
    _check_depth(raw, where)
    return raw


def _part(key: Any) -> str:
    """A field-path part as the message shows it: plain names as they are, others quoted (a key with a
    newline or spaces must not break the one line)."""
    text = str(key)
    return text if text and all(c.isalnum() or c in "_-" for c in text) else repr(text)


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, SpecLocError):
        where, msg = ctx_error.loc, ctx_error.msg
    else:
        parts: list[str] = []
        loc = list(first["loc"])
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # The problem is the tag field itself: "tuner.algorithm", "search_space.units.type".
            loc.append(str((first.get("ctx") or {}).get("discriminator", "type")).strip("'"))
        for i, part in enumerate(loc):
            # Drop discriminator tags pydantic inserts ("search_space.units.int.min" -> "...units.min").
            if i > 0 and isinstance(part, str) and (
                (loc[0] == "search_space" and i == 2 and part in PARAM_TYPES)
                or (loc[0] == "tuner" and i == 1 and part in ALGORITHMS)
            ):
                continue
            parts.append(_part(part))
        where = ".".join(parts) or "<spec>"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        elif first["type"] == "union_tag_invalid":
            tag = (first.get("ctx") or {}).get("tag")
            expected = (first.get("ctx") or {}).get("expected_tags")
            msg = f"unknown value {tag!r} (expected one of {expected})"
        elif first["type"] == "union_tag_not_found":
            tag = str((first.get("ctx") or {}).get("discriminator", "type")).strip("'")
            choices = PARAM_TYPES if tag == "type" else ALGORITHMS
            msg = f"required field is missing (one of {', '.join(choices)})"
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
        return str(candidate) if os.path.exists(candidate) else path  # False, not OSError, for a name too long

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
        _check_depth(raw, "<spec>")
    else:
        text_source = str(source)
        if isinstance(source, str) and text_source.lstrip().startswith("{"):
            raw = _read_json("<spec json>", text_source)
        else:
            path = Path(text_source)
            try:
                if not path.is_file():
                    raise SpecError(f"{path}: spec file not found" + (" (a folder)" if path.is_dir() else ""))
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise SpecError(f"{path}: not a text file (not UTF-8)") from None
            except OSError as exc:  # unreadable, a name too long, ...
                raise SpecError(f"{path}: cannot read the spec file ({exc.strerror or type(exc).__name__})") from None
            if "\x00" in text:
                raise SpecError(f"{path}: not a text file (it contains NUL bytes)")
            base_dir = path.resolve().parent
            raw = _read_json(str(path), text) if path.suffix.lower() == ".json" else _read_yaml(path, text)
    if not isinstance(raw, dict):
        shown = "nothing (an empty document)" if raw is None else type(raw).__name__
        raise SpecError(f"<spec>: must be a mapping of fields, got {shown}")
    try:
        spec = TuningSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_error(exc)) from None
    except SpecLocError as exc:  # raised outside pydantic's wrapping (defensive)
        raise SpecError(str(exc)) from None
    except RecursionError:  # pragma: no cover - _check_depth keeps inputs shallow
        raise SpecError("<spec>: nested too deeply") from None
    return _resolve_relative(spec, base_dir)


def json_schema() -> dict[str, Any]:
    return TuningSpec.model_json_schema(by_alias=True)
