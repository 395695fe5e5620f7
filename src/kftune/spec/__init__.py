"""The tuning spec: the one contract with users, validated once, errors naming the field.

Loaded from YAML (safe loader), JSON or a dict. Unknown keys are refused everywhere, so a typo
never silently becomes a default. Nothing here imports TensorFlow or Keras.

``params`` holds the search-space kinds, ``tuning`` the sections and :class:`TuningSpec`,
``load`` the reading and the one-line errors; every name is re-exported here.
"""

from kftune.errors import SpecError
from kftune.spec.load import json_schema, load_spec
from kftune.spec.params import (
    PARAM_TYPES,
    BooleanParam,
    ChoiceParam,
    FixedParam,
    FloatParam,
    IntParam,
    Parameter,
    Sampling,
    Scalar,
)
from kftune.spec.tuning import (
    ALGORITHMS,
    BayesianTuner,
    Budget,
    DataSpec,
    EarlyStopping,
    GridTuner,
    HyperbandTuner,
    KerasBayesianTuner,
    Objective,
    RandomTuner,
    SpecLocError,
    Training,
    TunerSpec,
    TuningSpec,
    WarmStart,
    fingerprint_diff,
    fingerprint_hash,
    output_uri_problem,
)

__all__ = [
    "ALGORITHMS",
    "PARAM_TYPES",
    "BayesianTuner",
    "BooleanParam",
    "Budget",
    "ChoiceParam",
    "DataSpec",
    "EarlyStopping",
    "FixedParam",
    "FloatParam",
    "GridTuner",
    "HyperbandTuner",
    "IntParam",
    "KerasBayesianTuner",
    "Objective",
    "Parameter",
    "RandomTuner",
    "Sampling",
    "Scalar",
    "SpecError",
    "SpecLocError",
    "Training",
    "TunerSpec",
    "TuningSpec",
    "WarmStart",
    "fingerprint_diff",
    "fingerprint_hash",
    "json_schema",
    "load_spec",
    "output_uri_problem",
]
