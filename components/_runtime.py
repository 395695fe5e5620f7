"""What the component bodies run inside the kftune image: KFP artifacts in, library calls, artifacts out.

Kept free of kfp so it can be read and tested on its own; the component functions only forward their
arguments here. Artifacts are duck-typed (``.path``, ``.uri``, ``.metadata``, ``log_metric``).

Why each step looks the way it does:
- the spec arrives as a JSON *string* and is validated first: a dict parameter would come back from
  KFP with every integer turned into a float, and a bad spec must fail in seconds, before TensorFlow;
- the tuner state lives at a URI derived from the pipeline job and task (or one the user gives), so a
  retried pod of the same task pulls its own state and carries on instead of starting over;
- Keras 3 only saves to a ``.keras`` file, and ``Output[Model].path`` has no extension: a Model
  artifact here is a folder holding ``model.keras`` (folders upload the same way on every backend,
  unlike a rewritten artifact URI).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

MODEL_FILE = "model.keras"
HYPERPARAMETERS_FILE = "hyperparameters.json"
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
    state_uri: str = "", state_root: str = "", pipeline_root: str = "", run_id: str = "", task_name: str = ""
) -> str | None:
    """The tuner-state URI for this task; stable across retries of the task within one pipeline job.

    ``state_uri`` wins when given. Otherwise ``<state_root or pipeline_root>/kftune-state/<run_id>/<task>``
    when that root is a store kftune writes (gs:// or local). None means "local to this pod": the task
    still runs, but a retry on a new pod starts over (a warning says so).
    """
    if state_uri.strip():
        return state_uri.strip().rstrip("/")
    root = _storable_root(state_root) or _storable_root(pipeline_root)
    run_id = (run_id or "").strip()
    if root is None or not run_id or "{{$" in run_id:
        log(
            "warning: no state_uri/state_root on gs:// (pipeline root "
            f"{pipeline_root or 'unknown'!r}); tuner state stays on this pod and a retry starts over"
        )
        return None
    task = (task_name or "tune").strip() or "tune"
    return f"{root}/{STATE_SUBDIR}/{run_id}/{task}"


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
    best_hyperparameters: Any,
    best_model: Any,
    trials: Any,
    metrics: Any,
    report: Any,
    validation_data: Any = None,
    validation_uri: str = "",
    state_uri: str = "",
    state_root: str = "",
    pipeline_root: str = "",
    run_id: str = "",
    task_name: str = "",
    warm_start_uri: str = "",
    publish_uri: str = "",
) -> dict[str, Any]:
    """Run (or resume) the search and fill the tune component's outputs; returns its parameters."""
    import kftune

    started = time.monotonic()
    with one_line_errors():
        validation = data_location(validation_data) or validation_uri.strip() or None
        tuning_spec = load_step_spec(spec, data_location(train_data), validation)
        log(f"spec '{tuning_spec.name}' is valid (hash {tuning_spec.spec_hash[:12]})")
        output = resolve_state_uri(state_uri, state_root, pipeline_root, run_id, task_name)
        warm = warm_start_uri.strip().rstrip("/") or None  # nothing there yet -> kftune starts cold
        if output is None:
            import tempfile

            output = tempfile.mkdtemp(prefix="kftune-tune-")
        log(f"tuner state: {output}" + (f"; warm start from {warm}" if warm else ""))

        # A retried pod runs on another host, so the killed attempt's lock only reads as stale once its
        # heartbeat is older than the lock's TTL; KFP may start the retry sooner, so wait that out.
        result = kftune.tune(
            tuning_spec,
            output=output,
            warm_start=warm,
            progress=True,
            lock_wait_s=float(os.environ.get("KFTUNE_LOCK_WAIT_SECONDS", "180")),
        )
        if result.best_objective is None or not math.isfinite(result.best_objective):
            from kftune.errors import KftuneError

            raise KftuneError(f"no trial completed ({result.trials_failed} failed); results are in {result.output}")

        from kftune import layout as files

        _copy(result.local_dir / files.BEST_HYPERPARAMETERS, Path(best_hyperparameters.path))
        _copy(result.local_dir / files.TRIALS, Path(trials.path))
        _copy(result.local_dir / files.REPORT, Path(report.path))
        model_dir = Path(best_model.path)
        _copy(Path(result.best_model_path or result.local_dir / files.BEST_MODEL), model_dir / MODEL_FILE)
        _write_json(model_dir / HYPERPARAMETERS_FILE, result.best_hyperparameters)

        metric = tuning_spec.objective.metric
        best_hyperparameters.metadata.update({"spec_hash": result.spec_hash, "trial_id": result.best_trial_id or ""})
        best_model.metadata.update({"framework": "keras", "file": MODEL_FILE, "objective": metric})
        trials.metadata.update({"format": "csv", "rows": result.trials_completed + result.trials_failed})
        metrics.log_metric("best_objective", float(result.best_objective))
        metrics.log_metric("trials_completed", int(result.trials_completed))
        metrics.log_metric("trials_failed", int(result.trials_failed))

        if publish_uri.strip():
            from kftune.results.publish import publish

            published = publish(result.local_dir, publish_uri.strip())
            log(f"published {', '.join(published)} to {publish_uri.strip()} for the next run's warm start")
        log(
            f"best {metric} = {result.best_objective:.6g} after {result.trials_completed} trials "
            f"({result.stopped_because}) in {time.monotonic() - started:.0f}s"
        )
        return {
            "best_hyperparameters_dict": dict(result.best_hyperparameters),
            "best_objective": float(result.best_objective),
            "output_uri": str(result.output),
        }


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
        _write_json(model_dir / HYPERPARAMETERS_FILE, values)
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
    """True when the tuned objective reaches ``threshold`` in the spec's direction (empty/None: always)."""
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


# --------------------------------------------------------------------------- files


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _write_json(path: Path, record: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
