"""The tune component: the tuning spec and training data in; best values, model, trials, metrics and
report out. A thin adapter: the body imports kftune inside the image and forwards to ``_runtime``.

Add it to your own pipeline in one line::

    from kftune_kfp.components import tune_component
    tune = tune_component(spec=spec_json, train_data=dataset)
"""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from kftune_kfp.components._image import default_image


def kftune_tune(
    spec: str,
    train_data: Input[Dataset],
    best_hyperparameters: Output[Artifact],
    best_model: Output[Model],
    trials: Output[Dataset],
    metrics: Output[Metrics],
    report: Output[HTML],
    validation_data: Optional[Input[Dataset]] = None,
    validation_uri: str = "",
    state_uri: str = "",
    state_root: str = "",
    pipeline_root: str = "",
    run_id: str = "",
    task_name: str = "",
    warm_start_uri: str = "",
    publish_uri: str = "",
) -> NamedTuple("TuneOutputs", [("best_hyperparameters_dict", dict), ("best_objective", float), ("output_uri", str)]):
    """Tune a Keras model with kftune (keras-tuner); resumes from its state after a retry.

    Args:
        spec: The tuning spec as a JSON string (validated first: a bad spec fails in seconds).
        train_data: Training data (CSV, Parquet or NPZ); replaces the spec's data.train.
        validation_data: Optional validation data; replaces the spec's data.validation.
        validation_uri: Validation data URI, used when validation_data is not connected.
        state_uri: Where the tuner state lives (gs://...); a retried task resumes from it.
        state_root: Prefix for a state URI derived from run_id and task_name when state_uri is empty.
        pipeline_root: The pipeline root, the fallback prefix for the derived state URI.
        run_id: The pipeline job ID (pass dsl.PIPELINE_JOB_ID_PLACEHOLDER).
        task_name: The task name (pass dsl.PIPELINE_TASK_NAME_PLACEHOLDER).
        warm_start_uri: A previous run's published results to warm-start from (skipped when empty there).
        publish_uri: Where to mirror this run's results for the next run's warm start.
        best_hyperparameters: best_hyperparameters.json (values, objective, trial_id, spec_hash).
        best_model: A folder holding model.keras, the best trial's model.
        trials: trials.csv, one row per trial.
        metrics: best_objective, trials_completed, trials_failed.
        report: report.html.
    """
    from collections import namedtuple

    from kftune_kfp.components import _runtime

    out = _runtime.tune_step(
        spec=spec,
        train_data=train_data,
        best_hyperparameters=best_hyperparameters,
        best_model=best_model,
        trials=trials,
        metrics=metrics,
        report=report,
        validation_data=validation_data,
        validation_uri=validation_uri,
        state_uri=state_uri,
        state_root=state_root,
        pipeline_root=pipeline_root,
        run_id=run_id,
        task_name=task_name,
        warm_start_uri=warm_start_uri,
        publish_uri=publish_uri,
    )
    outputs = namedtuple("TuneOutputs", ["best_hyperparameters_dict", "best_objective", "output_uri"])
    return outputs(out["best_hyperparameters_dict"], out["best_objective"], out["output_uri"])


def make_tune_component(image: Optional[str] = None):
    """The tune component running on ``image`` (default: the kftune image tagged with this version)."""
    return dsl.component(kftune_tune, base_image=image or default_image(), install_kfp_package=False)


tune_component = make_tune_component()
