"""Print image-deps/constraints.txt: the exact versions of kftune[pipelines] and its dependencies as
installed in the current environment (the one the test suite passed in).

    python image-deps/lock.py > image-deps/constraints.txt

Why from the environment and not a fresh resolve: the image must run exactly the versions that
were tested together; the image's TensorFlow comes from its base image, pinned by tag.
"""

from __future__ import annotations

import importlib.metadata as md
import re

from packaging.requirements import Requirement

HEADER = """\
# Exact versions installed in the kftune image (pip --constraint): the set the test suite runs with
# (Python 3.11, TensorFlow 2.21). kftune[pipelines] and everything it pulls in; TensorFlow itself
# comes from the base image. tests/test_manifests.py checks these against pyproject.toml's pins.
# Regenerate after a dependency change: python image-deps/lock.py > image-deps/constraints.txt"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(name: str, extras: tuple[str, ...] = (), seen: dict[str, str] | None = None) -> dict[str, str]:
    seen = {} if seen is None else seen
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return seen
    first = _norm(name) not in seen
    seen[_norm(name)] = dist.version
    for text in dist.requires or []:
        req = Requirement(text)
        wanted = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras))
        if wanted and (first or extras) and (_norm(req.name) not in seen or req.extras):
            closure(req.name, tuple(req.extras), seen)
    return seen


def main() -> None:
    pins = closure("kftune", ("pipelines",))
    for name in ("kftune", "setuptools", "wheel"):
        pins.pop(name, None)
    pins["tensorflow"] = md.version("tensorflow-cpu") if _installed("tensorflow-cpu") else md.version("tensorflow")
    print(HEADER)
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")


def _installed(name: str) -> bool:
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()
