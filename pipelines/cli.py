"""``kftune pipeline compile|submit|schedule|upload``: the tune -> train pipeline on Kubeflow or Vertex AI.

A plugin of the ``kftune`` CLI: this package's ``kftune.commands`` entry point (``pipeline =
kftune_kfp.pipelines.cli:pipeline_app``) mounts ``pipeline_app`` as ``kftune pipeline``.

Importing this module is cheap (``kftune --help`` imports it): kfp, the components and
google-cloud-aiplatform are imported inside the commands (see ``backends``), and a missing one is a
MissingExtraError naming the extra to install. The remote calls live in ``backends``; the commands
look them up here (``make_kfp_client``, ``load_aiplatform``, ``load_registry``), so tests can
replace them on this module.

``submit`` and ``schedule`` share their options through ``OptionGroup``s (``grouped``): the run's
parameters, where it runs (target, Kubeflow connection, Vertex settings) are declared once.
"""

import functools
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from kftune.cli import _fail
from kftune.errors import KftuneError, PipelineUsageError
from kftune_kfp.pipelines.backends import (
    PIPELINES_EXTRA,
    VERTEX_EXTRA,
    Kubeflow,
    RunRequest,
    Vertex,
    kfp_cron,
    load_aiplatform,
    load_registry,
    make_kfp_client,
    require_kfp,
    schedule_kubeflow,
    schedule_vertex,
    submit_kubeflow,
    submit_vertex,
    upload_kubeflow,
    upload_to_registry,
    vertex_cron,
    wait_kubeflow,
    wait_vertex,
)

pipeline_app = typer.Typer(
    help="Compile, submit, schedule and upload the tune -> train pipeline (Kubeflow or Vertex AI).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# --------------------------------------------------------------------------- shared option groups


@dataclass(frozen=True)
class OptionGroup:
    """Options several commands take, and how they become one object for the command."""

    params: tuple[inspect.Parameter, ...]
    build: Callable[..., Any]


def _opt(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def grouped(**groups: OptionGroup) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Replace each parameter named like a group by that group's options (for typer), and hand the
    command the group's built object instead."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        params: list[inspect.Parameter] = []
        for param in sig.parameters.values():
            params.extend(groups[param.name].params if param.name in groups else [param])

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            for name, group in groups.items():
                kwargs[name] = group.build(**{p.name: kwargs.pop(p.name) for p in group.params})
            return fn(**kwargs)

        positional = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        command.__signature__ = sig.replace(parameters=positional + keyword)  # type: ignore[attr-defined]
        command.__annotations__ = {}
        return command

    return decorate


@dataclass(frozen=True)
class RunOptions:
    """What the run works on: the spec and its data, state, warm start, threshold."""

    spec: Path
    train_uri: Optional[str]
    validation_uri: Optional[str]
    state_root: Optional[str]
    objective_threshold: Optional[float]
    pipeline_root: Optional[str]
    service_account: Optional[str]


@dataclass(frozen=True)
class Where:
    """Where the run goes: the target and its connection settings (validated by ``resolve``)."""

    target: Optional[str]
    vertex_flag: bool
    kubeflow: Kubeflow
    project: Optional[str]
    region: Optional[str]
    network: Optional[str]
    labels: tuple[str, ...]
    encryption_key: Optional[str]
    experiment: Optional[str]

    def resolve(self, compiled_for: Optional[str]) -> str:
        target = self.target or ("vertex" if self.vertex_flag or self.project else None)
        if self.kubeflow.host and target == "vertex":
            raise PipelineUsageError("give either --host (Kubeflow) or --target vertex --project/--region (Vertex AI), not both")
        target = target or compiled_for or "kubeflow"
        if target not in ("kubeflow", "vertex"):
            raise PipelineUsageError(f"--target {target!r}: expected kubeflow or vertex")
        if compiled_for and compiled_for != target:
            raise PipelineUsageError(
                f"the package was compiled for {compiled_for}; recompile it with `kftune pipeline compile --target {target}`"
            )
        if target == "vertex" and (not self.project or not self.region):
            raise PipelineUsageError("Vertex AI needs --project PROJECT and --region REGION")
        return target

    def vertex(self) -> Vertex:
        from kftune_kfp.pipelines.tune_and_train import parse_key_values

        try:
            labels = parse_key_values(list(self.labels), "label")
        except ValueError as exc:
            raise PipelineUsageError(str(exc)) from None
        return Vertex(project=self.project or "", region=self.region or "", network=self.network, labels=labels,
                      encryption_key=self.encryption_key, experiment=self.experiment)


def _run_options(**kw: Any) -> RunOptions:
    return RunOptions(**kw)


def _where(**kw: Any) -> Where:
    conn = {k: kw.pop(k) for k in list(kw) if k in Kubeflow.CLIENT_ARGS or k == "namespace"}
    return Where(kubeflow=Kubeflow(**conn), **kw)


RUN = OptionGroup(
    (
        _opt("spec", Path, typer.Option(..., "--spec", help="Tuning spec (YAML or JSON); validated here before anything is sent.")),
        _opt("train_uri", Optional[str], typer.Option(None, "--train-uri", help="Training data gs:// URI (default: the spec's data.train).")),
        _opt("validation_uri", Optional[str], typer.Option(None, "--validation-uri", help="Validation data gs:// URI (default: the spec's data.validation).")),
        _opt("state_root", Optional[str], typer.Option(None, "--state-root", help="gs:// prefix for tuner state (default: --pipeline-root when gs://); retries resume from it.")),
        _opt("objective_threshold", Optional[float], typer.Option(None, "--objective-threshold", help="Train only when the best objective reaches this.")),
        _opt("pipeline_root", Optional[str], typer.Option(None, "--pipeline-root", help="gs:// root for the run's artifacts (Vertex AI: required unless set in the project).")),
        _opt("service_account", Optional[str], typer.Option(None, "--service-account", help="Service account the run's pods (Kubeflow) or jobs (Vertex AI) run as.")),
    ),
    _run_options,
)
WHERE = OptionGroup(
    (
        _opt("target", Optional[str], typer.Option(None, "--target", help="kubeflow or vertex (default: what the package was compiled for).")),
        _opt("vertex_flag", bool, typer.Option(False, "--vertex", help="Same as --target vertex.")),
        _opt("host", Optional[str], typer.Option(None, "--host", help="Kubeflow Pipelines endpoint (default: kfp's own detection: KF_PIPELINES_ENDPOINT, in-cluster token, kube config).")),
        _opt("namespace", Optional[str], typer.Option(None, "--namespace", help="Kubeflow profile namespace (multi-user installs).")),
        _opt("existing_token", Optional[str], typer.Option(None, "--existing-token", envvar="KFTUNE_KFP_TOKEN", help="Kubeflow: a bearer token (e.g. `gcloud auth print-identity-token`).")),
        _opt("cookies", Optional[str], typer.Option(None, "--cookies", help="Kubeflow: session cookies, e.g. 'authservice_session=...' (Dex).")),
        _opt("client_id", Optional[str], typer.Option(None, "--client-id", help="Kubeflow behind IAP: the OAuth client id.")),
        _opt("other_client_id", Optional[str], typer.Option(None, "--other-client-id", help="Kubeflow behind IAP: a desktop OAuth client id.")),
        _opt("other_client_secret", Optional[str], typer.Option(None, "--other-client-secret", help="Kubeflow behind IAP: that client's secret.")),
        _opt("ssl_ca_cert", Optional[str], typer.Option(None, "--ca-cert", help="Kubeflow: CA certificate file for the endpoint's TLS.")),
        _opt("proxy", Optional[str], typer.Option(None, "--proxy", help="Kubeflow: HTTP proxy to the endpoint.")),
        _opt("ui_host", Optional[str], typer.Option(None, "--ui-host", help="Kubeflow: the UI's address, for the printed run link.")),
        _opt("verify_ssl", Optional[bool], typer.Option(None, "--verify-ssl/--no-verify-ssl", help="Kubeflow: check the endpoint's TLS certificate.")),
        _opt("kube_context", Optional[str], typer.Option(None, "--kube-context", help="Kubeflow: kube config context to reach the API through.")),
        _opt("project", Optional[str], typer.Option(None, "--project", help="Google Cloud project (Vertex AI).")),
        _opt("region", Optional[str], typer.Option(None, "--region", help="Vertex AI region, e.g. us-central1.")),
        _opt("network", Optional[str], typer.Option(None, "--network", help="Vertex AI: VPC network, projects/NUMBER/global/networks/NAME.")),
        _opt("labels", list[str], typer.Option([], "--label", help="Vertex AI: KEY=VALUE label on the job (repeatable).")),
        _opt("encryption_key", Optional[str], typer.Option(None, "--encryption-key", help="Vertex AI: CMEK key, projects/P/locations/R/keyRings/K/cryptoKeys/NAME.")),
        _opt("experiment", Optional[str], typer.Option(None, "--experiment", help="Kubeflow experiment name, or Vertex AI experiment.")),
    ),
    _where,
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
    }
    params.update({k: v for k, v in optional.items() if v})
    if objective_threshold is not None:
        params["objective_threshold"] = float(objective_threshold)
    return params


NO_RESUME = (
    "a retried tune task could not resume: Kubeflow's driver leaves {{$.pipeline_root}} unresolved "
    "(kubeflow/pipelines backend/src/v2/driver/resolve.go), so the state needs a gs:// home; "
    "pass --state-root gs://BUCKET/kftune/state (or --pipeline-root gs://...), or compile with --retries 0"
)


def _request(package: Path, run: RunOptions, where: Where, name: Optional[str], **extra: Any) -> tuple[str, RunRequest]:
    """Validate everything before any remote call: target, package, spec, data, resumability."""
    module = require_kfp()
    if not package.is_file():
        raise PipelineUsageError(f"{package}: no compiled pipeline there; run `kftune pipeline compile -o {package}` first")
    marker = module.read_marker(package) or {}
    target = where.resolve(marker.get("target"))
    state_root = run.state_root
    if not state_root and run.pipeline_root and run.pipeline_root.startswith("gs://"):
        state_root = run.pipeline_root.rstrip("/")
    params = run_parameters(run.spec, train_uri=run.train_uri, validation_uri=run.validation_uri,
                            state_root=state_root, objective_threshold=run.objective_threshold, **extra)
    if target == "kubeflow" and (marker.get("retries") or marker.get("pods", 1) > 1):
        root = params.get("state_root") or marker.get("state_root_default") or ""
        if not root.startswith("gs://"):
            raise PipelineUsageError(NO_RESUME)
    return target, RunRequest(
        package=package,
        parameters=params,
        name=name or json.loads(params["spec"])["name"],
        pipeline_root=run.pipeline_root,
        service_account=run.service_account,
    )


# --------------------------------------------------------------------------- commands


@pipeline_app.command("compile")
def compile_command(
    output: Path = typer.Option(Path("tune_and_train.yaml"), "--output", "-o", help="Where to write the pipeline YAML."),
    target: str = typer.Option("kubeflow", "--target", help="kubeflow or vertex: how GPUs, state and pods are expressed."),
    image: Optional[str] = typer.Option(None, "--image", help="Component image (default ghcr.io/kftune/kftune:<version>)."),
    gpu: Optional[str] = typer.Option(None, "--gpu", help="GPU: t4, l4, v100, a100, a100-80gb, h100, h200 ... or the target's raw name (nvidia.com/gpu | NVIDIA_L4)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", min=0, help="GPUs per tuning pod (default 1 with --gpu); one worker process each."),
    pods: int = typer.Option(1, "--pods", min=1, help="Tuning pods: > 1 runs a chief and that many GPU workers at once."),
    workers: int = typer.Option(0, "--workers", min=0, help="Worker processes per pod (default: one per GPU)."),
    machine_type: Optional[str] = typer.Option(None, "--machine-type", help="Vertex AI worker pools: the workers' machine type (default from --gpu/--gpus)."),
    chief_machine_type: str = typer.Option("n1-standard-4", "--chief-machine-type", help="Vertex AI worker pools: the chief's machine type."),
    cpu: Optional[str] = typer.Option(None, "--cpu", help="CPU request and limit per pod, e.g. 4."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Memory request and limit per pod, e.g. 16G."),
    node_selector: list[str] = typer.Option([], "--node-selector", help="KEY=VALUE node label (repeatable; Kubeflow)."),
    toleration: list[str] = typer.Option([], "--toleration", help="KEY[=VALUE][:EFFECT] (repeatable; Kubeflow), e.g. nvidia.com/gpu=present:NoSchedule."),
    retries: int = typer.Option(2, "--retries", min=0, help="Retries per task; a retried tune resumes its state."),
    train_on_cpu: bool = typer.Option(False, "--train-on-cpu", help="No accelerator for the final training step."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="Bake this spec in as the default of the spec parameter."),
    train_uri: Optional[str] = typer.Option(None, "--train-uri", help="Default training data gs:// URI."),
    validation_uri: Optional[str] = typer.Option(None, "--validation-uri", help="Default validation data gs:// URI."),
    state_root: Optional[str] = typer.Option(None, "--state-root", help="Default gs:// prefix for tuner state (Kubeflow: where retries resume)."),
) -> None:
    """Compile the tune -> train pipeline to a YAML package for Kubeflow or Vertex AI."""
    try:
        module = require_kfp()
        try:
            options = module.PipelineOptions(
                target=target, image=image, gpu_type=gpu, gpus=gpus, pods=pods, workers=workers,
                machine_type=machine_type, chief_machine_type=chief_machine_type, cpu=cpu, memory=memory,
                node_selector=module.parse_key_values(node_selector),
                tolerations=tuple(module.Toleration.parse(t) for t in toleration),
                retries=retries, train_on_gpu=not train_on_cpu,
            )
        except ValueError as exc:
            raise PipelineUsageError(str(exc)) from None
        given = {"train_uri": train_uri, "validation_uri": validation_uri, "state_root": state_root}
        if spec is not None:
            defaults = run_parameters(spec, **given)
        else:
            defaults = {k: v for k, v in given.items() if v}
        try:
            path = module.compile_pipeline(output, options, defaults or None)
        except ValueError as exc:  # kfp's own checks, e.g. a --cpu or --memory it cannot parse
            raise PipelineUsageError(str(exc).strip().splitlines()[0]) from None
    except KftuneError as exc:
        raise _fail(exc) from None
    acc = options.accelerator
    gpu_note = f", {options.gpu_count} x {acc.resource_type}" if acc and options.gpu_count else ", no GPU"
    pods_note = f", {pods} worker pods + a chief" if pods > 1 else ""
    typer.echo(f"{path}: pipeline {module.PIPELINE_NAME} for {target} on {options.image or _default_image()}"
               f"{gpu_note}{pods_note}, {retries} retries")
    if target == "kubeflow" and (retries or pods > 1) and not (state_root or "").startswith("gs://"):
        typer.echo("note: on Kubeflow give each run --state-root gs://BUCKET/kftune/state so a retried tune resumes"
                   + (" (required with --pods)" if pods > 1 else ""))


def _default_image() -> str:
    from kftune_kfp.components import default_image

    return default_image()


def _follow(target: str, client_or_job: Any, run_id: str, timeout_s: float) -> None:
    typer.echo(f"following the run until it ends (at most {timeout_s:.0f}s) ...")
    state = wait_kubeflow(client_or_job, run_id, timeout_s=timeout_s) if target == "kubeflow" else wait_vertex(client_or_job)
    if state != "SUCCEEDED":
        raise KftuneError(f"the run ended {state}: see its page for the failed task's log")
    typer.echo("the run succeeded")


@pipeline_app.command("submit")
@grouped(run=RUN, where=WHERE)
def submit_command(
    package: Path = typer.Argument(..., help="The compiled pipeline YAML (kftune pipeline compile)."),
    run: Any = None,
    where: Any = None,
    warm_start_uri: Optional[str] = typer.Option(None, "--warm-start-uri", help="An earlier run's results to warm-start from."),
    publish_uri: Optional[str] = typer.Option(None, "--publish-uri", help="Copy this run's results here (for later warm starts)."),
    run_name: Optional[str] = typer.Option(None, "--run-name", help="Run (Kubeflow) or job display name (Vertex AI)."),
    cache: Optional[bool] = typer.Option(None, "--cache/--no-cache", help="Override every task's caching (default: as compiled; tune never caches)."),
    wait: bool = typer.Option(False, "--wait", help="Follow the run to its end; exit non-zero when it fails."),
    timeout: float = typer.Option(7 * 86400, "--timeout", help="With --wait: give up after this many seconds."),
) -> None:
    """Start one run of a compiled pipeline on Kubeflow or Vertex AI."""
    try:
        target, request = _request(package, run, where, run_name, warm_start_uri=warm_start_uri, publish_uri=publish_uri)
        request = RunRequest(**{**request.__dict__, "enable_caching": cache})
        if target == "kubeflow":
            client = make_kfp_client(where.kubeflow)
            run_id = submit_kubeflow(client, request, where.kubeflow, experiment=where.experiment)
            typer.echo(f"submitted run {run_id}: {where.kubeflow.run_url(run_id)}")
            if wait:
                _follow(target, client, run_id, timeout)
        else:
            vertex = where.vertex()
            job = submit_vertex(load_aiplatform(), request, vertex)
            typer.echo(f"submitted {job.resource_name}: {vertex.run_url(getattr(job, 'name', '') or job.resource_name.rsplit('/', 1)[-1])}")
            if wait:
                _follow(target, job, job.resource_name, timeout)
    except KftuneError as exc:
        raise _fail(exc) from None


@pipeline_app.command("schedule")
@grouped(run=RUN, where=WHERE)
def schedule_command(
    package: Path = typer.Argument(..., help="The compiled pipeline YAML (kftune pipeline compile)."),
    run: Any = None,
    where: Any = None,
    cron: str = typer.Option(..., "--cron", help="When to run, 5-field cron: '0 3 * * *' = every day at 03:00."),
    latest_uri: str = typer.Option(..., "--latest-uri", help="gs:// prefix each run warm-starts from and then overwrites with its own results."),
    name: Optional[str] = typer.Option(None, "--name", help="Schedule name (default: kftune-<spec name>)."),
    start_time: Optional[str] = typer.Option(None, "--start-time", help="First possible run, RFC 3339 (2025-01-01T00:00:00Z)."),
    end_time: Optional[str] = typer.Option(None, "--end-time", help="No runs after this, RFC 3339."),
    allow_queueing: bool = typer.Option(False, "--allow-queueing", help="Vertex AI: queue a run that is due while the previous one still runs (else it is skipped)."),
    max_run_count: Optional[int] = typer.Option(None, "--max-run-count", min=1, help="Vertex AI: stop after this many runs."),
) -> None:
    """Retrain on a schedule: every run warm-starts from the previous run's results at --latest-uri."""
    try:
        _remote_uri(latest_uri, "--latest-uri", "--latest-uri")
        target, request = _request(package, run, where, None, warm_start_uri=latest_uri, publish_uri=latest_uri)
        request = RunRequest(**{**request.__dict__, "name": name or f"kftune-{request.name}"})
        if target == "kubeflow":
            if where.experiment is None:
                where = Where(**{**where.__dict__, "experiment": "kftune"})
            rid = schedule_kubeflow(make_kfp_client(where.kubeflow), request, where.kubeflow, cron=cron,
                                    experiment=where.experiment, start_time=start_time, end_time=end_time)
            typer.echo(f"scheduled recurring run {rid} ({kfp_cron(cron)})")
        else:
            resource = schedule_vertex(load_aiplatform(), request, where.vertex(), cron=cron, start_time=start_time,
                                       end_time=end_time, allow_queueing=allow_queueing, max_run_count=max_run_count)
            typer.echo(f"scheduled {resource} ({vertex_cron(cron)})")
    except KftuneError as exc:
        raise _fail(exc) from None


@pipeline_app.command("upload")
@grouped(where=WHERE)
def upload_command(
    package: Path = typer.Argument(..., help="The compiled pipeline YAML (kftune pipeline compile)."),
    where: Any = None,
    registry: Optional[str] = typer.Option(None, "--registry", help="A KFP template registry, e.g. https://us-central1-kfp.pkg.dev/PROJECT/REPO (Artifact Registry)."),
    tag: list[str] = typer.Option([], "--tag", help="Tag for the uploaded version (repeatable), e.g. latest or v0.1.0."),
    name: Optional[str] = typer.Option(None, "--name", help="Kubeflow: the pipeline's name (default kftune-tune-and-train)."),
) -> None:
    """Upload a compiled pipeline: to Artifact Registry (--registry), or to Kubeflow's Pipelines page."""
    try:
        module = require_kfp()
        if not package.is_file():
            raise PipelineUsageError(f"{package}: no compiled pipeline there; run `kftune pipeline compile -o {package}` first")
        if registry:
            if not registry.startswith("https://"):
                raise PipelineUsageError(f"--registry {registry!r}: expected https://REGION-kfp.pkg.dev/PROJECT/REPO")
            template, version = upload_to_registry(load_registry(), registry, package, list(tag))
            typer.echo(f"uploaded {template} version {version} to {registry} (run it from {registry}/{template}/{tag[0] if tag else version})")
        else:
            pid = upload_kubeflow(make_kfp_client(where.kubeflow), package, name or module.PIPELINE_NAME, where.kubeflow)
            typer.echo(f"uploaded pipeline {pid}")
    except KftuneError as exc:
        raise _fail(exc) from None


__all__ = [
    "PIPELINES_EXTRA",
    "VERTEX_EXTRA",
    "PipelineUsageError",
    "kfp_cron",
    "load_aiplatform",
    "load_registry",
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
