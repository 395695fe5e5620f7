"""Which Keras 3 backend this process will use, and one line naming the extra when it is not installed.

Keras 3 runs on TensorFlow (kftune's default), JAX or PyTorch; kftune's core dependencies install
none of them, so ``pip install kftune`` alone has no backend and ``import keras`` would end in a
93-line traceback. ``require_backend()`` checks before anything imports keras: cheap (it finds the
backend's package with ``importlib.util.find_spec``, it imports nothing) and it may import only
``kftune.errors`` (it runs before the layers that import keras).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from kftune.errors import MissingExtraError

# backend -> (the module Keras imports, the kftune extra that installs it)
BACKENDS = {
    "tensorflow": ("tensorflow", "cpu"),
    "jax": ("jax", "jax"),
    "torch": ("torch", "torch"),
}
EXTRA_HINT = {"tensorflow": "kftune[cpu] (or kftune[gpu])", "jax": "kftune[jax]", "torch": "kftune[torch]"}


def configured_backend() -> str:
    """The backend Keras will pick: ``KERAS_BACKEND``, else ``$KERAS_HOME/keras.json`` (Keras' own
    rule; default ``~/.keras``), else ``tensorflow``."""
    env = os.environ.get("KERAS_BACKEND", "").strip()
    if env:
        return env
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        value = json.loads((home / "keras.json").read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        value = None
    return str(value or "tensorflow")


def installed_backends() -> list[str]:
    """The backends whose package is importable here (found, not imported)."""
    return [name for name, (module, _) in BACKENDS.items() if _find(module)]


def require_backend() -> str:
    """The configured backend's name; MissingExtraError (one line, the extra to install) when it is missing."""
    backend = configured_backend()
    if backend not in BACKENDS:
        raise MissingExtraError(
            f"KERAS_BACKEND={backend!r}: kftune runs on {', '.join(BACKENDS)}; set KERAS_BACKEND to one of them"
        )
    if _find(BACKENDS[backend][0]):
        return backend
    others = [b for b in installed_backends() if b != backend]
    if others:
        raise MissingExtraError(
            f"the Keras backend {backend!r} is not installed, {others[0]!r} is: set KERAS_BACKEND={others[0]}, "
            f"or pip install '{EXTRA_HINT[backend]}'"
        )
    raise MissingExtraError(
        "no Keras backend is installed: pip install 'kftune[cpu]' (TensorFlow), 'kftune[torch]' or 'kftune[jax]'"
        + ("" if backend == "tensorflow" else f" (KERAS_BACKEND={backend} wants {EXTRA_HINT[backend]})")
    )


def _find(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


__all__ = ["BACKENDS", "configured_backend", "installed_backends", "require_backend"]
