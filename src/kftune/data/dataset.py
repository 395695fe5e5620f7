"""From data files to a :class:`Dataset`: features and label picked, task detected, split seeded.

Why apart from file reading: these are the decisions about the user's columns and labels (every
mistake one DataError line naming the file), made on tables the file layer has already cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kftune.data.files import _read_file, _unsupported_scheme, data_format
from kftune.errors import DataError, one_line

#: Integer labels with at most this many distinct values mean classification; more mean regression.
MAX_CLASSES = 50


@dataclass
class Dataset:
    """Arrays ready for ``model.fit``: x float32, y int64 (classification) or float32 (regression)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    feature_names: list[str]
    label: str
    task: str  # "classification" | "regression"
    num_classes: int | None
    input_shape: tuple[int, ...]
    sources: list[dict[str, Any]] = field(default_factory=list)  # [{uri, sha256, bytes}]
    #: classification only: ``classes[i]`` is the original label value encoded as ``i``.
    classes: list[Any] | None = None

    @property
    def has_validation(self) -> bool:
        return len(self.x_val) > 0

    def summary(self) -> dict[str, Any]:
        """Small JSON-able description (for run records and progress lines)."""
        return {
            "task": self.task,
            "label": self.label,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "train_rows": int(len(self.x_train)),
            "validation_rows": int(len(self.x_val)),
            "features": len(self.feature_names),
            "sources": list(self.sources),
        }


# --------------------------------------------------------------------------- features / labels


def _features_arg(data_spec) -> Any:
    return getattr(data_spec, "features", None)


def _extract(uri: str, table: Any, label: str | None, features: Any) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """x, y (raw), feature names, label name from one file."""
    if isinstance(table, dict):
        return _extract_npz(uri, table, label, features)
    return _extract_table(uri, table, label, features)


def _extract_table(uri: str, df, label: str | None, features: Any):
    import pandas as pd

    if label is None:
        raise DataError(f"{uri}: data.label is required for csv/parquet data (name the label column)")
    if label not in df.columns:
        raise DataError(f"{uri}: label column {label!r} not found (columns: {_preview(df.columns)})")
    if features is None:
        cols = [c for c in df.columns if c != label]
    else:
        cols = [features] if isinstance(features, str) else [str(c) for c in features]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise DataError(f"{uri}: feature column {missing[0]!r} not found (columns: {_preview(df.columns)})")
        if label in cols:
            raise DataError(f"{uri}: label column {label!r} is also listed in data.features")
    if not cols:
        raise DataError(f"{uri}: no feature columns besides the label {label!r}")
    for c in cols:
        s = df[c]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            raise DataError(f"{uri}: feature column {c!r} is not numeric (dtype {s.dtype}, e.g. {_first(s)!r})")
    x = df[cols].to_numpy(dtype=np.float32)
    nan_cols = [c for c, bad in zip(cols, np.isnan(x).any(axis=0)) if bad]
    if nan_cols:
        raise DataError(f"{uri}: feature column {nan_cols[0]!r} has missing/NaN values")
    y = df[label]
    if y.isna().any():
        raise DataError(f"{uri}: label column {label!r} has {int(y.isna().sum())} missing values")
    return x, y.to_numpy(), cols, label


def _extract_npz(uri: str, arrays: dict[str, np.ndarray], label: str | None, features: Any):
    label = label or "y"
    if features is None:
        features = "x"
    if not isinstance(features, str):
        if isinstance(features, (list, tuple)) and len(features) == 1:
            features = str(features[0])
        else:
            raise DataError(f"{uri}: for npz data, data.features names one array (got {features!r})")
    names = sorted(arrays)
    if features not in arrays:
        raise DataError(f"{uri}: features array {features!r} not found (arrays: {', '.join(names)})")
    if label not in arrays:
        raise DataError(f"{uri}: label array {label!r} not found (arrays: {', '.join(names)})")
    x, y = arrays[features], arrays[label]
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{uri}: features array {features!r} is empty")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"{uri}: features array {features!r} is not numeric (dtype {x.dtype})")
    if y.ndim == 0 or len(x) != len(y):
        raise DataError(
            f"{uri}: features array {features!r} has {len(x)} rows but label array {label!r} has "
            f"{0 if y.ndim == 0 else len(y)}"
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{uri}: label array {label!r} must be 1-D, got shape {y.shape}")
    x = x.astype(np.float32, copy=False)
    if x.ndim == 1:
        x = x[:, None]
    if np.isnan(x).any():
        raise DataError(f"{uri}: features array {features!r} has NaN values")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise DataError(f"{uri}: label array {label!r} has NaN values")
    return x, y, [features], label


def _preview(cols, n: int = 8) -> str:
    cols = [str(c) for c in cols]
    return ", ".join(cols[:n]) + (f", ... ({len(cols)} in all)" if len(cols) > n else "")


def _first(s) -> Any:
    for v in s:
        if v is not None and v == v:
            return v
    return None


# --------------------------------------------------------------------------- task detection


def _encode_labels(
    y_parts: list[np.ndarray], uri: str, label: str, task: str | None
) -> tuple[list[np.ndarray], str, int | None, list[Any] | None]:
    """Decide the task and encode classification labels as 0..k-1 (stable sorted mapping)."""
    y_all = np.concatenate([np.asarray(p) for p in y_parts])
    kind = y_all.dtype.kind
    if task not in (None, "classification", "regression"):
        raise DataError(f"{uri}: unknown task {task!r} (classification or regression)")

    if task is None:
        if kind in "OUSb":
            task = "classification"
        elif kind in "iu":
            task = "classification" if len(np.unique(y_all)) <= MAX_CLASSES else "regression"
        elif kind == "f":
            task = "regression"
        else:
            raise DataError(f"{uri}: label {label!r} has unsupported dtype {y_all.dtype}")

    if task == "regression":
        if kind not in "iufb":
            raise DataError(f"{uri}: label {label!r} is not numeric, cannot be used for regression")
        return [np.asarray(p, dtype=np.float32) for p in y_parts], task, None, None

    # classification
    if kind == "f":
        if not np.all(np.isfinite(y_all)) or not np.all(y_all == np.round(y_all)):
            raise DataError(f"{uri}: label {label!r} has non-integer values, cannot be used for classification")
        y_parts = [np.asarray(p).astype(np.int64) for p in y_parts]
        y_all = y_all.astype(np.int64)
        kind = "i"
    if kind == "O":
        y_parts = [np.asarray(p).astype(str) for p in y_parts]
        y_all = y_all.astype(str)
    classes = np.unique(y_all)  # sorted: a stable mapping
    if kind in "iu" and classes.min() >= 0 and classes.max() < max(MAX_CLASSES, len(classes)):
        # labels are already indices 0..k-1 (maybe with gaps): keep their meaning
        num = int(classes.max()) + 1
        return [np.asarray(p, dtype=np.int64) for p in y_parts], task, num, list(range(num))
    encoded = [np.searchsorted(classes, np.asarray(p)).astype(np.int64) for p in y_parts]
    return encoded, task, int(len(classes)), [c.item() if hasattr(c, "item") else c for c in classes]


# --------------------------------------------------------------------------- public


def check_data_files(data_spec, *, deep: bool = False, client: Any = None) -> None:
    """Existence and format of ``data.train`` / ``data.validation``: cheap, no TensorFlow.

    With ``deep`` (``kftune validate``): a ``gs://`` object must exist (asked of the store, not
    downloaded), a scheme kftune cannot read is refused, and for a local file the label column and
    feature columns (csv/parquet header) or arrays (npz index) must be in it — the data is not read.
    Without it, ``gs://`` objects are not contacted (the run fetches them).
    """
    from kftune.storage.base import is_remote  # lazy: keeps `import kftune.data` light

    for field_name in ("train", "validation"):
        uri = getattr(data_spec, field_name, None)
        if uri is None:
            continue
        uri = str(uri)
        try:
            data_format(uri)
        except DataError as e:
            raise DataError(f"data.{field_name}: {e}") from None
        if _unsupported_scheme(uri):
            if deep:
                raise DataError(f"data.{field_name}: {uri}: unsupported URI scheme (use a local path or gs://)")
            continue  # load_dataset names a scheme it refuses
        if is_remote(uri):
            if deep:
                _check_remote(field_name, uri, client)
            continue
        path = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
        try:
            exists, is_dir = path.exists(), path.is_dir()
        except (OSError, ValueError) as e:  # a name too long, a NUL byte
            reason = getattr(e, "strerror", None) or one_line(e)
            raise DataError(f"data.{field_name}: cannot use {uri[:60]!r}... as a file name ({reason})") from None
        if not exists:
            raise DataError(f"data.{field_name}: data file not found: {uri}")
        if is_dir:
            raise DataError(f"data.{field_name}: {uri} is a directory, expected a data file")
        if deep:
            _check_names(field_name, uri, path, data_spec)


def _check_remote(field_name: str, uri: str, client: Any) -> None:
    from kftune.storage import uri_exists
    from kftune.storage.base import split_gs_uri

    try:
        _, key = split_gs_uri(uri)
    except Exception as e:
        raise DataError(f"data.{field_name}: {e}") from None
    if not key or key.endswith("/"):
        raise DataError(f"data.{field_name}: {uri}: expected a gs:// URI naming an object, not a bucket or folder")
    if not uri_exists(uri, client=client):
        raise DataError(f"data.{field_name}: data file not found: {uri}")


def _check_names(field_name: str, uri: str, path: Path, data_spec: Any) -> None:
    """The label and features the spec names are in the file's header / npz index."""
    from kftune.data.files import read_names

    names = read_names(uri, path)
    label = getattr(data_spec, "label", None)
    features = _features_arg(data_spec)
    if data_format(uri) == "npz":
        wanted = features if isinstance(features, str) else (features[0] if isinstance(features, list) and len(features) == 1 else None)
        if features is not None and wanted is None:
            raise DataError(f"data.features: for npz data, name one array (got {features!r})")
        for what, name in (("features", wanted or "x"), ("label", label or "y")):
            if name not in names:
                field = "data.features" if what == "features" else "data.label"
                raise DataError(f"{field}: {what} array {name!r} not found in {uri} (arrays: {', '.join(sorted(names)) or 'none'})")
        return
    if label is None:
        raise DataError(f"data.label: required for csv/parquet data (name the label column of {uri})")
    if label not in names:
        raise DataError(f"data.label: label column {label!r} not found in {uri} (columns: {_preview(names)})")
    cols = [] if features is None else [features] if isinstance(features, str) else [str(c) for c in features]
    for col in cols:
        if col not in names:
            raise DataError(f"data.features: feature column {col!r} not found in {uri} (columns: {_preview(names)})")
    if label in cols:
        raise DataError(f"data.features: the label column {label!r} is also listed as a feature")
    if features is None and len(names) < 2:
        raise DataError(f"data.label: {uri} has no feature columns besides the label {label!r}")


def load_dataset(data_spec, seed: int | None = None) -> Dataset:
    """Read the files (once per process), pick features and label, split, detect the task.

    Without ``data_spec.validation`` the training file is shuffled with ``seed`` (``None`` means 0)
    and its last ``round(n * validation_split)`` rows of that order become the validation set:
    same seed and file, same split. With ``validation_split`` 0/None and no validation file, the
    validation arrays are empty and the training rows keep the file's order.
    """
    train_uri = str(getattr(data_spec, "train"))
    val_uri = getattr(data_spec, "validation", None)
    val_uri = str(val_uri) if val_uri is not None else None
    label = getattr(data_spec, "label", None)
    features = _features_arg(data_spec)
    task = getattr(data_spec, "task", None)

    table, src = _read_file(train_uri)
    x, y, feature_names, label = _extract(train_uri, table, label, features)
    sources = [src]

    if val_uri is not None:
        vtable, vsrc = _read_file(val_uri)
        if isinstance(vtable, dict) != isinstance(table, dict):
            raise DataError(f"{val_uri}: validation file format differs from the training file {train_uri}")
        feats = feature_names if not isinstance(table, dict) else features
        x_val, y_val, _, _ = _extract(val_uri, vtable, label, feats)
        if x_val.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{val_uri}: validation features have shape {x_val.shape[1:]}, training {x.shape[1:]}"
            )
        sources.append(vsrc)
        x_train, y_train = x, y
    else:
        split = getattr(data_spec, "validation_split", None) or 0.0
        split = float(split)
        if not 0.0 <= split < 1.0:
            raise DataError(f"{train_uri}: data.validation_split must be in [0, 1), got {split}")
        n = len(x)
        n_val = int(round(n * split)) if split > 0 else 0
        if split > 0:
            n_val = max(1, n_val)
            if n - n_val < 1:
                raise DataError(f"{train_uri}: {n} rows are too few to split off a validation set")
        if n_val == 0:  # no split: keep the file's order
            x_train, y_train, x_val, y_val = x, y, x[:0], y[:0]
        else:
            order = np.random.default_rng(0 if seed is None else int(seed)).permutation(n)
            tr, va = order[: n - n_val], order[n - n_val:]
            x_train, y_train, x_val, y_val = x[tr], y[tr], x[va], y[va]

    (y_train, y_val), task, num_classes, classes = _encode_labels([y_train, y_val], train_uri, label, task)
    return Dataset(
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        y_train=y_train,
        x_val=np.ascontiguousarray(x_val, dtype=np.float32),
        y_val=y_val,
        feature_names=list(feature_names),
        label=label,
        task=task,
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in x_train.shape[1:]),
        sources=sources,
        classes=classes,
    )
