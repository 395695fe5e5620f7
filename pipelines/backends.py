"""The remote side of ``kftune pipeline submit|schedule``: Kubeflow Pipelines and Vertex AI Pipelines.

Importing this module is cheap: kfp, the pipeline module and google-cloud-aiplatform are imported
inside the functions, and a missing one is a MissingExtraError naming the extra to install.

The remote calls are kept thin: ``submit_kubeflow`` / ``submit_vertex`` / ``schedule_kubeflow`` /
``schedule_vertex`` take the client (a ``kfp.Client`` or the ``google.cloud.aiplatform`` module) as
an argument, so everything up to the call is testable without a cluster.
"""

from __future__ import annotations

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


def make_kfp_client(host: str, namespace: str | None = None) -> Any:
    import kfp

    return kfp.Client(host=host, namespace=namespace) if namespace else kfp.Client(host=host)


def load_aiplatform() -> Any:
    try:
        from google.cloud import aiplatform
    except ImportError:
        raise MissingExtraError(f"Vertex AI Pipelines needs google-cloud-aiplatform: {VERTEX_EXTRA}") from None
    return aiplatform


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


# --------------------------------------------------------------------------- remote calls (thin)


def submit_kubeflow(
    client: Any,
    package: str | Path,
    parameters: dict[str, Any],
    *,
    run_name: str | None = None,
    experiment: str | None = None,
    namespace: str | None = None,
    pipeline_root: str | None = None,
    service_account: str | None = None,
    enable_caching: bool | None = None,
) -> str:
    """One run on a Kubeflow Pipelines endpoint; returns the run ID."""
    result = client.create_run_from_pipeline_package(
        str(package),
        arguments=parameters,
        run_name=run_name,
        experiment_name=experiment,
        namespace=namespace,
        pipeline_root=pipeline_root,
        enable_caching=enable_caching,
        service_account=service_account,
    )
    return str(result.run_id)


def submit_vertex(
    aiplatform: Any,
    package: str | Path,
    parameters: dict[str, Any],
    *,
    project: str,
    region: str,
    display_name: str,
    pipeline_root: str | None = None,
    service_account: str | None = None,
    enable_caching: bool | None = None,
) -> str:
    """One Vertex AI PipelineJob, submitted without waiting; returns its resource name."""
    job = aiplatform.PipelineJob(
        display_name=display_name,
        template_path=str(package),
        pipeline_root=pipeline_root,
        parameter_values=parameters,
        enable_caching=enable_caching,
        project=project,
        location=region,
    )
    job.submit(service_account=service_account)
    return str(job.resource_name)


def schedule_kubeflow(
    client: Any,
    package: str | Path,
    parameters: dict[str, Any],
    *,
    name: str,
    cron: str,
    experiment: str,
    namespace: str | None = None,
    pipeline_root: str | None = None,
    service_account: str | None = None,
) -> str:
    """A Kubeflow recurring run: one run at a time, no backfill; returns the recurring run ID."""
    exp = client.create_experiment(name=experiment, namespace=namespace)
    recurring = client.create_recurring_run(
        experiment_id=exp.experiment_id,
        job_name=name,
        cron_expression=kfp_cron(cron),
        params=parameters,
        pipeline_package_path=str(package),
        max_concurrency=1,
        no_catchup=True,
        pipeline_root=pipeline_root,
        service_account=service_account,
    )
    return str(recurring.recurring_run_id)


def schedule_vertex(
    aiplatform: Any,
    package: str | Path,
    parameters: dict[str, Any],
    *,
    name: str,
    cron: str,
    project: str,
    region: str,
    pipeline_root: str | None = None,
    service_account: str | None = None,
) -> str:
    """A Vertex AI PipelineJobSchedule, one run at a time; returns its resource name."""
    job = aiplatform.PipelineJob(
        display_name=name,
        template_path=str(package),
        pipeline_root=pipeline_root,
        parameter_values=parameters,
        project=project,
        location=region,
    )
    schedule = job.create_schedule(
        cron=vertex_cron(cron), display_name=name, max_concurrent_run_count=1, service_account=service_account
    )
    return str(schedule.resource_name)


__all__ = [
    "PIPELINES_EXTRA",
    "VERTEX_EXTRA",
    "kfp_cron",
    "load_aiplatform",
    "make_kfp_client",
    "require_kfp",
    "schedule_kubeflow",
    "schedule_vertex",
    "submit_kubeflow",
    "submit_vertex",
    "vertex_cron",
]
