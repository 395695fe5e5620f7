"""The tune-worker component: one worker pod of a multi-pod search (``kftune pipeline compile --pods M``).

It runs the same ``kftune.tune`` as the tune component with ``KFTUNE_ROLE=worker``: it waits for the
chief's address in the run's state (the chief task publishes it there), then runs trials on its
GPUs, one local worker process per GPU, until the chief ends the search. It produces no outputs:
the chief task (the tune component with ``role="chief"``) writes them all.
"""

from typing import Optional

from kfp import dsl
from kfp.dsl import Dataset, Input

from kftune_kfp.components._image import default_image
from kftune_kfp.components.tune import SafeByDefault


def kftune_tune_worker(
    spec: str,
    train_data: Input[Dataset],
    state_root: str,
    validation_data: Optional[Input[Dataset]] = None,
    validation_uri: str = "",
    state_uri: str = "",
    pipeline_root: str = "",
    run_id: str = "",
    task_name: str = "tune",
    worker_index: int = 0,
    workers: int = 0,
):
    """Run trials for a kftune chief task in the same pipeline run.

    Args:
        spec: The tuning spec as a JSON string (the chief's).
        train_data: Training data; replaces the spec's data.train.
        state_root: gs:// prefix of the run's state, the same as the chief's (where they meet).
        validation_data: Optional validation data; replaces the spec's data.validation.
        validation_uri: Validation data URI, used when validation_data is not connected.
        state_uri: The chief's state URI, when given explicitly (wins over state_root).
        pipeline_root: The pipeline root (Vertex AI resolves it; Kubeflow does not).
        run_id: The pipeline job ID (default: dsl.PIPELINE_JOB_ID_PLACEHOLDER).
        task_name: The state folder name the chief uses (fixed: "tune").
        worker_index: This pod's index (the dsl.ParallelFor item).
        workers: Worker processes on this pod, one per GPU (0: one per visible accelerator, else 1).
    """
    from kftune_kfp.components import _runtime

    _runtime.worker_step(
        spec=spec,
        train_data=train_data,
        validation_data=validation_data,
        validation_uri=validation_uri,
        state_uri=state_uri,
        state_root=state_root,
        pipeline_root=pipeline_root,
        run_id=run_id,
        task_name=task_name,
        worker_index=worker_index,
        workers=workers,
    )


def make_tune_worker_component(image: Optional[str] = None) -> SafeByDefault:
    """The tune-worker component running on ``image`` (default: the kftune image of this version)."""
    component = dsl.component(kftune_tune_worker, base_image=image or default_image(), install_kfp_package=False)
    return SafeByDefault(component.component_spec, component.python_func)


tune_worker_component = make_tune_worker_component()
