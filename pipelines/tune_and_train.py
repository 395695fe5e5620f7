"""The tune -> train pipeline: data (importer) -> tune -> gate -> train.

Compile it with ``kftune pipeline compile`` (or ``python -m kftune_kfp.pipelines.tune_and_train``).
Where the pods run (image, GPU type/count, CPU, memory, node selector, tolerations, retries) is fixed
at compile time by ``PipelineOptions``; what they work on (spec, data URIs, state root, warm start,
threshold) are run-time pipeline parameters.

Retries and caching:
- the tune task is retried (``set_retry``) and each retry resumes: its state URI is derived from the
  pipeline job ID and task name (``<state_root or pipeline root>/kftune-state/<job id>/<task>``), both
  the same for every attempt of the task, so the new pod pulls the state the killed one synced;
- the tune task is never served from cache: its cache key would contain the spec JSON (so a changed
  spec could never hit), but data behind an unchanged URI can change between runs (the usual case
  for scheduled retraining), so caching is switched off for it and the job ID is one of its inputs.
  Reuse across runs goes through warm start instead (``warm_start_uri`` / ``publish_uri``).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PIPELINE_NAME = "kftune-tune-and-train"
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class Toleration:
    """A Kubernetes toleration; ``parse`` reads ``key[=value][:Effect]``."""

    key: str
    value: str | None = None
    effect: str | None = None

    @property
    def operator(self) -> str:
        return "Equal" if self.value is not None else "Exists"

    @classmethod
    def parse(cls, text: str) -> "Toleration":
        rest, _, effect = text.partition(":")
        key, eq, value = rest.partition("=")
        if not key.strip() or (eq and not value.strip()):
            raise ValueError(f"toleration {text!r}: expected KEY[=VALUE][:EFFECT], e.g. nvidia.com/gpu=present:NoSchedule")
        if effect and effect not in EFFECTS:
            raise ValueError(f"toleration {text!r}: effect must be one of {', '.join(EFFECTS)}")
        return cls(key=key.strip(), value=value.strip() if eq else None, effect=effect or None)


def parse_key_values(items: list[str] | tuple[str, ...], what: str = "node selector") -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; ValueError naming the bad item."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class PipelineOptions:
    """Compile-time settings of the pods that tune and train.

    ``gpu_type``: the accelerator (Kubeflow on GKE: ``nvidia-tesla-t4``, ``nvidia-l4``, ...;
    Vertex AI: ``NVIDIA_TESLA_T4``, ``NVIDIA_L4``, ...). ``gpus``: count (default 1 with a type).
    ``cpu``/``memory``: requests and limits (``"4"``, ``"16G"``). ``retries``: attempts after the first.
    """

    image: str | None = None
    gpu_type: str | None = None
    gpus: int | None = None
    cpu: str | None = None
    memory: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    retries: int = 2
    retry_backoff: str = "60s"
    train_on_gpu: bool = True

    def __post_init__(self) -> None:
        if self.gpus is not None and self.gpus < 0:
            raise ValueError(f"gpus must be >= 0, got {self.gpus}")
        if self.gpus and not self.gpu_type:
            raise ValueError("gpus given without gpu_type: name the accelerator (e.g. --gpu nvidia-tesla-t4)")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")

    @property
    def gpu_count(self) -> int:
        if not self.gpu_type:
            return 0
        return 1 if self.gpus is None else self.gpus


def _place(task: Any, options: PipelineOptions, *, gpu: bool) -> None:
    """Resources, node selector and tolerations on one task (kfp-kubernetes for the last two)."""
    from kfp import kubernetes

    if gpu and options.gpu_count:
        task.set_accelerator_type(options.gpu_type)
        task.set_accelerator_limit(options.gpu_count)
    if options.cpu:
        task.set_cpu_request(options.cpu).set_cpu_limit(options.cpu)
    if options.memory:
        task.set_memory_request(options.memory).set_memory_limit(options.memory)
    for key, value in sorted(options.node_selector.items()):
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for tol in options.tolerations:
        kubernetes.add_toleration(task, key=tol.key, operator=tol.operator, value=tol.value, effect=tol.effect)


def build_pipeline(options: PipelineOptions | None = None) -> Any:
    """The pipeline function (a kfp ``GraphComponent``) for these compile-time options."""
    from kfp import dsl
    from kfp.dsl import Dataset

    from kftune_kfp.components.gate import make_gate_component
    from kftune_kfp.components.train import make_train_component
    from kftune_kfp.components.tune import make_tune_component

    options = options or PipelineOptions()
    tune_op = make_tune_component(options.image)
    gate_op = make_gate_component(options.image)
    train_op = make_train_component(options.image)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Tune a Keras model with kftune (keras-tuner), then train the final model with the best values.",
    )
    def tune_and_train(
        spec: str,
        train_uri: str,
        validation_uri: str = "",
        state_root: str = "",
        warm_start_uri: str = "",
        publish_uri: str = "",
        objective_threshold: str = "",
    ):
        """Tune, gate on the best objective, train the final model.

        Args:
            spec: The tuning spec as a JSON string (`kftune pipeline submit --spec spec.yaml` converts it).
            train_uri: Training data URI (gs://...); imported as a Dataset artifact.
            validation_uri: Optional validation data URI; else the spec's validation_split is used.
            state_root: gs:// prefix for tuner state (default: the pipeline root); retries resume from it.
            warm_start_uri: Results of an earlier run to warm-start from (a schedule's stable 'latest').
            publish_uri: Where to mirror this run's results for the next run (a schedule's 'latest').
            objective_threshold: Train only when the best objective reaches this number (in the spec's direction); empty: always.
        """
        data = dsl.importer(artifact_uri=train_uri, artifact_class=Dataset, reimport=False)
        data.set_display_name("train-data")
        tune = tune_op(
            spec=spec,
            train_data=data.output,
            validation_uri=validation_uri,
            state_root=state_root,
            pipeline_root=dsl.PIPELINE_ROOT_PLACEHOLDER,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
            warm_start_uri=warm_start_uri,
            publish_uri=publish_uri,
        )
        tune.set_display_name("tune")
        tune.set_caching_options(False)
        _place(tune, options, gpu=True)
        if options.retries:
            tune.set_retry(options.retries, backoff_duration=options.retry_backoff)

        gate = gate_op(best_hyperparameters=tune.outputs["best_hyperparameters"], threshold=objective_threshold)
        gate.set_display_name("objective-gate")
        gate.set_caching_options(False)
        with dsl.If(gate.output == True, name="objective-reached"):  # noqa: E712 - a kfp condition, not Python
            train = train_op(
                spec=spec,
                train_data=data.output,
                best_hyperparameters=tune.outputs["best_hyperparameters"],
                validation_uri=validation_uri,
            )
            train.set_display_name("train")
            _place(train, options, gpu=options.train_on_gpu)
            if options.retries:
                train.set_retry(options.retries, backoff_duration=options.retry_backoff)

    return tune_and_train


def compile_pipeline(
    package_path: str | Path,
    options: PipelineOptions | None = None,
    parameters: dict[str, Any] | None = None,
) -> Path:
    """Compile to a YAML package; ``parameters`` become the defaults of the pipeline parameters."""
    from kfp import compiler

    path = Path(package_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(
        build_pipeline(options), str(path), pipeline_name=PIPELINE_NAME, pipeline_parameters=parameters or None
    )
    return path


def spec_parameter(spec: Any) -> str:
    """The ``spec`` pipeline parameter: the validated spec as a compact JSON string."""
    import kftune

    tuning_spec = kftune.load_spec(spec)
    return json.dumps(json.loads(tuning_spec.to_json()), separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":  # python -m kftune_kfp.pipelines.tune_and_train [out.yaml]
    import sys

    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else "tune_and_train.yaml"))
