"""The remote side of ``kftune pipeline submit|schedule|upload``: Kubeflow Pipelines and Vertex AI Pipelines.

Importing this module is cheap: kfp, the pipeline module and google-cloud-aiplatform are imported
inside the functions, and a missing one is a MissingExtraError naming the extra to install.

The remote calls are kept thin and take the client (a ``kfp.Client``, the ``google.cloud.aiplatform``
module, ``kfp.registry``) as an argument, so everything up to the call is testable without a cluster;
tests bind every call against the real classes' signatures.

- ``Kubeflow``: how to reach the endpoint, through ``kfp.Client``'s own arguments. No host means
  kfp's own detection (``KF_PIPELINES_ENDPOINT``, else the in-cluster service-account token, else the
  kube config), so a notebook or pod inside the cluster is never forced through a host it cannot
  authenticate to. The profile namespace goes to each call (``kfp.Client(namespace=...)`` is the
  namespace *kfp itself* is installed in, used for its in-cluster address).
- ``Vertex``: project, region, service account, network, labels, CMEK key, experiment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kftune.errors import MissingExtraError, PipelineUsageError

PIPELINES_EXTRA = "pip install 'kftune[pipelines]'"
VERTEX_EXTRA = "pip install 'kftune[vertex]'"


# --------------------------------------------------------------------------- lazy imports


def require_kfp() -> Any:
    """The ``kftune_kfp.pipelines.tune_and_train`` module; MissingExtraError when kfp is absent."""
    try:
        import kfp  # noqa: F401
        import kfp.kubernetes  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"the pipeline commands need kfp and kfp-kubernetes ({exc.name} is missing): {PIPELINES_EXTRA}") from None
    from kftune_kfp.pipelines import tune_and_train

    return tune_and_train


def load_aiplatform() -> Any:
    try:
        from google.cloud import aiplatform
    except ImportError:
        raise MissingExtraError(f"Vertex AI Pipelines needs google-cloud-aiplatform: {VERTEX_EXTRA}") from None
    return aiplatform


def load_registry() -> Any:
    from kfp import registry

    return registry


# --------------------------------------------------------------------------- what to run, where


@dataclass(frozen=True)
class RunRequest:
    """One compiled package with its run-time parameters, as both backends take it."""

    package: Path
    parameters: dict[str, Any]
    name: str
    pipeline_root: str | None = None
    service_account: str | None = None
    enable_caching: bool | None = None


@dataclass(frozen=True)
class Kubeflow:
    """``kfp.Client`` connection settings (None: kfp's own default) and the profile namespace."""

    host: str | None = None
    namespace: str | None = None
    existing_token: str | None = None
    cookies: str | None = None
    client_id: str | None = None
    other_client_id: str | None = None
    other_client_secret: str | None = None
    ssl_ca_cert: str | None = None
    proxy: str | None = None
    ui_host: str | None = None
    verify_ssl: bool | None = None
    kube_context: str | None = None

    CLIENT_ARGS = ("host", "existing_token", "cookies", "client_id", "other_client_id", "other_client_secret",
                   "ssl_ca_cert", "proxy", "ui_host", "verify_ssl", "kube_context")

    def client_kwargs(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.CLIENT_ARGS if getattr(self, k) is not None}

    def run_url(self, run_id: str) -> str:
        base = (self.ui_host or self.host or "").rstrip("/")
        return f"{base}/#/runs/details/{run_id}" if base else f"run {run_id}"


@dataclass(frozen=True)
class Vertex:
    project: str
    region: str
    network: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    encryption_key: str | None = None
    experiment: str | None = None

    def run_url(self, job_name: str) -> str:
        return (f"https://console.cloud.google.com/vertex-ai/locations/{self.region}/pipelines/runs/"
                f"{job_name}?project={self.project}")


def make_kfp_client(connection: Kubeflow) -> Any:
    import kfp

    return kfp.Client(**connection.client_kwargs())


# --------------------------------------------------------------------------- cron


def kfp_cron(cron: str) -> str:
    """Kubeflow's scheduler wants 6 fields (seconds first); a standard 5-field cron gets ``0`` seconds."""
    fields = cron.split()
    if len(fields) == 5:
        return "0 " + " ".join(fields)
    if len(fields) == 6:
        return " ".join(fields)
    raise PipelineUsageError(f"--cron {cron!r}: expected 5 fields (minute hour day month weekday), e.g. '0 3 * * *'")


def vertex_cron(cron: str) -> str:
    fields = cron.split()
    tz = fields[0] if fields and fields[0].startswith(("CRON_TZ=", "TZ=")) else None
    rest = fields[1:] if tz else fields
    if len(rest) != 5:
        raise PipelineUsageError(
            f"--cron {cron!r}: Vertex AI takes 5 fields (minute hour day month weekday), optionally after CRON_TZ=ZONE"
        )
    return " ".join(fields)


# --------------------------------------------------------------------------- Kubeflow (thin)


def submit_kubeflow(client: Any, run: RunRequest, connection: Kubeflow, *, experiment: str | None = None) -> str:
    """One run on a Kubeflow Pipelines endpoint; returns the run ID."""
    result = client.create_run_from_pipeline_package(
        str(run.package),
        arguments=run.parameters,
        run_name=run.name,
        experiment_name=experiment,
        namespace=connection.namespace,
        pipeline_root=run.pipeline_root,
        enable_caching=run.enable_caching,
        service_account=run.service_account,
    )
    return str(result.run_id)


KFP_DONE = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CANCELLED", "ERROR"}


def wait_kubeflow(client: Any, run_id: str, *, timeout_s: float) -> str:
    """Follow a run to its end; returns its final state (``SUCCEEDED``, ``FAILED`` ...)."""
    run = client.wait_for_run_completion(run_id, timeout=int(timeout_s))
    return str(getattr(run, "state", "") or "UNKNOWN").upper()


def schedule_kubeflow(
    client: Any,
    run: RunRequest,
    connection: Kubeflow,
    *,
    cron: str,
    experiment: str,
    start_time: str | None = None,
    end_time: str | None = None,
) -> str:
    """A Kubeflow recurring run: one run at a time, no backfill; returns the recurring run ID."""
    exp = client.create_experiment(name=experiment, namespace=connection.namespace)
    recurring = client.create_recurring_run(
        experiment_id=exp.experiment_id,
        job_name=run.name,
        cron_expression=kfp_cron(cron),
        params=run.parameters,
        pipeline_package_path=str(run.package),
        max_concurrency=1,
        no_catchup=True,
        start_time=start_time,
        end_time=end_time,
        pipeline_root=run.pipeline_root,
        service_account=run.service_account,
    )
    return str(recurring.recurring_run_id)


# --------------------------------------------------------------------------- Vertex AI (thin)


def pipeline_job(aiplatform: Any, run: RunRequest, vertex: Vertex) -> Any:
    """The ``aiplatform.PipelineJob`` both ``submit`` and ``schedule`` start from."""
    return aiplatform.PipelineJob(
        display_name=run.name,
        template_path=str(run.package),
        pipeline_root=run.pipeline_root,
        parameter_values=run.parameters,
        enable_caching=run.enable_caching,
        encryption_spec_key_name=vertex.encryption_key,
        labels=dict(vertex.labels) or None,
        project=vertex.project,
        location=vertex.region,
    )


def submit_vertex(aiplatform: Any, run: RunRequest, vertex: Vertex) -> Any:
    """One Vertex AI PipelineJob, submitted without waiting; returns the job (``.resource_name``, ``.name``)."""
    job = pipeline_job(aiplatform, run, vertex)
    job.submit(service_account=run.service_account, network=vertex.network, experiment=vertex.experiment)
    return job


def wait_vertex(job: Any) -> str:
    """Follow a PipelineJob to its end; returns its final state's name without the prefix (``SUCCEEDED`` ...)."""
    try:
        job.wait()
    except RuntimeError:  # aiplatform raises when the job ends in a failed state
        pass
    state = getattr(getattr(job, "state", None), "name", None) or str(getattr(job, "state", "UNKNOWN"))
    return state.replace("PIPELINE_STATE_", "")


def schedule_vertex(
    aiplatform: Any,
    run: RunRequest,
    vertex: Vertex,
    *,
    cron: str,
    start_time: str | None = None,
    end_time: str | None = None,
    allow_queueing: bool = False,
    max_run_count: int | None = None,
) -> str:
    """A Vertex AI PipelineJobSchedule, one run at a time; returns its resource name."""
    schedule = pipeline_job(aiplatform, run, vertex).create_schedule(
        cron=vertex_cron(cron),
        display_name=run.name,
        start_time=start_time,
        end_time=end_time,
        allow_queueing=allow_queueing,
        max_run_count=max_run_count,
        max_concurrent_run_count=1,
        service_account=run.service_account,
        network=vertex.network,
    )
    return str(schedule.resource_name)


# --------------------------------------------------------------------------- templates


def upload_to_registry(registry: Any, host: str, package: str | Path, tags: list[str]) -> tuple[str, str]:
    """Push a compiled template to a KFP registry (Artifact Registry: ``https://REGION-kfp.pkg.dev/PROJECT/REPO``);
    returns (template name, version). Vertex runs it with ``--template-uri HOST/NAME/TAG``-style URIs."""
    client = registry.RegistryClient(host=host)
    name, version = client.upload_pipeline(file_name=str(package), tags=tags or None)
    return str(name), str(version)


def upload_kubeflow(client: Any, package: str | Path, name: str, connection: Kubeflow, description: str | None = None) -> str:
    """Upload a compiled pipeline to Kubeflow (it then appears under Pipelines); returns its ID."""
    pipeline = client.upload_pipeline(str(package), pipeline_name=name, description=description,
                                      namespace=connection.namespace)
    return str(pipeline.pipeline_id)


__all__ = [
    "PIPELINES_EXTRA",
    "VERTEX_EXTRA",
    "Kubeflow",
    "RunRequest",
    "Vertex",
    "kfp_cron",
    "load_aiplatform",
    "load_registry",
    "make_kfp_client",
    "pipeline_job",
    "require_kfp",
    "schedule_kubeflow",
    "schedule_vertex",
    "submit_kubeflow",
    "submit_vertex",
    "upload_kubeflow",
    "upload_to_registry",
    "vertex_cron",
    "wait_kubeflow",
    "wait_vertex",
]
