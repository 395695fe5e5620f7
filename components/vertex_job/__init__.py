"""Vertex AI worker pools for a multi-pod search: ``prepare`` writes the CustomJob's worker pools,
google-cloud-pipeline-components' ``CustomTrainingJobOp`` runs the job (pool 0 the chief, pool 1 the
workers; every replica runs ``kftune tune`` and reads its role from Vertex's ``CLUSTER_SPEC``), and
``collect`` turns the chief's results in the state into the same outputs the tune component has.

Why gcpc's launcher and not a component that calls ``aiplatform.CustomJob.run()``: the launcher is
what Vertex itself knows: the job shows up linked from the task (``gcp_resources``), cancelling the
pipeline cancels the job (a plain component's pod would die and leave GPU replicas running), a
retried launcher re-attaches to the job it started instead of starting a second one, and the job
inherits the pipeline's service account, network and CMEK key through Vertex's own placeholders.
"""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from kftune_kfp.components._image import default_image
from kftune_kfp.components.tune import SafeByDefault


def kftune_vertex_job(
    spec: str,
    train_data: Input[Dataset],
    image: str,
    pods: int,
    gpus: int,
    accelerator_type: str,
    machine_type: str,
    chief_machine_type: str,
    validation_uri: str = "",
    state_root: str = "",
    pipeline_root: str = "",
    run_id: str = "",
    workers: int = 0,
) -> NamedTuple("VertexJob", [("state_uri", str), ("worker_pool_specs", list)]):
    """Validate the spec and write the worker pools of the search's Vertex AI CustomJob.

    Args:
        spec: The tuning spec as a JSON string.
        train_data: Training data (a gs:// Dataset); replaces the spec's data.train.
        image: The kftune image every replica runs.
        pods: Worker replicas (pool 1).
        gpus: GPUs per worker replica.
        accelerator_type: Vertex accelerator name (NVIDIA_L4 ...), empty for CPU workers.
        machine_type: The workers' machine type.
        chief_machine_type: The chief's machine type (it runs no trial: no GPU).
        validation_uri: Optional validation data URI.
        state_root: gs:// prefix for the state (default: the pipeline root).
        pipeline_root: The pipeline root (default: dsl.PIPELINE_ROOT_PLACEHOLDER).
        run_id: The pipeline job ID (default: dsl.PIPELINE_JOB_ID_PLACEHOLDER).
        workers: Worker processes per replica (0: one per GPU).
    """
    from collections import namedtuple

    from kftune_kfp.components import _runtime

    out = _runtime.vertex_job_step(
        spec=spec, train_data=train_data, validation_uri=validation_uri, state_root=state_root,
        pipeline_root=pipeline_root, run_id=run_id, image=image, pods=pods, gpus=gpus,
        accelerator_type=accelerator_type, machine_type=machine_type, chief_machine_type=chief_machine_type,
        workers=workers,
    )
    return namedtuple("VertexJob", ["state_uri", "worker_pool_specs"])(out["state_uri"], out["worker_pool_specs"])


def kftune_collect(
    state_uri: str,
    best_hyperparameters: Output[Artifact],
    best_model: Output[Model],
    trials: Output[Dataset],
    trials_parquet: Output[Dataset],
    metrics: Output[Metrics],
    summary: Output[Markdown],
    report: Output[HTML],
    publish_uri: str = "",
) -> NamedTuple("TuneOutputs", [("best_hyperparameters_dict", dict), ("best_objective", float), ("output_uri", str)]):
    """The tune outputs from a finished worker-pool search's state.

    Args:
        state_uri: The search's state (gs://), as written by the chief.
        publish_uri: Where to mirror the results for the next run's warm start.
        best_hyperparameters: best_hyperparameters.json.
        best_model: A folder holding model.keras.
        trials: trials.csv.
        trials_parquet: The same table as Parquet.
        metrics: The best objective under its own name, trials_completed, trials_failed.
        summary: Markdown summary.
        report: report.html.
    """
    artifacts = dict(locals())

    from kftune_kfp.components import _outputs, _runtime

    out = _runtime.collect_step(
        state_uri=state_uri,
        outputs={name: artifacts[name] for name in _outputs.TUNE_ARTIFACTS},
        publish_uri=publish_uri,
    )
    return _outputs.tune_result(out)


def make_vertex_job_component(image: Optional[str] = None) -> SafeByDefault:
    component = dsl.component(kftune_vertex_job, base_image=image or default_image(), install_kfp_package=False)
    return SafeByDefault(component.component_spec, component.python_func)


def make_collect_component(image: Optional[str] = None) -> SafeByDefault:
    component = dsl.component(kftune_collect, base_image=image or default_image(), install_kfp_package=False)
    return SafeByDefault(component.component_spec, component.python_func)


def custom_job_op():
    """google-cloud-pipeline-components' CustomTrainingJobOp (``pip install 'kftune[vertex]'``)."""
    from kftune.errors import MissingExtraError

    try:
        from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
    except ImportError:
        raise MissingExtraError(
            "a Vertex AI worker-pool search (--target vertex --pods N) needs google-cloud-pipeline-components: "
            "pip install 'kftune[vertex]'"
        ) from None
    return CustomTrainingJobOp
