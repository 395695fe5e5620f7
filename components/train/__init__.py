"""The train component: the final model trained with fixed (tuned) hyperparameters, same hypermodel.

It reads the values from tune's ``best_hyperparameters`` JSON artifact rather than the dict
parameter, because KFP returns every integer of a dict parameter as a float (``16`` -> ``16.0``).
"""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from kftune_kfp.components._image import default_image


def kftune_train(
    spec: str,
    train_data: Input[Dataset],
    best_hyperparameters: Input[Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
    validation_data: Optional[Input[Dataset]] = None,
    validation_uri: str = "",
) -> NamedTuple("TrainOutputs", [("hyperparameters_json", str)]):
    """Train the final Keras model with the tuned hyperparameters.

    Args:
        spec: The tuning spec as a JSON string (the same one the tune step ran).
        train_data: Training data; replaces the spec's data.train.
        best_hyperparameters: The tune step's best_hyperparameters.json artifact.
        validation_data: Optional validation data; replaces the spec's data.validation.
        validation_uri: Validation data URI, used when validation_data is not connected.
        model: A folder holding model.keras and the hyperparameters.json it was trained with.
        metrics: The final model's metrics (loss and the spec's metrics, on validation data when given).
        hyperparameters_json: The values the model was trained with, as JSON.
    """
    import json
    from collections import namedtuple

    from kftune_kfp.components import _runtime

    out = _runtime.train_step(
        spec=spec,
        train_data=train_data,
        best_hyperparameters=best_hyperparameters,
        model=model,
        metrics=metrics,
        validation_data=validation_data,
        validation_uri=validation_uri,
    )
    return namedtuple("TrainOutputs", ["hyperparameters_json"])(json.dumps(out["hyperparameters"], sort_keys=True))


def make_train_component(image: Optional[str] = None):
    """The train component running on ``image`` (default: the kftune image tagged with this version)."""
    return dsl.component(kftune_train, base_image=image or default_image(), install_kfp_package=False)


train_component = make_train_component()
