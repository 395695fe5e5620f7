"""The components and the tune -> train pipeline run for real with ``kfp.local``
(``SubprocessRunner(use_venv=False)``: the same lightweight components the cluster runs on the image,
here importing the installed kftune) on the demo data (examples/data/digits.csv).

- the whole pipeline: every output exists, train got exactly the tuned values, its model loads and
  predicts, metrics and report are well formed, results are published to gs:// (emulator);
- a tune task killed after its first trial and run again with the same gs:// state_uri on a fresh
  "pod" (empty local cache) resumes instead of starting over;
- a bad spec fails the tune task at its start with one line.

About 1.5-2 minutes: each task is a subprocess that imports TensorFlow.
"""

# No `from __future__ import annotations`: kfp reads the pipeline signature's real types.
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("kfp", reason="needs the pipelines extra: pip install -e '.[pipelines]'")

from kfp import dsl, local  # noqa: E402
from kfp.dsl import Dataset  # noqa: E402

from kftune_kfp.components import tune_component  # noqa: E402
from kftune_kfp.pipelines.tune_and_train import build_pipeline  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "data" / "digits.csv"
BUCKET = "kftune-test"


def tiny_spec(max_trials: int = 2, **changes) -> dict:
    spec = {
        "name": "digits-kfp",
        "model": "kftune.hypermodels:mlp_classifier",
        "data": {"train": str(DIGITS), "label": "target"},
        "objective": {"metric": "val_accuracy", "direction": "max"},
        "search_space": {
            "units": {"type": "int", "min": 16, "max": 64, "step": 16},
            "layers": {"type": "fixed", "value": 1},
            "learning_rate": {"type": "float", "min": 1.0e-3, "max": 1.0e-2, "sampling": "log"},
        },
        "tuner": {"algorithm": "random", "max_trials": max_trials, "seed": 7},
        "training": {"epochs": 2, "batch_size": 64},
    }
    spec.update(changes)
    return spec


@dsl.pipeline(name="kftune-tune-only")
def tune_only(spec: str, train_uri: str, state_uri: str = ""):
    """importer -> tune: a component's Input[Dataset] can only be fed inside a pipeline under kfp.local."""
    data = dsl.importer(artifact_uri=train_uri, artifact_class=Dataset, reimport=False)
    tune_component(spec=spec, train_data=data.output, state_uri=state_uri)


def _init(root: Path, raise_on_error: bool = True) -> None:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=raise_on_error)


def _run_dir(root: Path, pipeline: str) -> Path:
    runs = sorted(root.glob(f"{pipeline}-*"))
    assert runs, f"no {pipeline} run under {root}"
    return runs[-1]


def _task_dir(run: Path, component: str) -> Path:
    """The folder kfp.local gave a task (``kftune-tune``, or ``kftune-tune-2`` in the pipeline's
    validation-split branch)."""
    found = [p for p in run.iterdir() if p.is_dir() and (p.name == component or p.name.startswith(component + "-")
             and p.name[len(component) + 1:].isdigit())]
    assert len(found) == 1, (component, sorted(p.name for p in run.iterdir()))
    return found[0]


def _executor_output(task_dir: Path) -> dict:
    return json.loads((task_dir / "executor_output.json").read_text())


def _artifact(out: dict, name: str) -> dict:
    (artifact,) = out["artifacts"][name]["artifacts"]
    return artifact


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


class _HTMLCheck(HTMLParser):
    """Tags must close in order (void elements aside): enough to call a report well formed."""

    VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


# --------------------------------------------------------------------------- the whole pipeline


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, gcs_emulator) -> dict:
    root = tmp_path_factory.mktemp("kfp-root")
    prefix = f"gs://{BUCKET}/pipeline-{uuid.uuid4().hex[:8]}"
    _init(root)
    spec = tiny_spec()
    started = time.monotonic()
    build_pipeline()(
        spec=json.dumps(spec),
        train_uri=str(DIGITS),
        warm_start_uri=f"{prefix}/latest",  # nothing there yet: the first scheduled run starts cold
        publish_uri=f"{prefix}/latest",
        # a number: kfp.local (kfp 2.17.3) cannot leave an optional parameter unset; the backends can
        objective_threshold=0.0,
    )
    run = _run_dir(root, "kftune-tune-and-train")
    return {"root": root, "run": run, "spec": spec, "latest": f"{prefix}/latest", "seconds": time.monotonic() - started}


def test_every_tune_output_exists_and_is_well_formed(pipeline_run) -> None:
    tune_dir = _task_dir(pipeline_run["run"], "kftune-tune")
    out = _executor_output(tune_dir)
    best = json.loads((tune_dir / "best_hyperparameters").read_text())
    assert best["objective"]["metric"] == "val_accuracy" and best["objective"]["direction"] == "max"
    assert set(pipeline_run["spec"]["search_space"]) <= set(best["values"])
    assert 16 <= best["values"]["units"] <= 64 and isinstance(best["values"]["units"], int)

    assert (tune_dir / "best_model" / "model.keras").stat().st_size > 1000
    assert _artifact(out, "best_model")["metadata"]["file"] == "model.keras"

    rows = _rows((tune_dir / "trials").read_text())
    assert len(rows) == 2 and {r["status"] for r in rows} == {"COMPLETED"}
    assert max(float(r["objective"]) for r in rows) == pytest.approx(best["objective"]["value"])

    metrics = _artifact(out, "metrics")["metadata"]
    assert metrics == {  # named by the objective, as the KFP UI shows it
        "val_accuracy": pytest.approx(best["objective"]["value"]),
        "trials_completed": 2,
        "trials_failed": 0,
    }
    import pandas as pd

    table = pd.read_parquet(tune_dir / "trials_parquet")
    assert list(table["status"]) == ["COMPLETED", "COMPLETED"] and "units" in table.columns
    assert _artifact(out, "trials_parquet")["metadata"] == {"format": "parquet", "rows": 2}
    summary = (tune_dir / "summary").read_text()
    assert f"**best val_accuracy = {best['objective']['value']:.6g}**" in summary and "| units |" in summary
    assert "summary" in out["artifacts"] and "report" in out["artifacts"]
    params = out["parameterValues"]
    assert params["best_objective"] == pytest.approx(best["objective"]["value"])
    assert params["best_hyperparameters_dict"] == best["values"]

    html = (tune_dir / "report").read_text()
    check = _HTMLCheck()
    check.feed(html)
    check.close()
    assert check.errors == [] and check.stack == []
    assert {"html", "head", "body", "table", "img"} <= check.seen
    assert "digits-kfp" in html
    for section in ("Optimization history", "Parameter importances", "Parallel coordinates", "Slice plots",
                    "Learning curves", "Top trials"):
        assert f">{section}" in html, section


def test_train_received_exactly_the_tuned_values_and_its_model_predicts(pipeline_run) -> None:
    run = pipeline_run["run"]
    best = json.loads((_task_dir(run, "kftune-tune") / "best_hyperparameters").read_text())
    assert json.loads((_task_dir(run, "kftune-gate") / "executor_output.json").read_text())["parameterValues"]["Output"] is True
    train_dir = _task_dir(run, "kftune-train")
    out = _executor_output(train_dir)
    assert json.loads(out["parameterValues"]["hyperparameters_json"]) == best["values"]
    assert json.loads((train_dir / "model" / "hyperparameters.json").read_text()) == best["values"]

    import keras
    import numpy as np

    model = keras.models.load_model(train_dir / "model" / "model.keras")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense[0].units == best["values"]["units"]  # the tuned width, as an int, reached the model
    assert len(dense) == 1 + best["values"]["layers"]
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert lr == pytest.approx(best["values"]["learning_rate"], rel=1e-6)

    rows = np.loadtxt(DIGITS, delimiter=",", skiprows=1, max_rows=8)
    probabilities = model.predict(rows[:, :-1], verbose=0)
    assert probabilities.shape == (8, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

    metrics = _artifact(out, "metrics")["metadata"]
    assert 0.0 <= metrics["val_accuracy"] <= 1.0
    assert _artifact(out, "model")["metadata"] == {"framework": "keras", "file": "model.keras"}


def test_results_are_published_for_the_next_scheduled_run(pipeline_run) -> None:
    from kftune.storage import open_store

    latest = open_store(pipeline_run["latest"])
    names = {info.key for info in latest.list("")}
    assert {"best_hyperparameters.json", "trials.csv", "best_model.keras", "run.json"} <= names
    run_record = json.loads(latest.read_bytes("run.json"))
    assert run_record["warm_start"]["found"] is False  # the first run found nothing at latest: cold start
    tuned = json.loads((_task_dir(pipeline_run["run"], "kftune-tune") / "best_hyperparameters").read_text())
    assert json.loads(latest.read_bytes("best_hyperparameters.json")) == tuned


# --------------------------------------------------------------------------- retry resumes


CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from test_pipeline_local import _init, tune_only
from pathlib import Path
_init(Path({root!r}))
tune_only(spec={spec!r}, train_uri={train!r}, state_uri={state!r})
"""


def test_a_killed_tune_task_resumes_from_its_state_uri(tmp_path: Path, gcs_emulator, monkeypatch) -> None:
    from kftune.storage import open_store

    state_uri = f"gs://{BUCKET}/retry-{uuid.uuid4().hex[:8]}"
    spec = json.dumps(tiny_spec(max_trials=4))
    store = open_store(state_uri)
    code = CHILD.format(tests=str(Path(__file__).parent), root=str(tmp_path / "first"), spec=spec, train=str(DIGITS), state=state_uri)
    env = dict(os.environ, KFTUNE_CACHE_DIR=str(tmp_path / "pod-1"))
    child = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    completed_at_kill: list[dict] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if store.exists("trials.csv"):
                completed_at_kill = [r for r in _rows(store.read_bytes("trials.csv").decode()) if r["status"] == "COMPLETED"]
                if completed_at_kill:
                    break
            time.sleep(0.1)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)  # the "preempted pod": no clean shutdown
        child.wait()
    assert completed_at_kill, "the first attempt synced no completed trial before the deadline"
    assert len(completed_at_kill) < 4, "the first attempt finished before it could be killed"

    # The retry: a new pod (empty local cache) with the same state_uri.
    monkeypatch.setenv("KFTUNE_CACHE_DIR", str(tmp_path / "pod-2"))
    _init(tmp_path / "second")
    tune_only(spec=spec, train_uri=str(DIGITS), state_uri=state_uri)

    final = _rows(store.read_bytes("trials.csv").decode())
    by_id = {r["trial_id"]: r for r in final}
    for row in completed_at_kill:  # the trials done before the kill are kept, not re-run
        assert by_id[row["trial_id"]] == {**row, "best_so_far": by_id[row["trial_id"]]["best_so_far"]}
    assert sum(r["status"] == "COMPLETED" for r in final) == 4  # max_trials in total, not 4 more
    record = json.loads(store.read_bytes("run.json"))
    assert record["trials"]["resumed"] >= len(completed_at_kill)
    out = _executor_output(_run_dir(tmp_path / "second", "kftune-tune-only") / "kftune-tune")
    assert out["parameterValues"]["output_uri"] == state_uri
    assert _artifact(out, "metrics")["metadata"]["trials_completed"] == 4


# --------------------------------------------------------------------------- bad spec


def test_a_bad_spec_fails_the_tune_task_at_start_with_one_line(tmp_path: Path, capfd) -> None:
    bad = tiny_spec()
    bad["search_space"]["units"] = {"type": "int", "min": 64, "max": 16}
    _init(tmp_path / "root", raise_on_error=False)
    state = tmp_path / "state"
    started = time.monotonic()
    tune_only(spec=json.dumps(bad), train_uri=str(DIGITS), state_uri=str(state))
    elapsed = time.monotonic() - started
    text = capfd.readouterr()
    output = text.out + text.err
    errors = [line.strip() for line in output.splitlines() if "kftune: error:" in line]
    assert errors == ["kftune: error: search_space.units: min (64) must be < max (16)"], output[-3000:]
    assert "Traceback" not in output
    assert "is valid" not in output  # it stopped at validation ...
    assert not state.exists()  # ... before any state, data loading or TensorFlow
    assert "FAILURE" in output
    print(f"bad spec failed in {elapsed:.1f}s")
