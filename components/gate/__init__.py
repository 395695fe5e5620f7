"""The gate component: train the final model only when tuning reached a threshold.

A component (not ``dsl.If`` on tune's float output) because the comparison depends on the spec's
direction (max or min), which the best_hyperparameters artifact carries.
"""

from typing import Optional

from kfp import dsl
from kfp.dsl import Artifact, Input

from kftune_kfp.components._image import default_image


def kftune_gate(best_hyperparameters: Input[Artifact], threshold: Optional[float] = None) -> bool:
    """True when the best objective reaches the threshold in the spec's direction (always without one).

    Args:
        best_hyperparameters: The tune step's best_hyperparameters.json artifact.
        threshold: Minimum (direction max) or maximum (direction min) acceptable best objective;
            none (the default): always train.
        Output: True when the final model should be trained.
    """
    from kftune_kfp.components import _runtime

    with _runtime.one_line_errors():
        return _runtime.gate_step(best_hyperparameters.path, threshold)


def make_gate_component(image: Optional[str] = None):
    """The gate component running on ``image`` (default: the kftune image tagged with this version)."""
    return dsl.component(kftune_gate, base_image=image or default_image(), install_kfp_package=False)


gate_component = make_gate_component()
