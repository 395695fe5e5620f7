"""The KFP components, the tune -> train pipeline and `kftune pipeline ...`, compiled with the real
kfp compiler; submit/schedule tested up to the remote call (a fake client records the call).

No TensorFlow and no pipeline runs here (those are in test_pipeline_local.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

pytest.importorskip("kfp", reason="needs the pipelines extra: pip install -e '.[pipelines]'")

from typer.testing import CliRunner  # noqa: E402

from kftune.errors import MissingExtraError, SpecError  # noqa: E402
from kftune.results.publish import publish  # noqa: E402
from kftune_kfp.components import _runtime, package_version  # noqa: E402
from kftune_kfp.pipelines import cli as cli_pipeline  # noqa: E402
from kftune_kfp.pipelines.tune_and_train import (  # noqa: E402
    PipelineOptions,
    Toleration,
    compile_pipeline,
    parse_key_values,
)

ROOT = Path(__file__).resolve().parents[1]
IMAGE = f"ghcr.io/kftune/kftune:{package_version()}"
SPEC = {
    "name": "digits-tiny",
    "model": "kftune.hypermodels:mlp_classifier",
    "data": {"train": "gs://bucket/digits.csv", "label": "target"},
    "objective": {"metric": "val_accuracy", "direction": "max"},
    "search_space": {"units": {"type": "int", "min": 16, "max": 64, "step": 16}},
    "tuner": {"algorithm": "random", "max_trials": 2, "seed": 1},
    "training": {"epochs": 2},
}


def _load(path: Path) -> dict:
    """The pipeline spec, with the platform spec (a second YAML document when there is one) merged in."""
    docs = list(yaml.safe_load_all(path.read_text()))
    doc = docs[0]
    for extra in docs[1:]:
        doc.update(extra)
    return doc


def _executor(doc: dict, component: str) -> dict:
    return doc["deploymentSpec"]["executors"][f"exec-{component}"]["container"]


def _task(doc: dict, name: str) -> dict:
    dag = doc["root"]["dag"]["tasks"]
    if name in dag:
        return dag[name]
    for task in dag.values():  # tasks inside the dsl.If sub-DAG
        if "componentRef" in task:
            sub = doc["components"][task["componentRef"]["name"]].get("dag", {}).get("tasks", {})
            if name in sub:
                return sub[name]
    raise KeyError(name)


# --------------------------------------------------------------------------- components


@pytest.mark.parametrize("name", ["tune", "train", "gate"])
def test_shipped_component_yaml_matches_the_code_and_names_the_versioned_image(tmp_path: Path, name: str) -> None:
    from kftune_kfp.components.__main__ import write_all

    write_all(tmp_path)
    fresh = _load(tmp_path / name / "component.yaml")
    shipped = _load(ROOT / "components" / name / "component.yaml")
    assert shipped == fresh, f"components/{name}/component.yaml is stale: run python -m kftune_kfp.components"
    container = _executor(fresh, f"kftune-{name}")
    assert container["image"] == IMAGE
    # kfp is in the image: the command must not pip-install it at run time (no network, non-root user)
    assert "pip install" not in " ".join(container["command"])
    assert "from kftune_kfp.components import _runtime" in container["command"][-1]


def test_tune_component_interface() -> None:
    from kfp import components

    comp = components.load_component_from_file(str(ROOT / "components" / "tune" / "component.yaml"))
    spec = comp.component_spec
    assert spec.inputs["spec"].type == "String"
    assert spec.inputs["train_data"].type.startswith("system.Dataset")
    assert spec.inputs["validation_data"].optional
    for name in ("state_uri", "warm_start_uri", "publish_uri"):
        assert spec.inputs[name].default == ""
    types = {k: v.type for k, v in spec.outputs.items()}
    assert types["best_model"].startswith("system.Model")
    assert types["metrics"].startswith("system.Metrics")
    assert types["report"].startswith("system.HTML")
    assert types["trials"].startswith("system.Dataset")
    assert types["best_hyperparameters_dict"] == "Dict"
    assert types["best_objective"] == "Float"


# --------------------------------------------------------------------------- pipeline


def test_pipeline_compiles_with_gpu_resources_placement_and_retries(tmp_path: Path) -> None:
    options = PipelineOptions(
        image="registry.example/kftune:test",
        gpu_type="nvidia-l4",
        gpus=2,
        cpu="8",
        memory="32G",
        node_selector={"cloud.google.com/gke-nodepool": "gpu-pool"},
        tolerations=(Toleration.parse("nvidia.com/gpu=present:NoSchedule"), Toleration.parse("spot:NoExecute")),
        retries=3,
    )
    doc = _load(compile_pipeline(tmp_path / "p.yaml", options))
    for component in ("kftune-tune", "kftune-train"):
        container = _executor(doc, component)
        assert container["image"] == "registry.example/kftune:test"
        res = container["resources"]
        assert res["accelerator"]["resourceType"] == "nvidia-l4"
        assert res["accelerator"]["resourceCount"] == "2"
        assert res["resourceCpuLimit"] == res["resourceCpuRequest"] == "8"
        assert res["resourceMemoryLimit"] == res["resourceMemoryRequest"] == "32G"
    assert "resources" not in _executor(doc, "kftune-gate")
    platform = doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for executor in ("exec-kftune-tune", "exec-kftune-train"):
        k8s = platform[executor]
        assert k8s["nodeSelector"]["labels"] == {"cloud.google.com/gke-nodepool": "gpu-pool"}
        assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in k8s["tolerations"]
        assert {"key": "spot", "operator": "Exists", "effect": "NoExecute"} in k8s["tolerations"]
    tune = _task(doc, "kftune-tune")
    assert tune["retryPolicy"]["maxRetryCount"] == 3
    assert _task(doc, "kftune-train")["retryPolicy"]["maxRetryCount"] == 3


def test_tune_task_state_is_keyed_by_job_and_never_cached(tmp_path: Path) -> None:
    doc = _load(compile_pipeline(tmp_path / "p.yaml"))
    tune = _task(doc, "kftune-tune")
    assert tune["cachingOptions"].get("enableCache", False) is False
    params = tune["inputs"]["parameters"]
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["task_name"]["runtimeValue"]["constant"] == "{{$.pipeline_task_name}}"
    assert params["pipeline_root"]["runtimeValue"]["constant"] == "{{$.pipeline_root}}"
    assert params["spec"]["componentInputParameter"] == "spec"
    # no accelerator unless asked for
    assert "accelerator" not in _executor(doc, "kftune-tune").get("resources", {})
    assert _executor(doc, "kftune-tune")["image"] == IMAGE
    # train runs only behind the gate and reads the JSON artifact, not the float-mangled dict
    train = _task(doc, "kftune-train")
    assert "best_hyperparameters" in train["inputs"]["artifacts"]
    assert "best_hyperparameters_dict" not in json.dumps(train)


def test_pipeline_parameters_defaults_can_be_baked_in(tmp_path: Path) -> None:
    defaults = {"spec": json.dumps(SPEC), "train_uri": "gs://b/d.csv"}
    doc = _load(compile_pipeline(tmp_path / "p.yaml", parameters=defaults))
    params = doc["root"]["inputDefinitions"]["parameters"]
    assert params["train_uri"]["defaultValue"] == "gs://b/d.csv"
    assert json.loads(params["spec"]["defaultValue"]) == SPEC
    assert params["objective_threshold"]["defaultValue"] == ""


def test_options_and_parsers_reject_bad_input() -> None:
    assert Toleration.parse("nvidia.com/gpu") == Toleration("nvidia.com/gpu", None, None)
    assert Toleration.parse("k=v:NoSchedule").operator == "Equal"
    with pytest.raises(ValueError, match="effect must be one of"):
        Toleration.parse("k=v:Sometimes")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_key_values(["pool"])
    with pytest.raises(ValueError, match="without gpu_type"):
        PipelineOptions(gpus=1)
    assert PipelineOptions(gpu_type="nvidia-tesla-t4").gpu_count == 1
    assert PipelineOptions(gpu_type="nvidia-tesla-t4", gpus=0).gpu_count == 0


# --------------------------------------------------------------------------- runtime helpers (no kfp, no TF)


def test_state_uri_is_stable_per_job_and_task() -> None:
    a = _runtime.resolve_state_uri("", "", "gs://root/pipelines", "job-1", "kftune-tune")
    assert a == "gs://root/pipelines/kftune-state/job-1/kftune-tune"
    assert _runtime.resolve_state_uri("", "", "gs://root/pipelines", "job-1", "kftune-tune") == a  # a retry
    assert _runtime.resolve_state_uri("", "", "gs://root/pipelines", "job-2", "kftune-tune") != a  # a new run
    assert _runtime.resolve_state_uri("", "gs://mine/", "gs://root", "job-1", "t") == "gs://mine/kftune-state/job-1/t"
    assert _runtime.resolve_state_uri("gs://explicit/x/", "gs://mine", "gs://root", "job-1", "t") == "gs://explicit/x"
    # stores kftune cannot write (minio://) or unresolved placeholders: local to the pod
    assert _runtime.resolve_state_uri("", "", "minio://mlpipeline/v2", "job-1", "t") is None
    assert _runtime.resolve_state_uri("", "", "gs://root", "{{$.pipeline_job_uuid}}", "t") is None


def test_data_location_prefers_gs_uri_then_local_path() -> None:
    assert _runtime.data_location(SimpleNamespace(uri="gs://b/d.csv", path="/gcs/b/d.csv")) == "gs://b/d.csv"
    assert _runtime.data_location(SimpleNamespace(uri="minio://b/d.csv", path="/minio/b/d.csv")) == "/minio/b/d.csv"
    assert _runtime.data_location(None) is None


@pytest.mark.parametrize(
    ("direction", "value", "threshold", "passed"),
    [("max", 0.9, "0.8", True), ("max", 0.7, "0.8", False), ("min", 0.2, "0.3", True), ("min", 0.4, "0.3", False),
     ("max", 0.1, "", True)],
)
def test_gate_follows_the_objective_direction(tmp_path: Path, direction, value, threshold, passed) -> None:
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"values": {}, "objective": {"metric": "m", "direction": direction, "value": value}}))
    assert _runtime.gate_step(str(path), threshold) is passed


def test_gate_rejects_a_non_numeric_threshold(tmp_path: Path) -> None:
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"values": {}, "objective": {"metric": "m", "direction": "max", "value": 1.0}}))
    with pytest.raises(SpecError, match="objective_threshold"):
        _runtime.gate_step(str(path), "high")


def test_step_spec_must_be_json_and_valid_and_gets_the_artifact_data() -> None:
    with pytest.raises(SpecError, match="JSON object string"):
        _runtime.load_step_spec("examples/digits.yaml", None, None)
    bad = dict(SPEC, search_space={"units": {"type": "int", "min": 64, "max": 16}})
    with pytest.raises(SpecError, match=r"search_space\.units"):
        _runtime.load_step_spec(json.dumps(bad), None, None)
    spec = _runtime.load_step_spec(json.dumps(SPEC), "/data/train.csv", "gs://b/val.csv")
    assert (spec.data.train, spec.data.validation) == ("/data/train.csv", "gs://b/val.csv")


def test_one_line_errors_exit_with_the_error_code(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        with _runtime.one_line_errors():
            raise SpecError("search_space.units: min (64) must be < max (16)")
    assert exc.value.code == SpecError.exit_code
    assert capsys.readouterr().err == "kftune: error: search_space.units: min (64) must be < max (16)\n"


def test_publish_mirrors_only_result_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "state").mkdir(parents=True)
    (run / "state" / "oracle.json").write_text("{}")
    (run / "trials.csv").write_text("number\n1\n")
    (run / "best_hyperparameters.json").write_text("{}")
    latest = tmp_path / "latest"
    latest.mkdir()
    (latest / "best_model.keras").write_text("from an older run")
    (latest / "README").write_text("not ours")
    assert sorted(publish(run, str(latest))) == ["best_hyperparameters.json", "trials.csv"]
    assert sorted(p.name for p in latest.iterdir()) == ["README", "best_hyperparameters.json", "trials.csv"]


# --------------------------------------------------------------------------- CLI


runner = CliRunner()


def _spec_file(tmp_path: Path, **data) -> Path:
    spec = json.loads(json.dumps(SPEC))
    spec["data"].update(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_cli_compile_writes_what_was_asked(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.yaml"
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["compile", "-o", str(out), "--gpu", "nvidia-tesla-t4", "--gpus", "1", "--cpu", "4", "--memory", "16G",
         "--node-selector", "pool=gpu", "--toleration", "nvidia.com/gpu:NoSchedule", "--retries", "1",
         "--image", "example.com/kftune:dev", "--spec", str(_spec_file(tmp_path))],
    )
    assert result.exit_code == 0, result.output
    doc = _load(out)
    res = _executor(doc, "kftune-tune")["resources"]
    assert (res["accelerator"]["resourceType"], res["accelerator"]["resourceCount"]) == ("nvidia-tesla-t4", "1")
    assert _executor(doc, "kftune-tune")["image"] == "example.com/kftune:dev"
    params = doc["root"]["inputDefinitions"]["parameters"]
    assert params["train_uri"]["defaultValue"] == "gs://bucket/digits.csv"
    assert json.loads(params["spec"]["defaultValue"])["name"] == "digits-tiny"
    assert _task(doc, "kftune-tune")["retryPolicy"]["maxRetryCount"] == 1


def test_cli_compile_bad_option_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(cli_pipeline.pipeline_app, ["compile", "-o", str(tmp_path / "p.yaml"), "--toleration", "=x"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: toleration '=x': expected KEY[=VALUE][:EFFECT], e.g. nvidia.com/gpu=present:NoSchedule"]
    result = runner.invoke(cli_pipeline.pipeline_app, ["compile", "-o", str(tmp_path / "p.yaml"), "--cpu", "four"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1 and "cpu" in result.output.lower()


def test_docs_own_pipeline_example_compiles(tmp_path: Path) -> None:
    """The docs/kubeflow.md snippet that adds the components to your own pipeline works as written."""
    import re

    from kfp import compiler

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "kubeflow.md").read_text(), re.S)
    (block,) = [b for b in blocks if "@dsl.pipeline" in b]
    namespace: dict = {}
    exec(compile(block, "docs/kubeflow.md", "exec", dont_inherit=True), namespace)  # no PEP 563 here
    compiler.Compiler().compile(namespace["my_pipeline"], str(tmp_path / "mine.yaml"))
    assert _executor(_load(tmp_path / "mine.yaml"), "kftune-tune")["image"] == IMAGE


class FakeKfpClient:
    """Records the calls kftune makes on kfp.Client (the remote boundary)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_run_from_pipeline_package(self, *args, **kwargs):
        self.calls.append(("create_run_from_pipeline_package", args, kwargs))
        return SimpleNamespace(run_id="run-123")

    def create_experiment(self, *args, **kwargs):
        self.calls.append(("create_experiment", args, kwargs))
        return SimpleNamespace(experiment_id="exp-1")

    def create_recurring_run(self, *args, **kwargs):
        self.calls.append(("create_recurring_run", args, kwargs))
        return SimpleNamespace(recurring_run_id="rr-7")


class FakeAiplatform:
    """Stands in for the google.cloud.aiplatform module: PipelineJob(...).submit()/create_schedule()."""

    def __init__(self) -> None:
        self.jobs: list[SimpleNamespace] = []
        outer = self

        class PipelineJob:
            def __init__(self, **kwargs) -> None:
                self.kwargs, self.submitted, self.schedule = kwargs, None, None
                self.resource_name = "projects/p/locations/r/pipelineJobs/j1"
                outer.jobs.append(self)

            def submit(self, **kwargs) -> None:
                self.submitted = kwargs

            def create_schedule(self, **kwargs):
                self.schedule = kwargs
                return SimpleNamespace(resource_name="projects/p/locations/r/schedules/s1")

        self.PipelineJob = PipelineJob


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return compile_pipeline(tmp_path / "pipeline.yaml")


def test_submit_to_kubeflow_passes_the_validated_spec(tmp_path: Path, package: Path, monkeypatch) -> None:
    client = FakeKfpClient()
    hosts = []
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda host, ns=None: hosts.append((host, ns)) or client)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["submit", str(package), "--spec", str(_spec_file(tmp_path)), "--host", "https://kf.example/pipeline",
         "--namespace", "team-a", "--experiment", "tuning", "--objective-threshold", "0.9",
         "--service-account", "kftune-runner"],
    )
    assert result.exit_code == 0, result.output
    assert "run-123" in result.output
    assert hosts == [("https://kf.example/pipeline", "team-a")]
    (name, args, kwargs), = client.calls
    assert name == "create_run_from_pipeline_package" and args == (str(package),)
    params = kwargs["arguments"]
    assert json.loads(params["spec"])["search_space"]["units"]["min"] == 16  # an int, sent as JSON text
    assert params["train_uri"] == "gs://bucket/digits.csv"
    assert params["objective_threshold"] == "0.9"
    assert kwargs["experiment_name"] == "tuning" and kwargs["namespace"] == "team-a"
    assert kwargs["enable_caching"] is None  # compiled settings stand: tune never cached
    assert kwargs["service_account"] == "kftune-runner"


def test_submit_to_vertex_builds_a_pipeline_job(tmp_path: Path, package: Path, monkeypatch) -> None:
    fake = FakeAiplatform()
    monkeypatch.setattr(cli_pipeline, "load_aiplatform", lambda: fake)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["submit", str(package), "--spec", str(_spec_file(tmp_path)), "--vertex", "--project", "p", "--region",
         "us-central1", "--pipeline-root", "gs://b/root", "--train-uri", "gs://b/other.csv", "--no-cache"],
    )
    assert result.exit_code == 0, result.output
    (job,) = fake.jobs
    assert job.kwargs["template_path"] == str(package)
    assert (job.kwargs["project"], job.kwargs["location"]) == ("p", "us-central1")
    assert job.kwargs["pipeline_root"] == "gs://b/root"
    assert job.kwargs["parameter_values"]["train_uri"] == "gs://b/other.csv"
    assert job.kwargs["enable_caching"] is False
    assert job.kwargs["display_name"] == "digits-tiny"
    assert job.submitted == {"service_account": None}


def test_schedule_kubeflow_warm_starts_each_run_from_the_previous(tmp_path: Path, package: Path, monkeypatch) -> None:
    client = FakeKfpClient()
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda host, ns=None: client)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["schedule", str(package), "--spec", str(_spec_file(tmp_path)), "--cron", "0 3 * * *",
         "--latest-uri", "gs://b/kftune/latest", "--host", "http://kf"],
    )
    assert result.exit_code == 0, result.output
    assert [c[0] for c in client.calls] == ["create_experiment", "create_recurring_run"]
    kwargs = client.calls[1][2]
    assert kwargs["experiment_id"] == "exp-1"
    assert kwargs["cron_expression"] == "0 0 3 * * *"  # Kubeflow's 6-field cron
    assert kwargs["max_concurrency"] == 1 and kwargs["no_catchup"] is True
    assert kwargs["params"]["warm_start_uri"] == kwargs["params"]["publish_uri"] == "gs://b/kftune/latest"
    assert kwargs["job_name"] == "kftune-digits-tiny"


def test_schedule_vertex_creates_a_schedule(tmp_path: Path, package: Path, monkeypatch) -> None:
    fake = FakeAiplatform()
    monkeypatch.setattr(cli_pipeline, "load_aiplatform", lambda: fake)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["schedule", str(package), "--spec", str(_spec_file(tmp_path)), "--cron", "CRON_TZ=Europe/Paris 0 3 * * 1",
         "--latest-uri", "gs://b/latest", "--vertex", "--project", "p", "--region", "europe-west4", "--name", "nightly"],
    )
    assert result.exit_code == 0, result.output
    (job,) = fake.jobs
    assert job.schedule == {"cron": "CRON_TZ=Europe/Paris 0 3 * * 1", "display_name": "nightly",
                            "max_concurrent_run_count": 1, "service_account": None}
    assert job.kwargs["parameter_values"]["warm_start_uri"] == "gs://b/latest"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "http://kf", "--vertex"], "not both"),
        ([], "where to run"),
        (["--vertex", "--project", "p"], "--region"),
    ],
)
def test_submit_target_errors_are_one_line(tmp_path: Path, package: Path, args, message) -> None:
    result = runner.invoke(cli_pipeline.pipeline_app, ["submit", str(package), "--spec", str(_spec_file(tmp_path)), *args])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


def test_submit_refuses_local_data_and_bad_specs_before_any_call(tmp_path: Path, package: Path, monkeypatch) -> None:
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda *a: pytest.fail("must not reach the client"))
    local = runner.invoke(
        cli_pipeline.pipeline_app,
        ["submit", str(package), "--spec", str(_spec_file(tmp_path, train="data/digits.csv")), "--host", "http://kf"],
    )
    assert local.exit_code == 2 and "--train-uri gs://" in local.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(dict(SPEC, tuner={"algorithm": "annealing"})))
    result = runner.invoke(cli_pipeline.pipeline_app, ["submit", str(package), "--spec", str(bad), "--host", "http://kf"])
    assert result.exit_code == SpecError.exit_code and result.output.startswith("error: tuner")
    missing = runner.invoke(
        cli_pipeline.pipeline_app, ["submit", str(tmp_path / "nope.yaml"), "--spec", str(_spec_file(tmp_path)), "--host", "h"]
    )
    assert missing.exit_code == 2 and "kftune pipeline compile" in missing.output


def test_cron_conversion() -> None:
    assert cli_pipeline.kfp_cron("*/15 * * * *") == "0 */15 * * * *"
    assert cli_pipeline.kfp_cron("30 0 3 * * *") == "30 0 3 * * *"
    with pytest.raises(cli_pipeline.PipelineUsageError, match="5 fields"):
        cli_pipeline.kfp_cron("daily")
    with pytest.raises(cli_pipeline.PipelineUsageError, match="Vertex AI takes 5 fields"):
        cli_pipeline.vertex_cron("0 0 3 * * *")


def test_missing_kfp_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "kfp", None)  # the import machinery then raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'kftune\[pipelines\]'"):
        cli_pipeline.require_kfp()
    result = runner.invoke(cli_pipeline.pipeline_app, ["compile", "-o", "x.yaml"])
    assert result.exit_code == MissingExtraError.exit_code
    assert "kftune[pipelines]" in result.output


def test_missing_aiplatform_names_the_vertex_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.aiplatform", None)
    with pytest.raises(MissingExtraError, match=r"kftune\[vertex\]"):
        cli_pipeline.load_aiplatform()


def test_core_library_never_imports_kfp() -> None:
    code = (
        "import sys, kftune, kftune.cli, kftune.spec, kftune.run.entry, kftune.final\n"
        "bad = sorted(m for m in sys.modules if m == 'kfp' or m.startswith(('kfp.', 'kftune_kfp')))\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- packaging


def test_every_library_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src" / "kftune").rglob("__init__.py")
    }
    found |= {"kftune_kfp.components." + p.parent.name for p in (ROOT / "components").glob("*/__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_installed_wheel_compiles_the_pipeline_outside_the_checkout(tmp_path: Path) -> None:
    """`pip install .` ships kftune_kfp (components + pipelines + component YAML) in the kftune wheel."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            (src / name).write_bytes((ROOT / name).read_bytes())
    for folder in ("src", "components", "pipelines"):
        subprocess.run(["cp", "-r", str(ROOT / folder), str(src / folder)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("kftune-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"kftune_kfp/components/tune/component.yaml", "kftune_kfp/pipelines/tune_and_train.py",
            "kftune_kfp/pipelines/cli.py"} <= names
    assert "kftune_kfp/__init__.py" not in names  # a namespace: nothing else can own kftune_kfp
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True)
    code = (
        "import kftune_kfp.pipelines.tune_and_train as t, kftune_kfp.components as c, kftune_kfp.pipelines.cli as p, sys;"
        "assert c.__file__.startswith(sys.argv[1]) and p.__file__.startswith(sys.argv[1]), (c.__file__, p.__file__);"
        "t.compile_pipeline(sys.argv[2])"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    # -S would drop kfp too; instead run from an empty folder with the wheel's copy first on the path
    subprocess.run([sys.executable, "-c", code, str(target), str(tmp_path / "p.yaml")], check=True, cwd=tmp_path, env=env)
    assert _executor(_load(tmp_path / "p.yaml"), "kftune-tune")["image"] == IMAGE
