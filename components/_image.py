"""The container image the components name: ``<repo>:<kftune version>`` (no kfp, no TensorFlow import).

Why the package version: a compiled pipeline must run exactly the library that compiled it, so the
image built from a release is tagged with that release (``docker build -t <repo>:<version>``).
"""

from __future__ import annotations

import importlib.metadata

DEFAULT_IMAGE_REPO = "ghcr.io/kftune/kftune"


def package_version() -> str:
    """kftune's version from the installed distribution, else the source tree's ``__version__``."""
    try:
        return importlib.metadata.version("kftune")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        import kftune

        return kftune.__version__


def default_image(repo: str = DEFAULT_IMAGE_REPO) -> str:
    """``<repo>:<version>``: the GPU image built by the Dockerfile for this release."""
    return f"{repo}:{package_version()}"
