"""What the component bodies run inside the kftune image: KFP artifacts in, library calls, artifacts out.

Kept free of kfp so it can be read and tested on its own; the component functions only forward their
arguments here. Artifacts are duck-typed (``.path``, ``.uri``, ``.metadata``, ``log_metric``).

Why each step looks the way it does:
- the spec arrives as a JSON *string* and is validated first: a dict parameter would come back from
  KFP with every integer turned into a float, and a bad spec must fail in seconds, before TensorFlow;
- the tuner state lives at a URI derived from the pipeline job and task (or one the user gives), so a
  retried pod of the same task pulls its own state and carries on instead of starting over. On
  Kubeflow ``{{$.pipeline_root}}`` arrives unresolved (kubeflow/pipelines backend/src/v2/driver/
  resolve.go resolves only the pipeline_job_*/pipeline_task_* placeholders), so without a state_root
  the state goes next to this task's own output artifacts: the driver runs once per task and Argo
  retries only the executor pod (backend/src/v2/compiler/argocompiler/container.go puts the
  retryStrategy on the executor template), so every attempt gets the same artifact URIs;
- Keras 3 only saves to a ``.keras`` file, and ``Output[Model].path`` has no extension: a Model
  artifact here is a folder holding ``model.keras`` (folders upload the same way on every backend,
  unlike a rewritten artifact URI).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from kftune.errors import PipelineUsageError
from kftune_kfp.components._outputs import HYPERPARAMETERS_FILE, MODEL_FILE, write_json, write_outputs

STATE_SUBDIR = "kftune-state"


def log(message: str) -> None:
    print(f"kftune: {message}", file=sys.stderr, flush=True)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A user's mistake (any KftuneError) ends the task with one line and its exit code, no traceback."""
    from kftune.errors import KftuneError

    try:
        yield
    except KftuneError as exc:
        print(f"kftune: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None


# --------------------------------------------------------------------------- locations


def data_location(artifact: Any) -> str | None:
    """Where the library should read a Dataset artifact: its gs:// URI (read with kftune's GCS client,
    recorded as such in run.json), else the local path KFP materialised it at."""
    if artifact is None:
        return None
    uri = getattr(artifact, "uri", "") or ""
    if uri.startswith("gs://"):
        return uri
    return getattr(artifact, "path", None) or uri or None


def _storable_root(root: str) -> str | None:
    """A root kftune's store can write to (gs://, file://, a local path), else None."""
    root = (root or "").strip()
    if not root or "{{$" in root:  # empty, or a placeholder the backend did not resolve
        return None
    if root.startswith(("gs://", "file://", "/")):
        return root.rstrip("/")
    if "://" in root:  # minio://, s3://, https://: not a kftune store
        return None
    return str(Path(root).resolve())


def resolve_state_uri(
    state_uri: str = "",
    state_root: str = "",
    pipeline_root: str = "",
    run_id: str = "",
    task_name: str = "",
    artifact_dir: str = "",
) -> str | None:
    """The tuner-state URI for this task; stable across retries of the task within one pipeline job.

    ``state_uri`` wins when given. Otherwise ``<state_root or pipeline_root>/kftune-state/<run_id>/<task>``
    when that root is a store kftune writes (gs:// or local); else, when this task's own output
    artifacts live on gs:// (``artifact_dir``), ``<artifact_dir>/kftune-state``. None means "local to
    this pod": the task still runs, but a retry on a new pod starts over (a warning says so).
    """
    if state_uri.strip():
        return state_uri.strip().rstrip("/")
    root = _storable_root(state_root) or _storable_root(pipeline_root)
    run_id = (run_id or "").strip()
    if root is not None and run_id and "{{$" not in run_id:
        task = (task_name or "tune").strip() or "tune"
        return f"{root}/{STATE_SUBDIR}/{run_id}/{task}"
    if artifact_dir.startswith("gs://"):
        return f"{artifact_dir.rstrip('/')}/{STATE_SUBDIR}"
    log(
        "warning: no state_uri/state_root on gs:// (pipeline root "
        f"{pipeline_root or 'unknown'!r}); tuner state stays on this pod and a retry starts over"
    )
    return None


# --------------------------------------------------------------------------- spec


def load_step_spec(spec_json: str, train: str | None, validation: str | None) -> Any:
    """Validate the spec (SpecError -> one line), then point its data at the step's artifacts."""
    import kftune

    spec = kftune.load_spec(spec_json if spec_json.lstrip().startswith("{") else _not_json(spec_json))
    return spec.with_data(train, validation)


def _not_json(text: str) -> str:
    from kftune.errors import SpecError

    raise SpecError(f"spec: expected the tuning spec as a JSON object string, got {text[:40]!r}")


# --------------------------------------------------------------------------- steps


def tune_step(
    *,
    spec: str,
    train_data: Any,
    outputs: dict[str, Any],
    validation_data: Any = None,
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
) -> dict[str, Any]:
    """Run (or resume) the search and fill the tune component's outputs; returns its parameters.

    ``role``: "" (one process) or "chief" (serve the oracle to ``kftune_tune_worker`` tasks, run no
    trial). ``workers``: local worker processes on this pod (0: the library's default, one per GPU).
    """
    import kftune

    started = time.monotonic()
    with one_line_errors():
        validation = data_location(validation_data) or validation_uri.strip() or None
        tuning_spec = load_step_spec(spec, data_location(train_data), validation)
        log(f"spec '{tuning_spec.name}' is valid (hash {tuning_spec.spec_hash[:12]})")
        artifact_dir = artifact_folder(outputs)
        state = resolve_state_uri(state_uri, state_root, pipeline_root, run_id, task_name, artifact_dir)
        if role.strip().lower() == "chief":
            if state is None:
                raise PipelineUsageError(NO_SHARED_STATE)
            os.environ["KFTUNE_ROLE"] = "chief"
        warm = warm_start_uri.strip().rstrip("/") or None  # nothing there yet -> kftune starts cold
        output = state
        if output is None:
            import tempfile

            output = tempfile.mkdtemp(prefix="kftune-tune-")
        log(f"tuner state: {output}" + (f"; warm start from {warm}" if warm else ""))

        # A retried pod runs on another host, so the killed attempt's lock only reads as stale once its
        # heartbeat is older than the lock's TTL; KFP may start the retry sooner, so wait that out.
        extra = {"workers": int(workers)} if workers and int(workers) > 0 else {}
        result = kftune.tune(
            tuning_spec,
            output=output,
            warm_start=warm,
            progress=True,
            lock_wait_s=float(os.environ.get("KFTUNE_LOCK_WAIT_SECONDS", "180")),
            **extra,
        )
        # Where users find the results: the state (remote), else this task's artifact folder.
        findable = state if state and "://" in state else (artifact_dir or str(result.output))
        params = write_outputs(Path(result.local_dir), outputs, output_uri=findable)
        _publish(result.local_dir, publish_uri)
        log(
            f"best {tuning_spec.objective.metric} = {result.best_objective:.6g} after {result.trials_completed} "
            f"trials ({result.stopped_because}) in {time.monotonic() - started:.0f}s; results: {findable}"
        )
        return params


NO_SHARED_STATE = (
    "state_root: the chief and its workers meet in the run's state, which needs a gs:// state_root "
    "(Kubeflow's driver leaves {{$.pipeline_root}} unresolved): pass --state-root gs://BUCKET/kftune/state"
)


def worker_step(
    *,
    spec: str,
    train_data: Any,
    validation_data: Any = None,
    validation_uri: str = "",
    state_uri: str = "",
    state_root: str = "",
    pipeline_root: str = "",
    run_id: str = "",
    task_name: str = "",
    worker_index: int = 0,
    workers: int = 0,
) -> None:
    """A worker pod of a multi-pod search: finds the chief through the run's state and runs trials."""
    import kftune

    with one_line_errors():
        validation = data_location(validation_data) or validation_uri.strip() or None
        tuning_spec = load_step_spec(spec, data_location(train_data), validation)
        state = resolve_state_uri(state_uri, state_root, pipeline_root, run_id, task_name)
        if state is None:
            raise PipelineUsageError(NO_SHARED_STATE)
        os.environ["KFTUNE_ROLE"] = "worker"
        os.environ["KFTUNE_WORKER_INDEX"] = str(int(worker_index))
        log(f"worker {int(worker_index)}: waiting for the chief's address in {state}")
        extra = {"workers": int(workers)} if workers and int(workers) > 0 else {}
        kftune.tune(tuning_spec, output=state, progress=True, **extra)
        log(f"worker {int(worker_index)}: the chief ended the search")


def vertex_job_step(
    *,
    spec: str,
    train_data: Any,
    validation_uri: str,
    state_root: str,
    pipeline_root: str,
    run_id: str,
    image: str,
    pods: int,
    gpus: int,
    accelerator_type: str,
    machine_type: str,
    chief_machine_type: str,
    workers: int = 0,
) -> dict[str, Any]:
    """Vertex AI: validate the spec, fix the state URI and write the CustomJob's worker pools
    (pool 0 the chief, pool 1 the ``pods`` workers); every replica runs the same ``kftune tune``,
    its role read from Vertex's ``CLUSTER_SPEC`` by the library."""
    with one_line_errors():
        tuning_spec = load_step_spec(spec, data_location(train_data), validation_uri.strip() or None)
        state = resolve_state_uri("", state_root, pipeline_root, run_id, SHARED_TASK)
        if state is None or not state.startswith("gs://"):
            raise PipelineUsageError("state_root: a Vertex AI worker-pool search needs a gs:// pipeline root or state_root")
        job_spec = json.loads(tuning_spec.to_json())
        log(f"spec '{tuning_spec.name}' is valid; state {state}; {pods} worker pods x {gpus} {accelerator_type or 'CPU'}")
        return {"state_uri": state, "worker_pool_specs": worker_pool_specs(
            job_spec, state, image=image, pods=pods, gpus=gpus, accelerator_type=accelerator_type,
            machine_type=machine_type, chief_machine_type=chief_machine_type, workers=workers)}


SHARED_TASK = "tune"  # the chief's and the workers' common state folder name (their task names differ)
_JOB_SCRIPT = (
    'printf "%s" "$KFTUNE_SPEC_JSON" > /tmp/kftune-spec.json && '
    'exec kftune tune /tmp/kftune-spec.json --output "$KFTUNE_OUTPUT" --workdir /tmp/kftune-work "$@"'
)


def worker_pool_specs(
    spec: dict, state: str, *, image: str, pods: int, gpus: int, accelerator_type: str, machine_type: str,
    chief_machine_type: str, workers: int = 0,
) -> list[dict[str, Any]]:
    """Vertex CustomJob worker pools (REST ``WorkerPoolSpec``): the same container and command in both."""
    env = [{"name": "KFTUNE_SPEC_JSON", "value": json.dumps(spec, separators=(",", ":"))},
           {"name": "KFTUNE_OUTPUT", "value": state}]
    args = ["--workers", str(int(workers))] if workers and int(workers) > 0 else []

    def pool(machine: str, replicas: int, gpu_count: int) -> dict[str, Any]:
        machine_spec: dict[str, Any] = {"machine_type": machine}
        if gpu_count and accelerator_type:
            machine_spec.update(accelerator_type=accelerator_type, accelerator_count=int(gpu_count))
        return {
            "machine_spec": machine_spec,
            "replica_count": int(replicas),
            "container_spec": {"image_uri": image, "command": ["sh", "-c", _JOB_SCRIPT, "kftune"], "args": args, "env": env},
            "disk_spec": {"boot_disk_type": "pd-ssd", "boot_disk_size_gb": 100},
        }

    return [pool(chief_machine_type, 1, 0), pool(machine_type, pods, gpus)]


def collect_step(*, state_uri: str, outputs: dict[str, Any], publish_uri: str = "") -> dict[str, Any]:
    """After a Vertex worker-pool search: read the chief's results from the state and fill the outputs."""
    import tempfile

    from kftune import layout
    from kftune.storage import open_store

    with one_line_errors():
        store = open_store(state_uri)
        local = Path(tempfile.mkdtemp(prefix="kftune-collect-"))
        present = [name for name in layout.RESULT_FILES if store.exists(name)]
        store.download_files([(name, local / name) for name in present])
        params = write_outputs(local, outputs, output_uri=state_uri)
        _publish(local, publish_uri)
        return params


def _publish(local_dir: Any, publish_uri: str) -> None:
    if publish_uri.strip():
        from kftune.results.publish import publish

        published = publish(Path(local_dir), publish_uri.strip())
        log(f"published {', '.join(published)} to {publish_uri.strip()} for the next run's warm start")


def artifact_folder(outputs: dict[str, Any]) -> str:
    """The remote folder of this task's output artifacts (KFP puts them side by side), or ""."""
    for artifact in outputs.values():
        uri = (getattr(artifact, "uri", "") or "").rstrip("/")
        if "://" in uri and "/" in uri.split("://", 1)[1]:
            return uri.rsplit("/", 1)[0]
    return ""


def train_step(
    *,
    spec: str,
    train_data: Any,
    best_hyperparameters: Any,
    model: Any,
    metrics: Any,
    validation_data: Any = None,
    validation_uri: str = "",
) -> dict[str, Any]:
    """Train the final model with the tuned values (read from the JSON artifact, so integers stay integers).

    Returns ``{"hyperparameters": values used, "metrics": final scores}``.
    """
    with one_line_errors():
        validation = data_location(validation_data) or validation_uri.strip() or None
        train = data_location(train_data)
        tuning_spec = load_step_spec(spec, train, validation)
        values = read_best_values(Path(best_hyperparameters.path))
        log(f"training the final model with {json.dumps(values, sort_keys=True)}")

        from kftune.final import train_final

        model_dir = Path(model.path)
        model_dir.mkdir(parents=True, exist_ok=True)
        scores = train_final(tuning_spec, values, train=train, validation=validation, model_path=model_dir / MODEL_FILE)
        write_json(model_dir / HYPERPARAMETERS_FILE, values)
        model.metadata.update({"framework": "keras", "file": MODEL_FILE})
        for name, value in sorted(scores.items()):
            if value is not None and math.isfinite(float(value)):
                metrics.log_metric(name, float(value))
        return {"hyperparameters": values, "metrics": {k: float(v) for k, v in scores.items()}}


def read_best_values(path: Path) -> dict[str, Any]:
    from kftune.errors import SpecError

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        values = record["values"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"{path}: not a kftune best_hyperparameters.json ({exc})") from None
    if not isinstance(values, dict):
        raise SpecError(f"{path}: 'values' must be a mapping")
    return values


def gate_step(best_hyperparameters_path: str, threshold: str | float | None) -> bool:
    """True when the tuned objective reaches ``threshold`` in the spec's direction (None/NaN/empty: always)."""
    from kftune.errors import SpecError

    record = json.loads(Path(best_hyperparameters_path).read_text(encoding="utf-8"))
    objective = record.get("objective") or {}
    value, direction = objective.get("value"), objective.get("direction", "max")
    if isinstance(threshold, str):
        text = threshold.strip()
        try:
            threshold = float(text) if text else None
        except ValueError:
            raise SpecError(f"objective_threshold: expected a number, got {text!r}") from None
    if threshold is not None and math.isnan(float(threshold)):
        threshold = None
    if threshold is None:
        log(f"gate: no threshold; best {objective.get('metric')} = {value}")
        return True
    if value is None or not math.isfinite(float(value)):
        log("gate: no finite best objective; not training")
        return False
    passed = float(value) >= threshold if direction == "max" else float(value) <= threshold
    log(
        f"gate: best {objective.get('metric')} = {value} {'meets' if passed else 'misses'} "
        f"the threshold {threshold} ({direction})"
    )
    return passed
