"""From a spec's ``model:`` reference to a build function bound to the dataset's facts.

Why together: :func:`resolve_model` imports ``pkg.module:fn`` or runs ``path/to/file.py:fn``;
:func:`check_model_ref` checks the same reference *without executing* it (so ``kftune validate``
never imports TensorFlow through a user file); :func:`bind_model` supplies the data-dependent
keyword-only arguments a builder declares. Keras is never imported here.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kftune.errors import DataError, ModelBuildError, ModelRefError, one_line
from kftune.hypermodels.builtin import BUILTINS

#: The module users' specs name the built-ins by (``kftune.hypermodels:mlp_classifier``).
_BUILTIN_MODULE = "kftune.hypermodels"

#: Keyword-only arguments :func:`bind_model` may supply, each only when the builder names it.
BINDABLE = ("input_shape", "num_classes", "normalization", "target_normalization")

# --------------------------------------------------------------------------- model references

_REF_HELP = "expected 'pkg.module:function' or 'path/to/file.py:function'"
_lock = threading.Lock()
_file_modules: dict[tuple[str, int], Any] = {}


def _split_ref(ref: str) -> tuple[str, str]:
    if not isinstance(ref, str) or not ref.strip():
        raise ModelRefError(f"model reference {ref!r}: {_REF_HELP}")
    ref = ref.strip()
    if ":" not in ref:
        if ref in BUILTINS:
            return _BUILTIN_MODULE, ref
        raise ModelRefError(f"model reference {ref!r}: {_REF_HELP}")
    # rsplit: a Windows drive letter ("C:\\x.py:fn") keeps its colon
    target, attr = ref.rsplit(":", 1)
    if not target or not attr:
        raise ModelRefError(f"model reference {ref!r}: {_REF_HELP}")
    return target, attr


def _is_file_ref(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def _file_path(ref: str, target: str) -> Path:
    try:
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        found = path.is_file()
    except (OSError, ValueError, RuntimeError) as e:  # a name too long, a NUL byte, an unknown ~user
        reason = getattr(e, "strerror", None) or one_line(e)
        raise ModelRefError(f"model reference {ref[:60]!r}...: cannot use it as a file name ({reason})") from None
    if not found:
        raise ModelRefError(f"model reference {ref!r}: file not found: {path}")
    return path.resolve()


def _getattr_chain(ref: str, obj: Any, attr: str, where: str) -> Callable:
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ModelRefError(f"model reference {ref!r}: {where} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ModelRefError(f"model reference {ref!r}: {attr!r} in {where} is not callable")
    return obj


def _load_file_module(ref: str, path: Path):
    """Execute a user's ``.py`` file once per (path, mtime) under a private module name."""
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        mod = _file_modules.get(key)
        if mod is not None:
            return mod
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        name = f"kftune_user_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ModelRefError(f"model reference {ref!r}: cannot load {path} as a Python module")
        mod = importlib.util.module_from_spec(spec)
        # sibling imports of the user's file work as they do when the user runs it
        if str(path.parent) not in sys.path:
            sys.path.append(str(path.parent))
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException as e:
            sys.modules.pop(name, None)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise ModelRefError(f"model reference {ref!r}: importing {path} failed: {one_line(e)}") from e
        _file_modules[key] = mod
        return mod


def _import_module(ref: str, target: str):
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        # not found because it lives in the current directory (console scripts do not put CWD on sys.path)
        if (target == missing or target.startswith(missing + ".")) and os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
            try:
                return importlib.import_module(target)
            except ModuleNotFoundError as e2:
                e, missing = e2, e2.name or ""
            except Exception as e2:
                raise ModelRefError(f"model reference {ref!r}: importing {target} failed: {one_line(e2)}") from e2
        if target == missing or target.startswith(missing + "."):
            raise ModelRefError(f"model reference {ref!r}: module {target!r} not found") from None
        raise ModelRefError(
            f"model reference {ref!r}: importing {target} failed: module {missing!r} not found"
        ) from e
    except Exception as e:
        raise ModelRefError(f"model reference {ref!r}: importing {target} failed: {one_line(e)}") from e


def resolve_model(ref: str) -> Callable:
    """The callable named by ``ref`` (``pkg.module:fn``, ``path/to/file.py:fn``, or a built-in's bare name).

    Relative file paths resolve against the current directory. Raises ModelRefError with one line.
    """
    target, attr = _split_ref(ref)
    if _is_file_ref(target):
        path = _file_path(ref, target)
        return _getattr_chain(ref, _load_file_module(ref, path), attr, str(path))
    return _getattr_chain(ref, _import_module(ref, target), attr, f"module {target!r}")


def function_name(fn: Callable, ref: str) -> str:
    """How messages name the model function: the spec's own reference (``path/model.py:build_model``)."""
    return str(ref).strip() or getattr(fn, "__name__", repr(fn))


def _signature_problem(params: list[tuple[str, str, bool]], fname: str) -> str | None:
    """Why ``fname`` cannot be called as ``fname(hp, **data keywords)``; params are (name, kind, has_default)."""
    positional = [p for p in params if p[1] in ("posonly", "positional")]
    if not positional and not any(p[1] == "varargs" for p in params):
        return f"{fname}() takes no argument, but kftune calls it as {fname}(hp): add the hp parameter"
    for name, kind, has_default in positional[1:] + [p for p in params if p[1] == "kwonly"]:
        if has_default or (kind != "posonly" and name in BINDABLE):
            continue
        return (
            f"{fname}() needs an argument {name!r} that kftune does not supply (it passes hp and, by keyword "
            f"when named, {', '.join(BINDABLE)}): give {name!r} a default"
        )
    return None


def check_signature(fn: Callable, ref: str) -> None:
    """ModelBuildError when the resolved model function cannot be called as ``fn(hp)`` (whatever the values)."""
    if inspect.isclass(fn):
        return
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "posonly",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.VAR_POSITIONAL: "varargs",
        inspect.Parameter.KEYWORD_ONLY: "kwonly",
        inspect.Parameter.VAR_KEYWORD: "varkw",
    }
    params = [(n, kinds[p.kind], p.default is not inspect.Parameter.empty) for n, p in sig.parameters.items()]
    problem = _signature_problem(params, getattr(fn, "__name__", "build_model"))
    if problem:
        raise ModelBuildError(f"model {function_name(fn, ref)}: {problem}")


def _static_signature(ref: str, tree: ast.Module, head: str) -> None:
    """The same check as :func:`check_signature` on the parsed file (nothing is executed)."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == head:
            a = node.args
            positional = [*a.posonlyargs, *a.args]
            n_defaults = len(a.defaults)
            params = [
                (arg.arg, "posonly" if i < len(a.posonlyargs) else "positional", i >= len(positional) - n_defaults)
                for i, arg in enumerate(positional)
            ]
            if a.vararg is not None:
                params.append((a.vararg.arg, "varargs", True))
            params += [(arg.arg, "kwonly", d is not None) for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
            problem = _signature_problem(params, node.name)
            if problem:
                raise ModelBuildError(f"model {ref}: {problem}")


def check_model_ref(ref: str) -> None:
    """Check ``ref`` without running user code (no TensorFlow import): the file or module exists
    and defines ``fn`` at top level (def, class, assignment or import). Raises ModelRefError.

    A module that is already imported (e.g. the built-ins) is checked for real.
    """
    target, attr = _split_ref(ref)
    head = attr.split(".", 1)[0]
    if _is_file_ref(target):
        path = _file_path(ref, target)
        where = str(path)
    else:
        if target in sys.modules:
            check_signature(_getattr_chain(ref, sys.modules[target], attr, f"module {target!r}"), ref)
            return
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            spec = None
        if spec is None and os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
            try:
                spec = importlib.util.find_spec(target)
            except (ImportError, ValueError):
                spec = None
        if spec is None:
            raise ModelRefError(f"model reference {ref!r}: module {target!r} not found")
        if not spec.origin or not spec.origin.endswith(".py"):
            return  # extension/namespace module: nothing to parse, resolve_model will tell
        path = Path(spec.origin)  # a package's origin is its __init__.py
        where = f"module {target!r}"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as e:
        raise ModelRefError(f"model reference {ref!r}: {path} has a syntax error at line {e.lineno}: {e.msg}") from None
    if head not in _top_level_names(tree):
        raise ModelRefError(f"model reference {ref!r}: {where} has no attribute {head!r}")
    if head == attr:
        _static_signature(ref, tree, head)


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    star = False

    def visit(body):
        nonlocal star
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            names.add(n.id)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    if a.name == "*":
                        star = True
                    names.add((a.asname or a.name).split(".")[0])
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                visit(getattr(node, "finalbody", []))

    visit(tree.body)
    if star:  # cannot know statically; do not refuse a valid reference
        names.add("*")
    return names if "*" not in names else _Everything()


class _Everything(set):
    def __contains__(self, item) -> bool:  # noqa: D105
        return True


# --------------------------------------------------------------------------- binding


def normalization_stats(x: np.ndarray) -> tuple[list, list]:
    """Mean and variance over every axis but the last (per feature / per channel), as lists.

    A zero variance (constant column) is reported as 1 so the column maps to 0, not to ±1e7; a
    nearly constant column (a pixel that is almost always 0) gets a floor of a tenth of the median
    variance, so a rare value on new data maps to tens, not hundreds, of standard deviations (an
    overconfident softmax there made val_loss explode while accuracy stayed fine).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    positive = var[var > 0]
    floor = 0.1 * float(np.median(positive)) if positive.size else 1.0
    var = np.where(var > 0, np.maximum(var, floor), 1.0)  # constant columns stay 0 on new data
    return mean.astype(np.float32).tolist(), var.astype(np.float32).tolist()


def _accepted_keywords(fn: Callable) -> set[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return set()
    return {
        name
        for name, p in sig.parameters.items()
        if name in BINDABLE and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def _required(fn: Callable, name: str) -> bool:
    p = inspect.signature(fn).parameters[name]
    return p.default is inspect.Parameter.empty


def bind_model(fn: Callable, dataset) -> Callable:
    """``fn`` with the data-dependent keywords it declares bound from ``dataset``.

    Supplies ``input_shape`` (tuple), ``num_classes`` (int), ``normalization`` ((mean, var) of
    x_train) and ``target_normalization`` ((mean, var) of y_train, regression only) — each only
    when ``fn``'s signature names it. A plain ``build_model(hp)`` is returned unchanged.
    """
    wanted = _accepted_keywords(fn)
    if not wanted:
        return fn
    kwargs: dict[str, Any] = {}
    if "input_shape" in wanted:
        kwargs["input_shape"] = tuple(int(d) for d in dataset.input_shape)
    if "num_classes" in wanted:
        if dataset.num_classes is None:
            if _required(fn, "num_classes"):
                name = getattr(fn, "__name__", repr(fn))
                raise DataError(
                    f"model {name} is a classifier but label {dataset.label!r} looks like regression "
                    "(float values); use a regressor or integer/string class labels"
                )
        else:
            kwargs["num_classes"] = int(dataset.num_classes)
    if "normalization" in wanted:
        kwargs["normalization"] = normalization_stats(dataset.x_train)
    if "target_normalization" in wanted and dataset.task == "regression":
        mean, var = normalization_stats(np.asarray(dataset.y_train).reshape(-1, 1))
        kwargs["target_normalization"] = (mean, var)
    bound = functools.partial(fn, **kwargs)
    functools.update_wrapper(bound, fn)
    return bound
