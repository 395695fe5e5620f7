"""The tuning spec: every invalid spec gives exit 2 and one line naming the field."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kftune import SpecError, TuningSpec, load_spec
from kftune.cli import app

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "examples" / "data" / "digits.csv")

VALID = {
    "name": "digits-mlp",
    "model": "kftune.hypermodels:mlp_classifier",
    "data": {"train": DIGITS, "validation": None, "validation_split": 0.2, "label": "target", "features": None},
    "objective": {"metric": "val_accuracy", "direction": "max"},
    "search_space": {
        "units": {"type": "int", "min": 32, "max": 256, "step": 32},
        "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
        "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
        "momentum": {"type": "float", "min": 0.0, "max": 0.99, "when": {"optimizer": ["sgd"]}},
        "batch_norm": {"type": "boolean"},
        "activation": {"type": "fixed", "value": "relu"},
    },
    "tuner": {"algorithm": "bayesian", "max_trials": 20, "executions_per_trial": 1, "seed": 42},
    "training": {"epochs": 10, "batch_size": 64, "early_stopping": {"patience": 3}},
    "budget": {"max_wall_seconds": 3600, "objective_goal": 0.98},
}


def with_change(path: str, value: object) -> dict:
    spec = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = spec
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


DELETE = object()
SS = "search_space"

# (change path, new value, the field path the message must name, a word the message must contain)
INVALID = [
    (f"{SS}.learning_rate.min", 0.1, "search_space.learning_rate", "must be < max"),
    (f"{SS}.units.min", 256, "search_space.units", "must be < max"),
    (f"{SS}.units.step", 100, "search_space.units", "step"),
    (f"{SS}.units.step", 0, "search_space.units", "step"),
    (f"{SS}.units.step", 500, "search_space.units", "does not fit"),
    (f"{SS}.learning_rate.min", 0.0, "search_space.learning_rate", "log sampling needs min > 0"),
    (f"{SS}.learning_rate.sampling", "exponential", "search_space.learning_rate.sampling", "linear"),
    (f"{SS}.optimizer.values", [], "search_space.optimizer", "must not be empty"),
    (f"{SS}.optimizer.values", ["adam", "adam"], "search_space.optimizer", "duplicated"),
    (f"{SS}.optimizer.values", ["adam", 3], "search_space.optimizer", "one type"),
    (f"{SS}.optimizer.default", "rmsprop", "search_space.optimizer", "default"),
    (f"{SS}.momentum.when", {"solver": ["sgd"]}, "search_space.momentum.when", "unknown parameter 'solver'"),
    (f"{SS}.momentum.when", {"optimizer": ["rmsprop"]}, "search_space.momentum.when.optimizer", "'rmsprop'"),
    (f"{SS}.momentum.when", {"momentum": [0.5]}, "search_space.momentum.when", "itself"),
    (f"{SS}.units.type", "integer", "search_space.units.type", "unknown value 'integer'"),
    (f"{SS}.units.type", DELETE, "search_space.units.type", "required field is missing"),
    (f"{SS}.units.maximum", 3, "search_space.units.maximum", "unknown key"),
    (f"{SS}.batch_norm.default", "maybe", "search_space.batch_norm.default", "bool"),
    ("tuner.algorithm", "bayes", "tuner.algorithm", "unknown value 'bayes'"),
    ("tuner.alpha", 0.1, "tuner.alpha", "unknown key"),
    ("tuner.max_trials", 0, "tuner.max_trials", "greater than or equal to 1"),
    ("tuner.max_trials", "many", "tuner.max_trials", "integer"),
    ("tuner.seed", -1, "tuner.seed", "greater than or equal to 0"),
    ("training.epochs", 0, "training.epochs", "greater than or equal to 1"),
    ("training.batch_size", 1.5, "training.batch_size", "integer"),
    ("training.early_stopping.patience", -2, "training.early_stopping.patience", "greater than or equal to 0"),
    ("training.optimizer", "adam", "training.optimizer", "unknown key"),
    ("objective.direction", "up", "objective.direction", "'max' or 'min'"),
    ("objective.metric", DELETE, "objective.metric", "required"),
    ("data.validation_split", 1.5, "data.validation_split", "less than 1"),
    ("data.train", DELETE, "data.train", "required"),
    ("data.test", "x.csv", "data.test", "unknown key"),
    ("budget.max_wall_seconds", -5, "budget.max_wall_seconds", "greater than 0"),
    ("model", "kftune.hypermodels.mlp_classifier", "model", "must look like"),
    ("name", "has spaces", "name", "pattern"),
    ("colour", "blue", "colour", "unknown key"),
]


def run_validate(spec: dict, tmp_path: Path) -> tuple[int, str]:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["validate", str(path)])
    return result.exit_code, result.output


def test_valid_spec_validates(tmp_path: Path) -> None:
    code, out = run_validate(VALID, tmp_path)
    assert code == 0, out
    assert "valid" in out


@pytest.mark.parametrize(("change", "value", "field", "word"), INVALID, ids=[f"{c}={v!r}"[:60] for c, v, *_ in INVALID])
def test_invalid_spec_one_line_exit_2(tmp_path: Path, change: str, value: object, field: str, word: str) -> None:
    code, out = run_validate(with_change(change, value), tmp_path)
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2, out
    assert len(lines) == 1, out
    assert lines[0].startswith(f"error: {field}:"), lines[0]
    assert word in lines[0], lines[0]


def test_grid_needs_finite_floats(tmp_path: Path) -> None:
    spec = with_change("tuner", {"algorithm": "grid", "max_trials": 4})
    code, out = run_validate(spec, tmp_path)
    assert code == 2 and "error: search_space.learning_rate:" in out and "grid" in out


def test_condition_cycle_rejected(tmp_path: Path) -> None:
    spec = copy.deepcopy(VALID)
    spec[SS]["a"] = {"type": "choice", "values": [1, 2], "when": {"b": [1]}}
    spec[SS]["b"] = {"type": "choice", "values": [1, 2], "when": {"a": [1]}}
    code, out = run_validate(spec, tmp_path)
    assert code == 2 and "cycle" in out


@pytest.mark.parametrize(
    ("spec_change", "needle"),
    [
        (("data.train", "/nonexistent/train.csv"), "/nonexistent/train.csv"),
        (("data.validation", "/nonexistent/val.csv"), "/nonexistent/val.csv"),
        (("model", "no_such_module_xyz:build_model"), "no_such_module_xyz"),
        (("model", "kftune.hypermodels:no_such_builder"), "no_such_builder"),
        (("model", "missing/file.py:build_model"), "missing/file.py"),
    ],
)
def test_missing_files_and_model_refs(tmp_path: Path, spec_change: tuple[str, str], needle: str) -> None:
    code, out = run_validate(with_change(*spec_change), tmp_path)
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2, out
    assert len(lines) == 1 and needle in lines[0], out


def test_unreadable_spec_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "not valid YAML" in result.output
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "absent.yaml: spec file not found" in result.output
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    result = CliRunner().invoke(app, ["validate", str(listy)])
    assert result.exit_code == 2 and "mapping" in result.output


def test_json_string_dict_and_file_load_the_same(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(VALID))
    a, b, c = load_spec(VALID), load_spec(json.dumps(VALID)), load_spec(path)
    assert a.spec_hash == b.spec_hash == c.spec_hash
    assert isinstance(a, TuningSpec) and a.search_space["units"].step == 32


def test_spec_hash_ignores_budget_and_max_trials_but_not_the_space() -> None:
    base = load_spec(VALID)
    assert load_spec(with_change("tuner.max_trials", 50)).spec_hash == base.spec_hash
    assert load_spec(with_change("budget.max_wall_seconds", 60)).spec_hash == base.spec_hash
    assert load_spec(with_change(f"{SS}.units.max", 512)).spec_hash != base.spec_hash


def test_direction_inferred_from_metric_name() -> None:
    assert load_spec(with_change("objective", {"metric": "val_loss"})).objective.direction == "min"
    assert load_spec(with_change("objective", {"metric": "val_auc"})).objective.direction == "max"


def test_load_spec_raises_spec_error_as_value_error() -> None:
    with pytest.raises(ValueError, match=r"search_space\.units: min \(256\) must be < max \(256\)"):
        load_spec(with_change(f"{SS}.units.min", 256))
    assert issubclass(SpecError, ValueError)


def test_schema_and_validate_do_not_import_tensorflow(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(VALID))
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kftune.cli import app\n"
        "r = CliRunner()\n"
        f"assert r.invoke(app, ['validate', {str(path)!r}]).exit_code == 0\n"
        "out = r.invoke(app, ['schema']).output\n"
        "import json; assert 'search_space' in json.loads(out)['properties']\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_tuner', 'kfp') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
