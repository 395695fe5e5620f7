"""One root error type; each subclass also inherits the builtin a caller would expect.

The CLI turns any KftuneError into one line and its ``exit_code``; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class KftuneError(Exception):
    """Root of every error kftune raises on purpose."""

    exit_code = 1


class SpecError(KftuneError, ValueError):
    """The tuning spec is invalid: the message names the field path and the problem."""

    exit_code = 2


class DataError(KftuneError, ValueError):
    """A data file is missing, empty or not usable as features/labels."""

    exit_code = 2


class ModelRefError(KftuneError, ImportError):
    """A model reference (``pkg.module:fn`` or ``file.py:fn``) does not resolve."""

    exit_code = 2


class ResumeError(KftuneError, RuntimeError):
    """Saved state exists but belongs to a different spec."""

    exit_code = 3


class LockError(KftuneError, RuntimeError):
    """Another live run holds the output location."""

    exit_code = 4


class StorageError(KftuneError, OSError):
    """Object storage failed after the client's retries."""

    exit_code = 5


class MissingExtraError(KftuneError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    exit_code = 6


class SearchAborted(KftuneError, RuntimeError):
    """The search stopped on its own failure (e.g. too many consecutive failed trials); results are written."""

    exit_code = 7


class ChiefUnavailable(KftuneError, ConnectionError):
    """A worker lost the chief oracle (gone, or not answering within the timeout)."""

    exit_code = 8


class PipelineUsageError(KftuneError, ValueError):
    """A pipeline command was given options that do not fit together."""

    exit_code = 2


class PathError(KftuneError, OSError):
    """A local path given to kftune (``--output``, ``--workdir``, a run folder) cannot be used as given."""

    exit_code = 2


class ModelBuildError(KftuneError, TypeError):
    """The model function cannot build a model whatever the configuration (its signature, what it
    returns, an output that cannot fit the labels); the message names the function."""

    exit_code = 9


class NoTrialCompleted(KftuneError, RuntimeError):
    """The search ended without one completed trial: there is no best model ("0 of 3 trials completed")."""

    exit_code = 10


__all__ = [
    "ChiefUnavailable",
    "DataError",
    "KftuneError",
    "LockError",
    "MissingExtraError",
    "ModelBuildError",
    "ModelRefError",
    "NoTrialCompleted",
    "PathError",
    "PipelineUsageError",
    "ResumeError",
    "SearchAborted",
    "SpecError",
    "StorageError",
]


def one_line(exc: BaseException) -> str:
    """``"TypeName: first line"`` of an exception, so a wrapped cause fits in a KftuneError's one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
