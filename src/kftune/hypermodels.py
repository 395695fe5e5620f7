"""Model references and the built-in hypermodels.

A spec names its model as ``pkg.module:fn`` or ``path/to/file.py:fn``. :func:`resolve_model` turns
that into the callable (any keras-tuner ``build_model(hp)`` runs unchanged); :func:`check_model_ref`
checks the same reference *without executing* the module (so ``kftune validate`` never imports
TensorFlow through a user file); :func:`bind_model` supplies the data-dependent keyword-only
arguments a builder declares.

Built-ins (``mlp_classifier``, ``mlp_regressor``, ``cnn_classifier``) read their hyperparameters
through ``hp.Int/Float/Choice/Boolean`` under fixed names, so a spec that declares the same names
(and the same condition for ``momentum``: ``when: {optimizer: [sgd]}``) drives them, and names the
spec leaves out fall back to the defaults below (or are tuned with ``tune_new_entries``).

Input scaling, documented choice: :func:`bind_model` computes the training set's mean and variance
(over every axis but the last) and passes them as keyword-only ``normalization=(mean, variance)``
to builders that declare it; built-ins put a ``keras.layers.Normalization`` with those constants
first. The regressor also takes ``target_normalization=(mean, variance)`` of the label and ends
with an inverted ``Normalization``, so it learns a standardized target but predicts in label
units. Both layers store plain numbers in their config: models save and load as ``.keras``.

Keras is imported inside the builders only.
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

from kftune.errors import DataError, ModelRefError

__all__ = [
    "BINDABLE",
    "BUILTINS",
    "DEFAULTS",
    "OPTIMIZERS",
    "bind_model",
    "check_model_ref",
    "cnn_classifier",
    "mlp_classifier",
    "mlp_regressor",
    "normalization_stats",
    "resolve_model",
]

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
            return __name__, ref
        raise ModelRefError(f"model reference {ref!r}: {_REF_HELP}")
    # rsplit: a Windows drive letter ("C:\\x.py:fn") keeps its colon
    target, attr = ref.rsplit(":", 1)
    if not target or not attr:
        raise ModelRefError(f"model reference {ref!r}: {_REF_HELP}")
    return target, attr


def _is_file_ref(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def _file_path(ref: str, target: str) -> Path:
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
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
            raise ModelRefError(f"model reference {ref!r}: importing {path} failed: {_one_line(e)}") from e
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
                raise ModelRefError(f"model reference {ref!r}: importing {target} failed: {_one_line(e2)}") from e2
        if target == missing or target.startswith(missing + "."):
            raise ModelRefError(f"model reference {ref!r}: module {target!r} not found") from None
        raise ModelRefError(
            f"model reference {ref!r}: importing {target} failed: module {missing!r} not found"
        ) from e
    except Exception as e:
        raise ModelRefError(f"model reference {ref!r}: importing {target} failed: {_one_line(e)}") from e


def resolve_model(ref: str) -> Callable:
    """The callable named by ``ref`` (``pkg.module:fn``, ``path/to/file.py:fn``, or a built-in's bare name).

    Relative file paths resolve against the current directory. Raises ModelRefError with one line.
    """
    target, attr = _split_ref(ref)
    if _is_file_ref(target):
        path = _file_path(ref, target)
        return _getattr_chain(ref, _load_file_module(ref, path), attr, str(path))
    return _getattr_chain(ref, _import_module(ref, target), attr, f"module {target!r}")


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
            _getattr_chain(ref, sys.modules[target], attr, f"module {target!r}")
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


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


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


# --------------------------------------------------------------------------- built-in hypermodels

#: Default range and value of every hyperparameter the built-ins read (used when the spec is silent).
DEFAULTS: dict[str, dict[str, Any]] = {
    "units": {"min": 32, "max": 512, "step": 32, "default": 128},
    "layers": {"min": 1, "max": 4, "default": 2},
    "dropout": {"min": 0.0, "max": 0.5, "step": 0.05, "default": 0.1},
    "learning_rate": {"min": 1e-4, "max": 1e-1, "sampling": "log", "default": 1e-3},
    "optimizer": {"values": ["adam", "sgd", "rmsprop"], "default": "adam"},
    "momentum": {"min": 0.0, "max": 0.99, "default": 0.9},
    "batch_norm": {"default": False},
    "activation": {"values": ["relu", "gelu", "tanh", "elu", "swish"], "default": "relu"},
    "filters": {"min": 16, "max": 128, "step": 16, "default": 32},
    "kernel_size": {"values": [3, 5], "default": 3},
}

#: Optimizer names a spec's ``optimizer`` choice may use.
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad", "adamax")


def _int(hp, name: str) -> int:
    d = DEFAULTS[name]
    return hp.Int(name, d["min"], d["max"], step=d.get("step", 1), default=d["default"])


def _float(hp, name: str) -> float:
    d = DEFAULTS[name]
    kw = {"step": d["step"]} if "step" in d else {}
    return hp.Float(name, d["min"], d["max"], sampling=d.get("sampling", "linear"), default=d["default"], **kw)


def _choice(hp, name: str):
    d = DEFAULTS[name]
    return hp.Choice(name, d["values"], default=d["default"])


def _optimizer(hp):
    """Optimizer from ``optimizer``, ``learning_rate`` and (sgd only) conditional ``momentum``."""
    import keras

    name = _choice(hp, "optimizer")
    lr = _float(hp, "learning_rate")
    with hp.conditional_scope("optimizer", ["sgd"]):
        momentum = _float(hp, "momentum")
    name = str(name).lower()
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(momentum or 0.0))
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adamax": keras.optimizers.Adamax,
    }
    if name not in classes:
        raise ValueError(f"optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")
    return classes[name](learning_rate=lr)


def _inputs(input_shape, normalization):
    import keras

    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if normalization is not None:
        mean, var = normalization
        x = keras.layers.Normalization(axis=-1, mean=mean, variance=var, name="normalize")(x)
    return inputs, x


def _dense_stack(hp, x):
    import keras

    units = _int(hp, "units")
    n_layers = _int(hp, "layers")
    dropout = _float(hp, "dropout")
    activation = _choice(hp, "activation")
    batch_norm = hp.Boolean("batch_norm", default=DEFAULTS["batch_norm"]["default"])
    for _ in range(int(n_layers)):
        x = keras.layers.Dense(int(units), use_bias=not batch_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(activation)(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    return x


def mlp_classifier(hp, *, input_shape, num_classes, normalization=None):
    """Dense stack for tabular classification: softmax, sparse categorical cross-entropy, accuracy.

    Hyperparameters: units, layers, dropout, activation, batch_norm, optimizer, learning_rate,
    momentum (only when optimizer is sgd).
    """
    import keras

    inputs, x = _inputs(input_shape, normalization)
    if len(input_shape) > 1:
        x = keras.layers.Flatten()(x)
    x = _dense_stack(hp, x)
    outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="mlp_classifier")
    model.compile(optimizer=_optimizer(hp), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def mlp_regressor(hp, *, input_shape, normalization=None, target_normalization=None):
    """Dense stack for tabular regression: one linear output, mse loss, mae metric.

    With ``target_normalization`` it predicts a standardized target and un-standardizes it in the
    last layer, so losses and predictions are in the label's units.
    """
    import keras

    inputs, x = _inputs(input_shape, normalization)
    if len(input_shape) > 1:
        x = keras.layers.Flatten()(x)
    x = _dense_stack(hp, x)
    outputs = keras.layers.Dense(1, name="output")(x)
    if target_normalization is not None:
        mean, var = target_normalization
        outputs = keras.layers.Normalization(
            axis=-1, mean=mean, variance=var, invert=True, name="denormalize_target"
        )(outputs)
    model = keras.Model(inputs, outputs, name="mlp_regressor")
    model.compile(optimizer=_optimizer(hp), loss="mse", metrics=["mae"])
    return model


def cnn_classifier(hp, *, input_shape, num_classes, normalization=None):
    """Small CNN for image arrays (h, w[, c]): conv blocks, a dense layer, softmax.

    Hyperparameters: filters (doubled per block), kernel_size, layers (conv blocks), units,
    dropout, activation, batch_norm, optimizer, learning_rate, momentum (sgd only). Each block
    max-pools while the image is at least 2x2, so tiny images (8x8 digits) work.
    """
    import keras

    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) not in (2, 3):
        raise ValueError(f"cnn_classifier needs image input (h, w) or (h, w, c), got shape {input_shape}")
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if len(input_shape) == 2:
        x = keras.layers.Reshape(input_shape + (1,))(x)
    if normalization is not None:
        mean, var = (np.asarray(v, dtype=np.float64).ravel() for v in normalization)
        channels = input_shape[2] if len(input_shape) == 3 else 1
        if mean.size != channels:  # stats per column of (h, w) arrays: pool them into one mean/variance
            mean, var = np.array([mean.mean()]), np.array([(var + (mean - mean.mean()) ** 2).mean()])
        x = keras.layers.Normalization(axis=-1, mean=mean.tolist(), variance=var.tolist(), name="normalize")(x)
    filters = _int(hp, "filters")
    kernel_size = int(_choice(hp, "kernel_size"))
    blocks = _int(hp, "layers")
    activation = _choice(hp, "activation")
    batch_norm = hp.Boolean("batch_norm", default=DEFAULTS["batch_norm"]["default"])
    h, w = input_shape[0], input_shape[1]
    for i in range(int(blocks)):
        x = keras.layers.Conv2D(int(filters) * 2**i, kernel_size, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(activation)(x)
        if h >= 2 and w >= 2:
            x = keras.layers.MaxPooling2D(2)(x)
            h, w = h // 2, w // 2
    x = keras.layers.Flatten()(x)
    units = _int(hp, "units")
    dropout = _float(hp, "dropout")
    x = keras.layers.Dense(int(units), activation=activation)(x)
    if dropout:
        x = keras.layers.Dropout(float(dropout))(x)
    outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="cnn_classifier")
    model.compile(optimizer=_optimizer(hp), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


#: Built-in hypermodels by bare name (``model: mlp_classifier`` also resolves).
BUILTINS: dict[str, Callable] = {
    "mlp_classifier": mlp_classifier,
    "mlp_regressor": mlp_regressor,
    "cnn_classifier": cnn_classifier,
}
