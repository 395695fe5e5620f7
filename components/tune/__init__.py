"""The tune component: the tuning spec and training data in; best values, model, trials, metrics,
summary and report out. A thin adapter: the body imports kftune inside the image and forwards to
``_runtime``.

Add it to your own pipeline in one line; it is safe as it stands::

    from kftune_kfp.components import tune_component
    tune = tune_component(spec=spec_json, train_data=dataset)

- never served from cache (an unchanged spec and data URI must not silently reuse an old search;
  reuse across runs goes through ``warm_start_uri``); ``.set_caching_options(True)`` opts back in;
- keyed by the pipeline job and task (``run_id``/``task_name``/``pipeline_root`` default to KFP's
  placeholders), so a retried task finds the state its killed attempt synced and carries on;
- ``output_uri`` names where the results are (the state URI, or this task's artifact folder).
"""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output
from kfp.dsl.python_component import PythonComponent

from kftune_kfp.components._image import default_image

PLACEHOLDER_DEFAULTS = {
    "run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    "task_name": dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
    "pipeline_root": dsl.PIPELINE_ROOT_PLACEHOLDER,
}


class SafeByDefault(PythonComponent):
    """A component whose tasks are uncached and keyed by the pipeline job unless the caller says otherwise."""

    def __call__(self, *args, **kwargs):
        for name, placeholder in PLACEHOLDER_DEFAULTS.items():
            spec = self.component_spec.inputs.get(name)
            if spec is not None and spec.default == "":  # only where the component leaves it empty
                kwargs.setdefault(name, placeholder)
        task = super().__call__(*args, **kwargs)
        task.set_caching_options(False)
        return task


def kftune_tune(
    spec: str,
    train_data: Input[Dataset],
    best_hyperparameters: Output[Artifact],
    best_model: Output[Model],
    trials: Output[Dataset],
    trials_parquet: Output[Dataset],
    metrics: Output[Metrics],
    summary: Output[Markdown],
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
    role: str = "",
    workers: int = 0,
) -> NamedTuple("TuneOutputs", [("best_hyperparameters_dict", dict), ("best_objective", float), ("output_uri", str)]):
    """Tune a Keras model with kftune (keras-tuner); resumes from its state after a retry.

    Args:
        spec: The tuning spec as a JSON string (validated first: a bad spec fails in seconds).
        train_data: Training data (CSV, Parquet or NPZ); replaces the spec's data.train.
        validation_data: Optional validation data; replaces the spec's data.validation.
        validation_uri: Validation data URI, used when validation_data is not connected.
        state_uri: Where the tuner state lives (gs://...); a retried task resumes from it.
        state_root: Prefix for a state URI derived from run_id and task_name when state_uri is empty.
        pipeline_root: The pipeline root, the fallback prefix for the derived state URI (Vertex AI resolves it).
        run_id: The pipeline job ID (default: dsl.PIPELINE_JOB_ID_PLACEHOLDER).
        task_name: The task name (default: dsl.PIPELINE_TASK_NAME_PLACEHOLDER).
        warm_start_uri: A previous run's published results to warm-start from (skipped when empty there).
        publish_uri: Where to mirror this run's results for the next run's warm start.
        role: "" (one pod) or "chief" (serves the oracle to kftune_tune_worker tasks; runs no trial).
        workers: Worker processes on this pod, one per GPU (0: one per visible accelerator, else 1).
        best_hyperparameters: best_hyperparameters.json (values, objective, trial_id, spec_hash).
        best_model: A folder holding model.keras, the best trial's model.
        trials: trials.csv, one row per trial.
        trials_parquet: The same table as Parquet.
        metrics: The best objective under its own name (e.g. val_accuracy), trials_completed, trials_failed.
        summary: Markdown summary: best value, best hyperparameters, top trials.
        report: report.html.
        best_hyperparameters_dict: The best values (for the UI and simple conditions; integers come back as floats).
        best_objective: The best objective value.
        output_uri: Where the results live: the state URI (gs://), else this task's artifact folder.
    """
    artifacts = dict(locals())

    from kftune_kfp.components import _outputs, _runtime

    out = _runtime.tune_step(
        spec=spec,
        train_data=train_data,
        outputs={name: artifacts[name] for name in _outputs.TUNE_ARTIFACTS},
        validation_data=validation_data,
        validation_uri=validation_uri,
        state_uri=state_uri,
        state_root=state_root,
        pipeline_root=pipeline_root,
        run_id=run_id,
        task_name=task_name,
        warm_start_uri=warm_start_uri,
        publish_uri=publish_uri,
        role=role,
        workers=workers,
    )
    return _outputs.tune_result(out)


def make_tune_component(image: Optional[str] = None) -> SafeByDefault:
    """The tune component running on ``image`` (default: the kftune image tagged with this version)."""
    component = dsl.component(kftune_tune, base_image=image or default_image(), install_kfp_package=False)
    return SafeByDefault(component.component_spec, component.python_func)


tune_component = make_tune_component()
