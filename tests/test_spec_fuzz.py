"""Property tests of the spec loader and ``kftune validate``: whatever the input, exit 0 or exit 2
with one line, never a traceback.

Inputs: generated valid specs, and mutations of them (a value replaced by one of the wrong type or
out of range, a key deleted, an unknown key added), text edits of a valid YAML file, and random
bytes. The short profile runs in CI (``KFTUNE_FUZZ_EXAMPLES``, default 60 per property); the long
one (10,000 per property) is ``scripts/fuzz-spec``.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kftune import SpecError, TuningSpec, load_spec
from kftune.cli import app

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "examples" / "data" / "digits.csv")
EXAMPLES = int(os.environ.get("KFTUNE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 200,  # CI: the same examples every run; the long profile explores
)

# --------------------------------------------------------------------------- valid specs

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def int_params(draw: Any) -> dict[str, Any]:
    lo = draw(st.integers(-1000, 1000))
    step = draw(st.integers(1, 10))
    n = draw(st.integers(1, 20))
    param: dict[str, Any] = {"type": "int", "min": lo, "max": lo + step * n}
    if draw(st.booleans()):
        param["step"] = step
    return param


@st.composite
def float_params(draw: Any) -> dict[str, Any]:
    log = draw(st.booleans())
    lo = draw(st.floats(1e-6, 1.0) if log else st.floats(-1e3, 1e3))
    hi = lo * draw(st.floats(1.5, 1e3)) if log else lo + draw(st.floats(1e-3, 1e3))
    param: dict[str, Any] = {"type": "float", "min": lo, "max": hi}
    if log:
        param["sampling"] = draw(st.sampled_from(["log", "reverse_log"]))
    return param


scalars = st.one_of(st.integers(-100, 100), st.text(min_size=1, max_size=6), st.floats(-10, 10))
choice_params = st.lists(scalars, min_size=1, max_size=5, unique=True).filter(
    lambda vs: len({type(v) for v in vs}) == 1
).map(lambda vs: {"type": "choice", "values": vs})
params = st.one_of(
    int_params(),
    float_params(),
    choice_params,
    st.just({"type": "boolean"}),
    scalars.map(lambda v: {"type": "fixed", "value": v}),
)
tuners = st.one_of(
    st.fixed_dictionaries({"algorithm": st.just("random"), "max_trials": st.integers(1, 50)}),
    st.fixed_dictionaries({"algorithm": st.just("bayesian")}, optional={"num_initial_points": st.integers(1, 5)}),
    st.fixed_dictionaries({"algorithm": st.just("hyperband")}, optional={"factor": st.integers(2, 4)}),
    st.fixed_dictionaries({"algorithm": st.just("keras_bayesian")}, optional={"alpha": st.floats(1e-6, 1.0)}),
)


@st.composite
def valid_specs(draw: Any) -> dict[str, Any]:
    space = draw(st.dictionaries(names, params, max_size=5))
    return {
        "name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)),
        "model": "kftune.hypermodels:mlp_classifier",
        "data": {"train": DIGITS, "label": "target", "validation_split": draw(st.floats(0.05, 0.5))},
        "objective": {"metric": draw(st.sampled_from(["val_accuracy", "val_loss", "accuracy"]))},
        "search_space": space,
        "tuner": draw(tuners),
        "training": {"epochs": draw(st.integers(2, 20)), "batch_size": draw(st.integers(1, 256))},
        "budget": draw(st.fixed_dictionaries({}, optional={"max_wall_seconds": st.floats(1, 1e5), "objective_goal": st.floats(-1, 1)})),
    }


# --------------------------------------------------------------------------- mutations

weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "s3://b/x.csv", "gs://", "../../etc/passwd", "a" * 300 + ".csv", "x\x00.csv", "1e999"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2), max_leaves=8),
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


@st.composite
def mutated_specs(draw: Any) -> dict[str, Any]:
    spec = copy.deepcopy(draw(valid_specs()))
    for _ in range(draw(st.integers(1, 3))):
        where = paths(spec)
        path = draw(st.sampled_from(where))
        *parents, last = path
        node: Any = spec
        for part in parents:
            node = node[part]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            node[last] = draw(weird)
        elif action == "delete" and isinstance(node, dict):
            del node[last]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.text(min_size=1, max_size=8))] = draw(weird)
    return spec


# --------------------------------------------------------------------------- the property


def check_load(source: Any) -> None:
    try:
        result = load_spec(source)
    except SpecError as exc:
        text = str(exc)
        assert text.strip() and "\n" not in text.strip(), repr(text)
        return
    assert isinstance(result, TuningSpec)


def check_validate(path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    out = result.output
    assert "Traceback" not in out, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), out
    if result.exit_code == 2:
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), out


def dump(spec: Any, path: Path) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(spec, allow_nan=True))  # NaN/Infinity: the loader must refuse them
    else:
        path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    return path


@FUZZ
@given(spec=valid_specs())
def test_generated_valid_specs_load_and_validate(tmp_path_factory: pytest.TempPathFactory, spec: dict[str, Any]) -> None:
    loaded = load_spec(spec)
    assert loaded.spec_hash == load_spec(json.loads(loaded.to_json())).spec_hash  # what run folders keep
    result = CliRunner().invoke(app, ["validate", str(dump(spec, tmp_path_factory.mktemp("v") / "s.yaml"))])
    assert result.exit_code == 0, result.output


@FUZZ
@given(spec=mutated_specs(), suffix=st.sampled_from([".yaml", ".json"]))
def test_mutated_specs_exit_0_or_2_with_one_line(tmp_path_factory: pytest.TempPathFactory, spec: dict[str, Any], suffix: str) -> None:
    check_load(spec)
    check_validate(dump(spec, tmp_path_factory.mktemp("m") / f"s{suffix}"))


@FUZZ
@given(data=st.data())
def test_edited_yaml_text_exit_0_or_2_with_one_line(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    text = yaml.safe_dump(data.draw(valid_specs()))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 8)))
        text = text[:i] + data.draw(st.text(alphabet=st.sampled_from(list(":-[]{},'\"#&*!|>%@` \n\t.0123456789ab")), max_size=6)) + text[j:]
    path = tmp_path_factory.mktemp("t") / "s.yaml"
    path.write_text(text, encoding="utf-8")
    check_validate(path)


@FUZZ
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".yaml", ".json", ".yml"]))
def test_random_bytes_exit_2_with_one_line(tmp_path_factory: pytest.TempPathFactory, raw: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("b") / f"s{suffix}"
    path.write_bytes(raw)
    check_validate(path)


def test_the_long_profile_is_a_script() -> None:
    script = (ROOT / "scripts" / "fuzz-spec").read_text()
    assert "KFTUNE_FUZZ_EXAMPLES=10000" in script and "tests/test_spec_fuzz.py" in script
    assert math.isfinite(EXAMPLES)
