"""Model references and the built-in hypermodels.

A spec names its model as ``pkg.module:fn`` or ``path/to/file.py:fn``; the built-ins are named
``kftune.hypermodels:mlp_classifier`` (or just ``mlp_classifier``), so they must stay importable
from this package. ``refs`` resolves, statically checks and binds references; ``builtin`` holds the
built-in builders.

Input scaling, documented choice: :func:`bind_model` computes the training set's mean and variance
(over every axis but the last) and passes them as keyword-only ``normalization=(mean, variance)``
to builders that declare it; built-ins put a ``keras.layers.Normalization`` with those constants
first. The regressor also takes ``target_normalization=(mean, variance)`` of the label and ends
with an inverted ``Normalization``, so it learns a standardized target but predicts in label
units. Both layers store plain numbers in their config: models save and load as ``.keras``.

Keras is imported inside the builders only.
"""

from kftune.hypermodels.builtin import BUILTINS, DEFAULTS, OPTIMIZERS, cnn_classifier, mlp_classifier, mlp_regressor
from kftune.hypermodels.probe import BuildReport, probe_build, refuse_problems
from kftune.hypermodels.refs import (
    BINDABLE,
    bind_model,
    check_model_ref,
    check_signature,
    function_name,
    normalization_stats,
    resolve_model,
)

__all__ = [
    "BINDABLE",
    "BUILTINS",
    "BuildReport",
    "DEFAULTS",
    "OPTIMIZERS",
    "bind_model",
    "check_model_ref",
    "check_signature",
    "cnn_classifier",
    "function_name",
    "mlp_classifier",
    "mlp_regressor",
    "normalization_stats",
    "probe_build",
    "refuse_problems",
    "resolve_model",
]
