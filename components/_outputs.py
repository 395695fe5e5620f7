"""What the tune step leaves for the KFP UI and the next step, from a finished run folder (no kfp, no TF).

One function, ``write_outputs``, used by the tune component (single process or chief) and by the
collect step of a Vertex AI worker-pool search: both end with a run folder holding kftune's result
files (kftune.layout), and both fill the same artifacts the same way:

- ``best_hyperparameters`` (JSON), ``best_model`` (a folder holding ``model.keras``);
- ``trials`` (Dataset, CSV) and ``trials_parquet`` (Dataset, Parquet): one row per trial;
- ``metrics``: the best objective *under the objective's own name* (``val_accuracy``), plus
  ``trials_completed`` and ``trials_failed`` (the KFP UI shows Metrics as a table);
- ``summary`` (Markdown, rendered by the KFP UI): best value, best hyperparameters, top trials;
- ``report`` (HTML): the self-contained report.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

MODEL_FILE = "model.keras"
HYPERPARAMETERS_FILE = "hyperparameters.json"
TOP_TRIALS = 5
# The artifacts the tune component and the Vertex collect step both fill (same names, same meaning).
TUNE_ARTIFACTS = ("best_hyperparameters", "best_model", "trials", "trials_parquet", "metrics", "summary", "report")
TUNE_PARAMETERS = ("best_hyperparameters_dict", "best_objective", "output_uri")


def tune_result(params: dict[str, Any]) -> Any:
    """The tune outputs' parameters as the NamedTuple KFP's executor reads (by field name)."""
    from collections import namedtuple

    return namedtuple("TuneOutputs", TUNE_PARAMETERS)(*(params[name] for name in TUNE_PARAMETERS))


def write_outputs(run_dir: Path, outputs: dict[str, Any], *, output_uri: str) -> dict[str, Any]:
    """Fill the artifacts in ``outputs`` (any may be None) from ``run_dir``; returns the output parameters.

    Raises KftuneError when no trial completed (there is nothing to hand to the next step).
    """
    from kftune import layout
    from kftune.errors import KftuneError
    from kftune.results.report import read_trials, top_trials, write_report

    run_dir = Path(run_dir)
    best = _read_json(run_dir / layout.BEST_HYPERPARAMETERS)
    run = _read_json(run_dir / layout.RUN_RECORD)
    objective = best.get("objective") or {}
    metric, direction = objective.get("metric") or "objective", objective.get("direction") or "max"
    value = objective.get("value")
    rows, names = read_trials(run_dir / layout.TRIALS)
    completed = sum(r["status"] == "COMPLETED" for r in rows)
    failed = sum(r["status"] in ("FAILED", "INVALID") for r in rows)
    if value is None or not math.isfinite(float(value)):
        raise KftuneError(f"no trial completed ({failed} failed); results are in {output_uri}")
    if not (run_dir / layout.REPORT).is_file():
        write_report(run_dir)

    if outputs.get("best_hyperparameters") is not None:
        art = outputs["best_hyperparameters"]
        copy(run_dir / layout.BEST_HYPERPARAMETERS, Path(art.path))
        art.metadata.update({"spec_hash": best.get("spec_hash") or "", "trial_id": best.get("trial_id") or "",
                             "objective": metric, "value": float(value)})
    if outputs.get("best_model") is not None:
        art = outputs["best_model"]
        model_dir = Path(art.path)
        copy(run_dir / layout.BEST_MODEL, model_dir / MODEL_FILE)
        write_json(model_dir / HYPERPARAMETERS_FILE, best.get("values") or {})
        art.metadata.update({"framework": "keras", "file": MODEL_FILE, "objective": metric,
                             "keras_backend": run.get("keras_backend") or ""})
    if outputs.get("trials") is not None:
        copy(run_dir / layout.TRIALS, Path(outputs["trials"].path))
        outputs["trials"].metadata.update({"format": "csv", "rows": len(rows)})
    if outputs.get("trials_parquet") is not None:
        write_parquet(run_dir / layout.TRIALS, Path(outputs["trials_parquet"].path))
        outputs["trials_parquet"].metadata.update({"format": "parquet", "rows": len(rows)})
    if outputs.get("report") is not None:
        copy(run_dir / layout.REPORT, Path(outputs["report"].path))
    if outputs.get("metrics") is not None:
        m = outputs["metrics"]
        m.log_metric(metric, float(value))
        m.log_metric("trials_completed", int(completed))
        m.log_metric("trials_failed", int(failed))
    if outputs.get("summary") is not None:
        top = top_trials(rows, direction, TOP_TRIALS)
        text = summary_markdown(best, run, top, names, completed=completed, failed=failed, output_uri=output_uri)
        path = Path(outputs["summary"].path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return {
        "best_hyperparameters_dict": dict(best.get("values") or {}),
        "best_objective": float(value),
        "output_uri": output_uri,
    }


def summary_markdown(
    best: dict, run: dict, top: list[dict], names: list[str], *, completed: int, failed: int, output_uri: str
) -> str:
    """The Markdown summary the KFP UI renders: the best result first, then the top trials."""
    objective = best.get("objective") or {}
    metric, direction = objective.get("metric", "objective"), objective.get("direction", "max")
    best_number = next((r["number"] for r in top if r.get("trial_id") == best.get("trial_id")), None)
    lines = [
        f"# kftune: {run.get('name') or 'search'}",
        "",
        f"**best {metric} = {_fmt(objective.get('value'))}** ({'maximize' if direction == 'max' else 'minimize'})"
        + (f", trial {best_number}" if best_number is not None else ""),
        "",
        f"{completed} trials completed, {failed} failed"
        + (f"; stopped because: {run['stopped_because']}" if run.get("stopped_because") else ""),
        "",
        "## Best hyperparameters",
        "",
        "| name | value |",
        "|---|---|",
        *(f"| {_cell(k)} | {_cell(_fmt(v))} |" for k, v in (best.get("values") or {}).items()),
        "",
        f"## Top {len(top)} trials",
        "",
        "| trial | " + " | ".join([metric, "seconds", *map(_cell, names)]) + " |",
        "|" + "---|" * (3 + len(names)),
        *(
            "| " + " | ".join([str(r["number"]), _fmt(r["objective"]), _fmt(r.get("seconds")),
                               *(_cell(_fmt(r.get(n))) for n in names)]) + " |"
            for r in top
        ),
        "",
        f"Results and state: `{output_uri}`",
        "",
    ]
    return "\n".join(lines)


def write_parquet(csv_path: Path, path: Path) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.read_csv(csv_path, dtype={"trial_id": str}).to_parquet(path, index=False)


def copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def write_json(path: Path, record: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")
