"""``kftune pipeline compile|submit|schedule``: the tune -> train pipeline on Kubeflow or Vertex AI.

A plugin of the ``kftune`` CLI: this package's ``kftune.commands`` entry point (``pipeline =
kftune_kfp.pipelines.cli:pipeline_app``) mounts ``pipeline_app`` as ``kftune pipeline``.

Importing this module is cheap (``kftune --help`` imports it): kfp, the components and
google-cloud-aiplatform are imported inside the commands (see ``backends``), and a missing one is a
MissingExtraError naming the extra to install. The remote calls live in ``backends``; the commands
look them up here (``make_kfp_client``, ``load_aiplatform``), so tests can replace them on this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from kftune.cli import _fail
from kftune.errors import KftuneError, PipelineUsageError
from kftune_kfp.pipelines.backends import (
    PIPELINES_EXTRA,
    VERTEX_EXTRA,
    kfp_cron,
    load_aiplatform,
    make_kfp_client,
    require_kfp,
    schedule_kubeflow,
    schedule_vertex,
    submit_kubeflow,
    submit_vertex,
    vertex_cron,
)

pipeline_app = typer.Typer(
    help="Compile, submit and schedule the tune -> train pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# --------------------------------------------------------------------------- parameters


def _remote_uri(value: str | None, field: str, option: str) -> str | None:
    if value and "://" not in value:
        raise PipelineUsageError(
            f"{field}: {value!r} is a local path, which the pipeline's pods cannot read; "
            f"pass {option} gs://BUCKET/OBJECT"
        )
    return value


def run_parameters(
    spec: str | Path,
    *,
    train_uri: str | None = None,
    validation_uri: str | None = None,
    state_root: str | None = None,
    warm_start_uri: str | None = None,
    publish_uri: str | None = None,
    objective_threshold: float | None = None,
) -> dict[str, Any]:
    """The pipeline's run-time parameters: the validated spec as JSON and the data URIs (default:
    the spec's own ``data.train``/``data.validation``, which must then be remote URIs)."""
    from kftune.spec import load_spec
    from kftune_kfp.pipelines.tune_and_train import spec_parameter

    loaded = load_spec(spec)
    params: dict[str, Any] = {
        "spec": spec_parameter(loaded),
        "train_uri": train_uri or _remote_uri(loaded.data.train, "data.train", "--train-uri"),
    }
    validation = validation_uri or _remote_uri(loaded.data.validation, "data.validation", "--validation-uri")
    optional = {
        "validation_uri": validation,
        "state_root": state_root,
        "warm_start_uri": warm_start_uri,
        "publish_uri": publish_uri,
        "objective_threshold": None if objective_threshold is None else repr(float(objective_threshold)),
    }
    params.update({k: v for k, v in optional.items() if v})
    return params


# --------------------------------------------------------------------------- commands


def _target(host: str | None, vertex: bool, project: str | None, region: str | None) -> str:
    if host and (vertex or project):
        raise PipelineUsageError("give either --host (Kubeflow) or --vertex --project/--region (Vertex AI), not both")
    if host:
        return "kubeflow"
    if vertex or project:
        if not project or not region:
            raise PipelineUsageError("Vertex AI needs --project PROJECT and --region REGION")
        return "vertex"
    raise PipelineUsageError("where to run: --host https://KUBEFLOW/pipeline, or --vertex --project P --region R")


def _package(package: Path) -> Path:
    if not package.is_file():
        raise PipelineUsageError(f"{package}: no compiled pipeline there; run `kftune pipeline compile -o {package}` first")
    return package


HostOpt = typer.Option(None, "--host", help="Kubeflow Pipelines endpoint, e.g. https://HOST/pipeline.")
NamespaceOpt = typer.Option(None, "--namespace", help="Kubeflow profile namespace (multi-user installs).")
VertexOpt = typer.Option(False, "--vertex", help="Run on Vertex AI Pipelines (needs kftune[vertex]).")
ProjectOpt = typer.Option(None, "--project", help="Google Cloud project (Vertex AI).")
RegionOpt = typer.Option(None, "--region", help="Vertex AI region, e.g. us-central1.")
RootOpt = typer.Option(None, "--pipeline-root", help="gs:// root for the run's artifacts (Vertex AI: required unless set in the project).")
SaOpt = typer.Option(None, "--service-account", help="Service account the pipeline's pods run as.")
TrainOpt = typer.Option(None, "--train-uri", help="Training data gs:// URI (default: the spec's data.train).")
ValOpt = typer.Option(None, "--validation-uri", help="Validation data gs:// URI (default: the spec's data.validation).")
StateOpt = typer.Option(None, "--state-root", help="gs:// prefix for tuner state (default: the pipeline root).")
ThresholdOpt = typer.Option(None, "--objective-threshold", help="Train only when the best objective reaches this.")


@pipeline_app.command("compile")
def compile_command(
    output: Path = typer.Option(Path("tune_and_train.yaml"), "--output", "-o", help="Where to write the pipeline YAML."),
    image: Optional[str] = typer.Option(None, "--image", help="Component image (default ghcr.io/kftune/kftune:<version>)."),
    gpu: Optional[str] = typer.Option(None, "--gpu", help="Accelerator type: nvidia-tesla-t4, nvidia-l4 (GKE) / NVIDIA_L4 (Vertex)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", min=0, help="Accelerators per pod (default 1 with --gpu)."),
    cpu: Optional[str] = typer.Option(None, "--cpu", help="CPU request and limit per pod, e.g. 4."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Memory request and limit per pod, e.g. 16G."),
    node_selector: list[str] = typer.Option([], "--node-selector", help="KEY=VALUE node label (repeatable)."),
    toleration: list[str] = typer.Option([], "--toleration", help="KEY[=VALUE][:EFFECT] (repeatable), e.g. nvidia.com/gpu=present:NoSchedule."),
    retries: int = typer.Option(2, "--retries", min=0, help="Retries per task; a retried tune resumes its state."),
    train_on_cpu: bool = typer.Option(False, "--train-on-cpu", help="No accelerator for the final training step."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="Bake this spec in as the default of the spec parameter."),
    train_uri: Optional[str] = TrainOpt,
    validation_uri: Optional[str] = ValOpt,
    state_root: Optional[str] = StateOpt,
) -> None:
    """Compile the tune -> train pipeline to a YAML package for Kubeflow or Vertex AI."""
    try:
        module = require_kfp()
        try:
            options = module.PipelineOptions(
                image=image,
                gpu_type=gpu,
                gpus=gpus,
                cpu=cpu,
                memory=memory,
                node_selector=module.parse_key_values(node_selector),
                tolerations=tuple(module.Toleration.parse(t) for t in toleration),
                retries=retries,
                train_on_gpu=not train_on_cpu,
            )
        except ValueError as exc:
            raise PipelineUsageError(str(exc)) from None
        defaults: dict[str, Any] = {}
        if spec is not None:
            defaults.update(run_parameters(spec, train_uri=train_uri, validation_uri=validation_uri, state_root=state_root))
        else:
            defaults.update({k: v for k, v in {"train_uri": train_uri, "validation_uri": validation_uri, "state_root": state_root}.items() if v})
        try:
            path = module.compile_pipeline(output, options, defaults or None)
        except ValueError as exc:  # kfp's own checks, e.g. a --cpu or --memory it cannot parse
            raise PipelineUsageError(str(exc).strip().splitlines()[0]) from None
    except KftuneError as exc:
        raise _fail(exc) from None
    image_used = image or _default_image()
    gpu_note = f", {options.gpu_count} x {gpu}" if options.gpu_count else ", no GPU"
    typer.echo(f"{path}: pipeline {module.PIPELINE_NAME} on {image_used}{gpu_note}, {retries} retries")


def _default_image() -> str:
    from kftune_kfp.components import default_image

    return default_image()


@pipeline_app.command("submit")
def submit_command(
    package: Path = typer.Argument(..., help="The compiled pipeline YAML (kftune pipeline compile)."),
    spec: Path = typer.Option(..., "--spec", help="Tuning spec (YAML or JSON); validated here before submitting."),
    train_uri: Optional[str] = TrainOpt,
    validation_uri: Optional[str] = ValOpt,
    state_root: Optional[str] = StateOpt,
    warm_start_uri: Optional[str] = typer.Option(None, "--warm-start-uri", help="An earlier run's results to warm-start from."),
    publish_uri: Optional[str] = typer.Option(None, "--publish-uri", help="Copy this run's results here (for later warm starts)."),
    objective_threshold: Optional[float] = ThresholdOpt,
    run_name: Optional[str] = typer.Option(None, "--run-name", help="Run (Kubeflow) or job display name (Vertex AI)."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Kubeflow experiment name."),
    cache: Optional[bool] = typer.Option(None, "--cache/--no-cache", help="Override every task's caching (default: as compiled; tune never caches)."),
    host: Optional[str] = HostOpt,
    namespace: Optional[str] = NamespaceOpt,
    vertex: bool = VertexOpt,
    project: Optional[str] = ProjectOpt,
    region: Optional[str] = RegionOpt,
    pipeline_root: Optional[str] = RootOpt,
    service_account: Optional[str] = SaOpt,
) -> None:
    """Start one run of a compiled pipeline on Kubeflow (--host) or Vertex AI (--vertex)."""
    try:
        target = _target(host, vertex, project, region)
        require_kfp()
        params = run_parameters(
            spec,
            train_uri=train_uri,
            validation_uri=validation_uri,
            state_root=state_root,
            warm_start_uri=warm_start_uri,
            publish_uri=publish_uri,
            objective_threshold=objective_threshold,
        )
        _package(package)
        if target == "kubeflow":
            run_id = submit_kubeflow(
                make_kfp_client(host, namespace),
                package,
                params,
                run_name=run_name,
                experiment=experiment,
                namespace=namespace,
                pipeline_root=pipeline_root,
                service_account=service_account,
                enable_caching=cache,
            )
            typer.echo(f"submitted run {run_id} to {host}")
        else:
            name = submit_vertex(
                load_aiplatform(),
                package,
                params,
                project=project,
                region=region,
                display_name=run_name or json.loads(params["spec"])["name"],
                pipeline_root=pipeline_root,
                service_account=service_account,
                enable_caching=cache,
            )
            typer.echo(f"submitted {name}")
    except KftuneError as exc:
        raise _fail(exc) from None


@pipeline_app.command("schedule")
def schedule_command(
    package: Path = typer.Argument(..., help="The compiled pipeline YAML (kftune pipeline compile)."),
    spec: Path = typer.Option(..., "--spec", help="Tuning spec (YAML or JSON); validated here before scheduling."),
    cron: str = typer.Option(..., "--cron", help="When to run, 5-field cron: '0 3 * * *' = every day at 03:00."),
    latest_uri: str = typer.Option(
        ..., "--latest-uri", help="gs:// prefix each run warm-starts from and then overwrites with its own results."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Schedule name (default: kftune-<spec name>)."),
    train_uri: Optional[str] = TrainOpt,
    validation_uri: Optional[str] = ValOpt,
    state_root: Optional[str] = StateOpt,
    objective_threshold: Optional[float] = ThresholdOpt,
    experiment: str = typer.Option("kftune", "--experiment", help="Kubeflow experiment the runs belong to."),
    host: Optional[str] = HostOpt,
    namespace: Optional[str] = NamespaceOpt,
    vertex: bool = VertexOpt,
    project: Optional[str] = ProjectOpt,
    region: Optional[str] = RegionOpt,
    pipeline_root: Optional[str] = RootOpt,
    service_account: Optional[str] = SaOpt,
) -> None:
    """Retrain on a schedule: every run warm-starts from the previous run's results at --latest-uri."""
    try:
        target = _target(host, vertex, project, region)
        require_kfp()
        _remote_uri(latest_uri, "--latest-uri", "--latest-uri")
        params = run_parameters(
            spec,
            train_uri=train_uri,
            validation_uri=validation_uri,
            state_root=state_root,
            warm_start_uri=latest_uri,
            publish_uri=latest_uri,
            objective_threshold=objective_threshold,
        )
        _package(package)
        schedule_name = name or f"kftune-{json.loads(params['spec'])['name']}"
        if target == "kubeflow":
            rid = schedule_kubeflow(
                make_kfp_client(host, namespace),
                package,
                params,
                name=schedule_name,
                cron=cron,
                experiment=experiment,
                namespace=namespace,
                pipeline_root=pipeline_root,
                service_account=service_account,
            )
            typer.echo(f"scheduled recurring run {rid} ({kfp_cron(cron)}) on {host}")
        else:
            resource = schedule_vertex(
                load_aiplatform(),
                package,
                params,
                name=schedule_name,
                cron=cron,
                project=project,
                region=region,
                pipeline_root=pipeline_root,
                service_account=service_account,
            )
            typer.echo(f"scheduled {resource} ({cron})")
    except KftuneError as exc:
        raise _fail(exc) from None


__all__ = [
    "PIPELINES_EXTRA",
    "VERTEX_EXTRA",
    "PipelineUsageError",
    "kfp_cron",
    "load_aiplatform",
    "make_kfp_client",
    "pipeline_app",
    "require_kfp",
    "run_parameters",
    "schedule_kubeflow",
    "schedule_vertex",
    "submit_kubeflow",
    "submit_vertex",
    "vertex_cron",
]
