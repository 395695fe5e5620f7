"""Real keras-tuner searches on tiny real models: algorithms, conditions, failures, budgets, outputs."""

from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from kftune import ResumeError, SpecError, load_spec, tune
from kftune.cli import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 rows of the shipped digits: enough to learn something in 2 epochs, fast on 2 cores."""
    src = ROOT / "examples" / "data" / "digits.csv"
    lines = src.read_text().splitlines()
    out = tmp_path_factory.mktemp("data") / "tiny_digits.csv"
    out.write_text("\n".join(lines[:301]) + "\n")
    return out


def tiny_spec(train: Path, **overrides: object) -> dict:
    spec = {
        "name": "tiny",
        "model": "kftune.hypermodels:mlp_classifier",
        "data": {"train": str(train), "label": "target", "validation_split": 0.25},
        "objective": {"metric": "val_accuracy", "direction": "max"},
        "search_space": {
            "units": {"type": "int", "min": 8, "max": 32, "step": 8},
            "learning_rate": {"type": "float", "min": 1e-3, "max": 3e-2, "sampling": "log"},
            "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
            "momentum": {"type": "float", "min": 0.0, "max": 0.9, "when": {"optimizer": ["sgd"]}},
            "layers": {"type": "fixed", "value": 1},
        },
        "tuner": {"algorithm": "random", "max_trials": 3, "seed": 7},
        "training": {"epochs": 2, "batch_size": 32},
    }
    spec.update(copy.deepcopy(overrides))
    return spec


def read_trials(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "trials.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("algorithm", ["bayesian", "keras_bayesian", "random", "grid", "hyperband"])
def test_each_algorithm_completes_a_small_search(tmp_path: Path, tiny_csv: Path, algorithm: str) -> None:
    space = {
        "units": {"type": "int", "min": 8, "max": 16, "step": 8},
        "optimizer": {"type": "choice", "values": ["adam", "rmsprop"]},
        "layers": {"type": "fixed", "value": 1},
    }
    tuner = {"algorithm": algorithm, "max_trials": 3, "seed": 3}
    spec = tiny_spec(tiny_csv, search_space=space, tuner=tuner)
    result = tune(spec, tmp_path / "run", progress=False)
    rows = read_trials(tmp_path / "run")
    assert result.trials_completed == len([r for r in rows if r["status"] == "COMPLETED"])
    assert 1 <= result.trials_completed <= 3
    if algorithm != "hyperband":
        assert result.trials_completed == 3
    for row in rows:
        assert int(row["units"]) in (8, 16) and row["optimizer"] in ("adam", "rmsprop")
    assert result.best_hyperparameters["units"] in (8, 16)
    assert (tmp_path / "run" / "best_model.keras").exists()


def test_conditional_parameter_absent_when_inactive(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tiny_spec(tiny_csv, tuner={"algorithm": "random", "max_trials": 6, "seed": 11})
    tune(spec, tmp_path / "run", progress=False)
    rows = read_trials(tmp_path / "run")
    assert {r["optimizer"] for r in rows} == {"adam", "sgd"}, "seed 11 should draw both optimizers"
    for row in rows:
        if row["optimizer"] == "adam":
            assert row["momentum"] == ""
        else:
            assert 0.0 <= float(row["momentum"]) <= 0.9
    state = json.loads((tmp_path / "run" / "state" / "trial_0" / "trial.json").read_text())
    values = state["hyperparameters"]["values"]
    assert ("momentum" in values) == (values["optimizer"] == "sgd")


def test_outputs_reload_and_values_within_ranges(tmp_path: Path, tiny_csv: Path) -> None:
    import keras

    run_dir = tmp_path / "run"
    result = tune(tiny_spec(tiny_csv), run_dir, progress=False)
    for name in ("best_hyperparameters.json", "best_model.keras", "trials.csv", "report.html", "run.json", "spec.json"):
        assert (run_dir / name).is_file(), name
    best = json.loads((run_dir / "best_hyperparameters.json").read_text())
    assert best["spec_hash"] == load_spec(tiny_spec(tiny_csv)).spec_hash
    assert best["values"] == result.best_hyperparameters
    assert 8 <= best["values"]["units"] <= 32 and best["values"]["units"] % 8 == 0
    assert 1e-3 <= best["values"]["learning_rate"] <= 3e-2
    rows = read_trials(run_dir)
    assert max(float(r["objective"]) for r in rows) == pytest.approx(best["objective"]["value"])
    model = keras.models.load_model(run_dir / "best_model.keras")
    x = np.loadtxt(tiny_csv, delimiter=",", skiprows=1, max_rows=5)[:, :-1].astype("float32")
    predictions = model.predict(x, verbose=0)
    assert predictions.shape == (5, 10)
    assert np.allclose(predictions.sum(axis=1), 1.0, atol=1e-4)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["trials"]["completed"] == 3 and record["spec_hash"] == best["spec_hash"]
    assert record["keras"] and record["keras_tuner"] == "1.4.8" and record["seeds"]["search"] == 7
    assert record["data"][0]["sha256"] and record["ended_at"]
    assert "layers" not in record["undeclared_hyperparameters"]["values"]
    assert "dropout" in record["undeclared_hyperparameters"]["values"]
    html = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html.replace("http://www.w3.org", "")


def test_user_build_model_from_file_runs_unchanged(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tiny_spec(
        tiny_csv,
        model=str(ROOT / "examples" / "user_model.py") + ":build_model",
        search_space={"first_hidden": {"type": "int", "min": 64, "max": 128, "step": 64}},
    )
    result = tune(spec, tmp_path / "run", progress=False)
    rows = read_trials(tmp_path / "run")
    # The spec's range wins over build_model's own 32..256: only 64 and 128 are ever tried.
    assert {int(r["first_hidden"]) for r in rows} <= {64, 128}
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    undeclared = record["undeclared_hyperparameters"]["values"]
    assert {"dropout", "learning_rate", "second_layer"} <= set(undeclared)
    # Not tuned: every trial ran build_model's defaults for the names the spec left out.
    assert {r["dropout"] for r in rows} == {str(undeclared["dropout"])}
    assert result.trials_completed == 3


def test_nan_trials_are_failed_and_the_search_goes_on(tmp_path: Path, tiny_csv: Path) -> None:
    model_file = tmp_path / "exploding.py"
    model_file.write_text(
        "import keras\n"
        "def build_model(hp):\n"
        "    model = keras.Sequential([keras.Input(shape=(64,)),\n"
        "        keras.layers.Rescaling(1e30 if hp.Boolean('explode') else 1 / 16),\n"
        "        keras.layers.Dense(hp.Choice('units', [8, 16]), activation='relu'),\n"
        "        keras.layers.Dense(10, activation='softmax')])\n"
        "    model.compile(optimizer=keras.optimizers.SGD(1e30 if hp.get('explode') else 0.05),\n"
        "                  loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n"
        "    return model\n"
    )
    spec = tiny_spec(
        tiny_csv,
        model=f"{model_file}:build_model",
        search_space={"explode": {"type": "boolean"}, "units": {"type": "choice", "values": [8, 16]}},
        tuner={"algorithm": "grid", "max_trials": 4, "seed": 1},
    )
    result = tune(spec, tmp_path / "run", progress=False)
    rows = read_trials(tmp_path / "run")
    statuses = {(r["explode"], r["status"]) for r in rows}
    assert ("True", "FAILED") in statuses and ("False", "COMPLETED") in statuses
    assert result.trials_failed == 2 and result.trials_completed == 2
    assert result.best_hyperparameters["explode"] is False


def test_wall_clock_budget_stops_with_all_outputs(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tiny_spec(tiny_csv, tuner={"algorithm": "random", "max_trials": 10, "seed": 2}, budget={"max_wall_seconds": 0.5})
    result = tune(spec, tmp_path / "run", progress=False)
    assert result.trials_completed == 1
    assert "max_wall_seconds" in result.stopped_because
    for name in ("best_hyperparameters.json", "best_model.keras", "trials.csv", "report.html", "run.json"):
        assert (tmp_path / "run" / name).is_file()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["stopped_because"] == result.stopped_because


def test_objective_goal_stops_the_search(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tiny_spec(tiny_csv, tuner={"algorithm": "random", "max_trials": 10, "seed": 2}, budget={"objective_goal": 0.0})
    result = tune(spec, tmp_path / "run", progress=False)
    assert result.trials_completed == 1 and "objective_goal" in result.stopped_because


def test_changed_spec_resume_refused_then_fresh_starts_over(tmp_path: Path, tiny_csv: Path) -> None:
    run_dir = tmp_path / "run"
    spec = tiny_spec(tiny_csv, tuner={"algorithm": "random", "max_trials": 1, "seed": 5})
    tune(spec, run_dir, progress=False)
    changed = copy.deepcopy(spec)
    changed["search_space"]["units"]["max"] = 64
    with pytest.raises(ResumeError, match=r"search_space\.units\.max.*--fresh"):
        tune(changed, run_dir, progress=False)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    cli = CliRunner().invoke(app, ["tune", str(path), "--output", str(run_dir), "-q"])
    assert cli.exit_code == 3 and cli.output.startswith("error: ") and "--fresh" in cli.output
    # More trials on the same search is a resume, not a change.
    more = copy.deepcopy(spec)
    more["tuner"]["max_trials"] = 2
    assert tune(more, run_dir, progress=False).trials_completed == 2
    fresh = tune(changed, run_dir, fresh=True, progress=False)
    assert fresh.trials_completed == 1


def test_objective_metric_not_reported_is_a_spec_error(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tiny_spec(tiny_csv, objective={"metric": "val_f1", "direction": "max"})
    with pytest.raises(SpecError, match=r"objective\.metric: 'val_f1' is not reported.*val_accuracy"):
        tune(spec, tmp_path / "run", progress=False)
    # Found by the build check before trial 1: nothing ran, the spec is not pinned to the output.
    assert not (tmp_path / "run" / "spec.json").exists()
    assert not (tmp_path / "run" / "state" / "kftune_state.json").exists()


def test_warm_start_reevaluates_previous_best_first(tmp_path: Path, tiny_csv: Path) -> None:
    first = tune(tiny_spec(tiny_csv, tuner={"algorithm": "random", "max_trials": 3, "seed": 4}), tmp_path / "a", progress=False)
    previous = sorted(read_trials(tmp_path / "a"), key=lambda r: -float(r["objective"]))
    changed_space = tiny_spec(tiny_csv)["search_space"]
    changed_space["units"] = {"type": "int", "min": 8, "max": 16, "step": 8}  # narrowed: 24/32 get clipped
    spec = tiny_spec(
        tiny_csv,
        search_space=changed_space,
        tuner={"algorithm": "bayesian", "max_trials": 3, "seed": 9},
        warm_start={"from": str(tmp_path / "a"), "top_k": 2},
    )
    tune(spec, tmp_path / "b", progress=False)
    rows = read_trials(tmp_path / "b")
    assert rows[0]["optimizer"] == previous[0]["optimizer"]
    assert math.isclose(float(rows[0]["learning_rate"]), float(previous[0]["learning_rate"]), rel_tol=1e-9)
    assert int(rows[0]["units"]) == min(int(previous[0]["units"]), 16)
    record = json.loads((tmp_path / "b" / "run.json").read_text())["warm_start"]
    assert record["found"] and record["reevaluated"] == 2 and record["prior_observations"] == 3
    assert first.best_hyperparameters["optimizer"] == previous[0]["optimizer"]


def test_warm_start_from_missing_run_is_a_cold_start(tmp_path: Path, tiny_csv: Path) -> None:
    spec = tiny_spec(tiny_csv, tuner={"algorithm": "random", "max_trials": 1, "seed": 4})
    result = tune(spec, tmp_path / "b", warm_start=str(tmp_path / "never-ran"), progress=False)
    assert result.trials_completed == 1
    assert json.loads((tmp_path / "b" / "run.json").read_text())["warm_start"]["found"] is False
