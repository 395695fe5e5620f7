"""Reading one data file (CSV, Parquet or NPZ, local or ``gs://``) once per process.

Why a module of its own: every trial reuses the same arrays, so a file is read and hashed once
(memoized by path, mtime and size), and every unreadable file becomes one DataError line naming it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kftune.errors import DataError, one_line

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".csv.zst")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_NPZ_SUFFIXES = (".npz",)
SUPPORTED_EXTENSIONS = _CSV_SUFFIXES + _PARQUET_SUFFIXES + _NPZ_SUFFIXES


def data_format(uri: str) -> str:
    """``"csv"`` | ``"parquet"`` | ``"npz"`` from the file name; DataError otherwise."""
    name = str(uri).lower().split("?", 1)[0]
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_NPZ_SUFFIXES):
        return "npz"
    raise DataError(
        f"{uri}: unknown data file extension (expected .csv, .parquet or .npz)"
    )


def _unsupported_scheme(uri: str) -> bool:
    """A URI scheme other than ``file://`` and ``gs://`` (``s3://``, ``https://``...)."""
    return "://" in uri and not uri.startswith(("file://", "gs://"))


def _local_path(uri: str) -> Path:
    """A local file for ``uri``; ``gs://`` goes through the storage module (imported lazily)."""
    from kftune.storage.base import is_remote  # lazy: keeps `import kftune.data` light

    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    if is_remote(uri):
        from kftune.storage import fetch_to_local  # google-cloud-storage only when needed

        return Path(fetch_to_local(uri))
    if _unsupported_scheme(uri):
        raise DataError(f"{uri}: unsupported URI scheme (use a local path or gs://)")
    return Path(uri)


_cache_lock = threading.Lock()
_file_cache: dict[tuple[str, int, int], tuple[Any, dict[str, Any]]] = {}


def clear_cache() -> None:
    """Forget every file read so far (tests; long-lived processes whose files change)."""
    with _cache_lock:
        _file_cache.clear()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_file(uri: str) -> tuple[Any, dict[str, Any]]:
    """(DataFrame or {name: array}, source record); memoized by (path, mtime, size)."""
    fmt = data_format(uri)
    path = _local_path(uri)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"{uri}: data file not found") from None
    if path.is_dir():
        raise DataError(f"{uri}: is a directory, expected a data file")
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _file_cache.get(key)
    if hit is not None:
        table, source = hit
        return table, {**source, "uri": uri}

    if fmt == "npz":
        table = _read_npz(uri, path)
    else:
        table = _read_table(uri, path, fmt)
    source = {"uri": uri, "sha256": _sha256(path), "bytes": int(st.st_size)}
    with _cache_lock:
        _file_cache[key] = (table, source)
    return table, dict(source)


def _read_table(uri: str, path: Path, fmt: str):
    import pandas as pd

    try:
        if fmt == "csv":
            df = pd.read_csv(path)
        else:
            df = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{uri}: the file is empty") from None
    except Exception as e:  # parser / arrow errors: one line, the file named
        raise DataError(f"{uri}: cannot read {fmt}: {one_line(e)}") from None
    if len(df) == 0:
        raise DataError(f"{uri}: the table has no rows")
    df.columns = [str(c) for c in df.columns]
    return df


def _read_npz(uri: str, path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays need pickle, which we refuse
        raise DataError(f"{uri}: cannot read npz (object arrays are not allowed): {one_line(e)}") from None
    except Exception as e:
        raise DataError(f"{uri}: cannot read npz: {one_line(e)}") from None


def read_names(uri: str, path: Path) -> list[str]:
    """The column names (csv/parquet: the header or the schema) or array names (npz: the zip index) of
    a local data file, without reading its data. DataError naming the file when it cannot be read."""
    fmt = data_format(uri)
    try:
        if fmt == "npz":
            with np.load(path, allow_pickle=False) as z:
                return list(z.files)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return [str(n) for n in pq.read_schema(path).names]
        import pandas as pd

        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except Exception as e:  # empty file, not a zip, a broken header: one line naming the file
        if type(e).__name__ == "EmptyDataError":
            raise DataError(f"{uri}: the file is empty") from None
        raise DataError(f"{uri}: cannot read {fmt}: {one_line(e)}") from None
