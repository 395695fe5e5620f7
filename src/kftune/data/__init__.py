"""Load the tuning data once per process: CSV, Parquet or NPZ, local or ``gs://``.

Why a package of its own: every trial reuses the same arrays, so files are read (and hashed) once,
the validation split is seeded and deterministic, and every user mistake in the data becomes one
:class:`~kftune.errors.DataError` line that names the file and the problem — before TensorFlow loads.

Nothing here imports TensorFlow or Keras. ``data_spec`` is ``spec.data`` (attributes ``train``,
``validation``, ``validation_split``, ``label``, ``features``; an optional ``task`` of
``"classification"``/``"regression"`` overrides detection). ``files`` reads and caches one file,
``dataset`` turns files into a :class:`Dataset`.
"""

from kftune.data.dataset import MAX_CLASSES, Dataset, check_data_files, load_dataset
from kftune.data.files import SUPPORTED_EXTENSIONS, clear_cache, data_format

__all__ = [
    "Dataset",
    "MAX_CLASSES",
    "SUPPORTED_EXTENSIONS",
    "check_data_files",
    "clear_cache",
    "data_format",
    "load_dataset",
]
