"""kftune's Kubeflow Pipelines components (installed as ``kftune_kfp.components``).

Every component is a lightweight Python component on the kftune image (tag = package version) whose
body imports kftune inside the container, so it runs under ``kfp.local.SubprocessRunner`` and in a
cluster alike. Importing this package needs ``kfp`` (``pip install 'kftune[pipelines]'``); the core
library ``kftune`` never imports it.

    from kftune_kfp.components import tune_component, train_component, gate_component, tune_worker_component
    # or, without installing kftune: kfp.components.load_component_from_file("components/tune/component.yaml")
"""

from typing import Any

from kftune_kfp.components._image import DEFAULT_IMAGE_REPO, default_image, package_version

__all__ = [
    "DEFAULT_IMAGE_REPO",
    "default_image",
    "gate_component",
    "make_gate_component",
    "make_train_component",
    "make_tune_component",
    "make_tune_worker_component",
    "package_version",
    "train_component",
    "tune_component",
    "tune_worker_component",
]

_LAZY = {
    "tune_component": "tune",
    "make_tune_component": "tune",
    "tune_worker_component": "tune_worker",
    "make_tune_worker_component": "tune_worker",
    "train_component": "train",
    "make_train_component": "train",
    "gate_component": "gate",
    "make_gate_component": "gate",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that the image-side ``_runtime`` import does not build every component first.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"kftune_kfp.components.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'kftune_kfp.components' has no attribute {name!r}")
