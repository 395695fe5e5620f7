"""The result files a run leaves for people and for the next pipeline step (names in kftune.layout).

Written after every trial (cheap JSON/CSV) so a killed run never loses results; the report and the
model copy are written when the search ends. Formats are documented in docs/outputs.md.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kftune.search.earlystop import epochs_reached
from kftune.search.trials import trial_status


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write-then-rename, so a SIGKILL never leaves a half-written result file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@dataclass
class TrialRow:
    number: int
    trial_id: str
    status: str
    objective: float | None
    seconds: float | None
    values: dict[str, Any]
    best_so_far: float | None = None
    epochs: int | None = None  # epochs trained, when reported per epoch (tuner.early_stopping)


@dataclass
class TrialTable:
    """Every trial in start order, with the running best (respecting the direction)."""

    direction: str
    names: list[str]
    rows: list[TrialRow] = field(default_factory=list)

    @classmethod
    def from_oracle(cls, oracle: Any, direction: str, names: list[str], seconds: dict[str, float]) -> TrialTable:
        table = cls(direction=direction, names=list(names))
        best: float | None = None
        for number, trial_id in enumerate(oracle.start_order, start=1):
            trial = oracle.trials[trial_id]
            status = trial_status(trial)
            # STOPPED: stopped early across trials (tuner.early_stopping); its objective is the value reached
            score = _finite(trial.score) if status in ("COMPLETED", "STOPPED") else None
            if status == "COMPLETED" and score is not None and (best is None or (score > best if direction == "max" else score < best)):
                best = score
            values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
            for name in values:
                if name not in table.names:
                    table.names.append(name)
            table.rows.append(
                TrialRow(number, trial_id, status, score, seconds.get(trial_id), values, best_so_far=best,
                         epochs=epochs_reached(trial))
            )
        return table

    @property
    def completed(self) -> int:
        return sum(r.status == "COMPLETED" for r in self.rows)

    @property
    def failed(self) -> int:
        return sum(r.status in ("FAILED", "INVALID") for r in self.rows)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        epochs = any(r.epochs is not None for r in self.rows)  # an "epochs" column only with early stopping
        writer.writerow(["number", "trial_id", "status", "objective", "best_so_far", "seconds",
                         *(["epochs"] if epochs else []), *self.names])
        for r in self.rows:
            writer.writerow(
                [
                    r.number,
                    r.trial_id,
                    r.status,
                    "" if r.objective is None else repr(r.objective),
                    "" if r.best_so_far is None else repr(r.best_so_far),
                    "" if r.seconds is None else f"{r.seconds:.3f}",
                    *([("" if r.epochs is None else r.epochs)] if epochs else []),
                    *("" if r.values.get(n) is None else r.values[n] for n in self.names),
                ]
            )
        return buffer.getvalue()


def best_hyperparameters_record(
    values: dict[str, Any], metric: str, direction: str, value: float | None, trial_id: str | None, spec_hash: str
) -> dict[str, Any]:
    return {
        "values": values,
        "objective": {"metric": metric, "direction": direction, "value": value},
        "trial_id": trial_id,
        "spec_hash": spec_hash,
    }


@functools.cache  # run.json is rewritten after every trial; the versions do not change
def versions() -> dict[str, str | None]:
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    tf = version("tensorflow") or version("tensorflow-cpu")
    keras = sys.modules.get("keras")  # the backend Keras actually loaded, when it is loaded
    backend = keras.config.backend() if keras is not None else os.environ.get("KERAS_BACKEND", "tensorflow")
    backend_dists = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax",), "torch": ("torch",)}
    return {
        "kftune": version("kftune"),
        "python": platform.python_version(),
        "tensorflow": tf,
        "keras": version("keras"),
        "keras_tuner": version("keras-tuner"),
        "keras_backend": backend,
        "keras_backend_version": next(filter(None, map(version, backend_dists.get(backend, (backend,)))), None),
    }


def write_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False, default=str) + "\n")
