"""The tune -> train pipeline: data (importer) -> tune -> gate -> train, for Kubeflow or Vertex AI.

Compile it with ``kftune pipeline compile`` (or ``python -m kftune_kfp.pipelines.tune_and_train``).
Where the pods run (target, image, GPU type/count, pods, CPU, memory, node selector, tolerations,
retries) is fixed at compile time by ``PipelineOptions``; what they work on (spec, data URIs, state
root, warm start, threshold) are run-time pipeline parameters.

Retries and caching:
- the tune task is retried (``set_retry``) and each retry resumes: its state URI is derived from the
  pipeline job ID and task name (``<state_root or pipeline root>/kftune-state/<job id>/<task>``), both
  the same for every attempt of the task, so the new pod pulls the state the killed one synced. On
  Kubeflow the driver leaves ``{{$.pipeline_root}}`` unresolved (backend/src/v2/driver/resolve.go),
  so there the state goes next to the task's own output artifacts unless ``state_root`` is given
  (and a multi-pod search requires ``state_root``: its chief and workers meet there);
- the tune task is never served from cache: data behind an unchanged URI can change between runs
  (the usual case for scheduled retraining), so caching is off for it and the job ID is one of its
  inputs. Reuse across runs goes through warm start instead (``warm_start_uri`` / ``publish_uri``).

Several pods (``pods`` > 1; the library's contract: every process runs ``kftune tune`` and reads its
role from the environment):
- Kubeflow: a chief task (``KFTUNE_ROLE=chief``, no GPU, its pod IP from the downward API) and a
  ``dsl.ParallelFor`` of ``pods`` worker tasks with ``gpus`` GPUs each, all on one state URI
  (``<state_root>/kftune-state/<job id>/tune``);
- Vertex AI: one CustomJob (google-cloud-pipeline-components' ``CustomTrainingJobOp``) with pool 0
  the chief and pool 1 the workers (roles from ``CLUSTER_SPEC``), then a collect step that turns
  the chief's results into the tune outputs.
"""

import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kftune_kfp.pipelines import accelerators

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

    ``target``: ``kubeflow`` or ``vertex``. ``gpu_type``: a friendly name (``t4``, ``l4``, ``a100``,
    ``h100`` ...; see ``accelerators.GPUS``) or the target's raw value (Kubeflow: a resource name such
    as ``nvidia.com/gpu``; Vertex: ``NVIDIA_TESLA_T4``). ``gpus``: per pod (default 1 with a type).
    ``pods``: tuning pods (> 1: a chief and that many workers). ``workers``: worker processes per pod
    (0: one per visible GPU). ``cpu``/``memory``: requests and limits (``"4"``, ``"16G"``).
    ``retries``: attempts after the first.
    """

    target: str = "kubeflow"
    image: str | None = None
    gpu_type: str | None = None
    gpus: int | None = None
    pods: int = 1
    workers: int = 0
    cpu: str | None = None
    memory: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    retries: int = 2
    retry_backoff: str = "60s"
    train_on_gpu: bool = True
    machine_type: str | None = None  # Vertex worker pools: the workers' machine (default from the GPU)
    chief_machine_type: str = "n1-standard-4"  # Vertex worker pools: the chief's (it runs no trial)

    def __post_init__(self) -> None:
        if self.target not in accelerators.TARGETS:
            raise ValueError(f"target {self.target!r}: expected one of {', '.join(accelerators.TARGETS)}")
        if self.gpus is not None and self.gpus < 0:
            raise ValueError(f"gpus must be >= 0, got {self.gpus}")
        if self.gpus and not self.gpu_type:
            raise ValueError("gpus given without gpu_type: name the accelerator (e.g. --gpu t4)")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.pods < 1:
            raise ValueError(f"pods must be >= 1, got {self.pods}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.gpu_type:
            self.accelerator  # noqa: B018 - raises GpuError (a ValueError) with a suggestion
        if self.target == "vertex" and self.pods > 1 and self.gpu_count and not self.worker_machine_type:
            raise ValueError(
                f"--gpu {self.gpu_type} x {self.gpu_count}: kftune knows no Vertex machine type for that count; "
                "give --machine-type"
            )

    @property
    def gpu_count(self) -> int:
        if not self.gpu_type:
            return 0
        return 1 if self.gpus is None else self.gpus

    @property
    def accelerator(self) -> accelerators.Accelerator | None:
        return accelerators.resolve(self.gpu_type, self.target) if self.gpu_type else None

    @property
    def worker_machine_type(self) -> str | None:
        if self.machine_type:
            return self.machine_type
        acc = self.accelerator
        if acc is None or not self.gpu_count:
            return "n1-standard-8"
        return acc.machine_type(self.gpu_count)

    @property
    def state_root_required(self) -> bool:
        """Kubeflow with several pods: the chief and the workers can only meet under a given state_root."""
        return self.target == "kubeflow" and self.pods > 1

    def marker(self) -> str:
        """Written into the compiled pipeline's description; ``read_marker`` reads it back (submit checks)."""
        return f"[kftune target={self.target} pods={self.pods} retries={self.retries}]"


_MARKER = re.compile(r"\[kftune target=(\w+) pods=(\d+) retries=(\d+)\]")


def read_marker(package: str | Path) -> dict[str, Any] | None:
    """``{"target", "pods", "retries", "state_root_default"}`` of a package compiled here, else None."""
    import yaml

    docs = list(yaml.safe_load_all(Path(package).read_text(encoding="utf-8")))
    doc = docs[0] if docs else {}
    match = _MARKER.search(str((doc.get("pipelineInfo") or {}).get("description", "")))
    if not match:
        return None
    params = ((doc.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    return {
        "target": match.group(1),
        "pods": int(match.group(2)),
        "retries": int(match.group(3)),
        "state_root_default": (params.get("state_root") or {}).get("defaultValue", None),
        "parameters": set(params),
    }


def _place(task: Any, options: PipelineOptions, *, gpu: bool, gpus: int | None = None) -> None:
    """Resources, node selector and tolerations on one task (kfp-kubernetes for the last two; Vertex
    AI ignores the Kubernetes platform section, and gets no node selector for its accelerator)."""
    from kfp import kubernetes

    acc = options.accelerator
    count = options.gpu_count if gpus is None else gpus
    selector = dict(options.node_selector)
    if gpu and acc is not None and count:
        task.set_accelerator_type(acc.resource_type)
        task.set_accelerator_limit(count)
        for key, value in acc.node_selector.items():
            selector.setdefault(key, value)
    if options.cpu:
        task.set_cpu_request(options.cpu).set_cpu_limit(options.cpu)
    if options.memory:
        task.set_memory_request(options.memory).set_memory_limit(options.memory)
    if options.target == "kubeflow":
        for key, value in sorted(selector.items()):
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for tol in options.tolerations:
            kubernetes.add_toleration(task, key=tol.key, operator=tol.operator, value=tol.value, effect=tol.effect)


def _retry(task: Any, options: PipelineOptions) -> None:
    if options.retries:
        task.set_retry(options.retries, backoff_duration=options.retry_backoff)


def _tune(ops: dict[str, Any], options: PipelineOptions, p: dict[str, Any], data: Any, validation: Any) -> Any:
    """The tuning step(s); returns the task whose outputs are the tune outputs."""
    from kfp import dsl, kubernetes

    common = dict(spec=p["spec"], train_data=data.output, validation_uri=p["validation_uri"], state_root=p["state_root"])
    if validation is not None:
        common["validation_data"] = validation.output
    if options.pods == 1:
        tune = ops["tune"](**common, warm_start_uri=p["warm_start_uri"], publish_uri=p["publish_uri"],
                           workers=options.workers)
        tune.set_display_name("tune")
        _place(tune, options, gpu=True)
        _retry(tune, options)
        return tune
    if options.target == "kubeflow":
        chief = ops["tune"](**common, warm_start_uri=p["warm_start_uri"], publish_uri=p["publish_uri"],
                            role="chief", task_name=SHARED_TASK)
        chief.set_display_name("tune-chief")
        _place(chief, options, gpu=False)
        kubernetes.use_field_path_as_env(chief, "KFTUNE_POD_IP", "status.podIP")
        _retry(chief, options)
        with dsl.ParallelFor(items=list(range(options.pods)), parallelism=options.pods, name="tune-workers") as index:
            worker = ops["worker"](**common, task_name=SHARED_TASK, worker_index=index, workers=options.workers)
            worker.set_display_name("tune-worker")
            _place(worker, options, gpu=True)
            _retry(worker, options)
        return chief
    from google_cloud_pipeline_components import _placeholders as gcp

    acc = options.accelerator
    prepare = ops["vertex_job"](
        spec=p["spec"], train_data=data.output, validation_uri=p["validation_uri"], state_root=p["state_root"],
        image=ops["image"], pods=options.pods, gpus=options.gpu_count,
        accelerator_type=acc.resource_type if acc and options.gpu_count else "",
        machine_type=options.worker_machine_type or "", chief_machine_type=options.chief_machine_type,
        workers=options.workers,
    )
    prepare.set_display_name("tune-job-spec")
    job = ops["custom_job"](
        display_name="kftune-tune",
        worker_pool_specs=prepare.outputs["worker_pool_specs"],
        service_account=gcp.SERVICE_ACCOUNT_PLACEHOLDER,
        network=gcp.NETWORK_PLACEHOLDER,
        encryption_spec_key_name=gcp.ENCRYPTION_SPEC_KMS_KEY_NAME_PLACEHOLDER,
    )
    job.set_display_name("tune-worker-pools")
    _retry(job, options)
    collect = ops["collect"](state_uri=prepare.outputs["state_uri"], publish_uri=p["publish_uri"]).after(job)
    collect.set_display_name("tune")
    _retry(collect, options)
    return collect


SHARED_TASK = "tune"  # the chief's and the workers' common state folder (their task names differ)


def _gate_and_train(ops: dict[str, Any], options: PipelineOptions, p: dict[str, Any], data: Any,
                    validation: Any, tune: Any) -> None:
    from kfp import dsl

    gate = ops["gate"](best_hyperparameters=tune.outputs["best_hyperparameters"], threshold=p["objective_threshold"])
    gate.set_display_name("objective-gate")
    gate.set_caching_options(False)
    with dsl.If(gate.output == True, name="objective-reached"):  # noqa: E712 - a kfp condition, not Python
        extra = {"validation_data": validation.output} if validation is not None else {}
        train = ops["train"](spec=p["spec"], train_data=data.output, validation_uri=p["validation_uri"],
                             best_hyperparameters=tune.outputs["best_hyperparameters"], **extra)
        train.set_display_name("train")
        _place(train, options, gpu=options.train_on_gpu, gpus=min(options.gpu_count, 1) if options.pods > 1 else None)
        _retry(train, options)


def build_pipeline(options: PipelineOptions | None = None) -> Any:
    """The pipeline function (a kfp ``GraphComponent``) for these compile-time options."""
    from kfp import dsl
    from kfp.dsl import Dataset

    from kftune_kfp.components import default_image
    from kftune_kfp.components.gate import make_gate_component
    from kftune_kfp.components.train import make_train_component
    from kftune_kfp.components.tune import make_tune_component
    from kftune_kfp.components.tune_worker import make_tune_worker_component

    options = options or PipelineOptions()
    image = options.image or default_image()
    ops: dict[str, Any] = {
        "image": image,
        "tune": make_tune_component(image),
        "worker": make_tune_worker_component(image),
        "gate": make_gate_component(image),
        "train": make_train_component(image),
    }
    if options.target == "vertex" and options.pods > 1:
        from kftune_kfp.components.vertex_job import custom_job_op, make_collect_component, make_vertex_job_component

        ops.update(custom_job=custom_job_op(), vertex_job=make_vertex_job_component(image),
                   collect=make_collect_component(image))

    def tune_and_train(
        spec: str,
        train_uri: str,
        state_root: str = "",  # third: without its default (state_root_required) it stays in place
        validation_uri: str = "",
        warm_start_uri: str = "",
        publish_uri: str = "",
        objective_threshold: Optional[float] = None,
    ):
        """Tune, gate on the best objective, train the final model.

        Args:
            spec: The tuning spec as a JSON string (`kftune pipeline submit --spec spec.yaml` converts it).
            train_uri: Training data URI (gs://...); imported as a Dataset artifact.
            state_root: gs:// prefix for tuner state (default: the pipeline root on Vertex AI, the task's artifact folder on Kubeflow); retries resume from it.
            validation_uri: Optional validation data URI (imported as a Dataset artifact); else the spec's validation_split.
            warm_start_uri: Results of an earlier run to warm-start from (a schedule's stable 'latest').
            publish_uri: Where to mirror this run's results for the next run (a schedule's 'latest').
            objective_threshold: Train only when the best objective reaches this number (in the spec's direction); none: always.
        """
        p = dict(spec=spec, validation_uri=validation_uri, state_root=state_root, warm_start_uri=warm_start_uri,
                 publish_uri=publish_uri, objective_threshold=objective_threshold)
        data = dsl.importer(artifact_uri=train_uri, artifact_class=Dataset, reimport=False)
        data.set_display_name("train-data")
        # Validation data is an artifact (lineage) when given; the two branches share one graph builder.
        with dsl.If(validation_uri != "", name="validation-data"):
            validation = dsl.importer(artifact_uri=validation_uri, artifact_class=Dataset, reimport=False)
            validation.set_display_name("validation-data")
            _gate_and_train(ops, options, p, data, validation, _tune(ops, options, p, data, validation))
        with dsl.Else(name="validation-split"):
            _gate_and_train(ops, options, p, data, None, _tune(ops, options, p, data, None))

    if options.state_root_required:  # no default: KFP itself refuses a run without it
        sig = inspect.signature(tune_and_train)
        params = [q.replace(default=inspect.Parameter.empty) if q.name == "state_root" else q for q in sig.parameters.values()]
        tune_and_train.__signature__ = sig.replace(parameters=params)
    description = (
        "Tune a Keras model with kftune (keras-tuner), then train the final model with the best values. "
        + options.marker()
    )
    return dsl.pipeline(name=PIPELINE_NAME, description=description)(tune_and_train)


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
