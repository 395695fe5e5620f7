"""The KFP components, the tune -> train pipeline and `kftune pipeline ...`, compiled with the real
kfp compiler; submit/schedule tested up to the remote call (a fake client records the call).

No TensorFlow and no pipeline runs here (those are in test_pipeline_local.py).
"""

from __future__ import annotations

import inspect
import re
import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import create_autospec

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


def all_tasks(doc: dict) -> dict[str, dict]:
    """Every task of the pipeline, in the root DAG and in every sub-DAG (branches, loops)."""
    found = dict(doc["root"]["dag"]["tasks"])
    for component in doc["components"].values():
        found.update(component.get("dag", {}).get("tasks", {}))
    return found


def _task(doc: dict, name: str) -> dict:
    return all_tasks(doc)[name]


# --------------------------------------------------------------------------- components


@pytest.mark.parametrize("name", ["tune", "tune_worker", "train", "gate"])
def test_shipped_component_yaml_matches_the_code_and_names_the_versioned_image(tmp_path: Path, name: str) -> None:
    from kftune_kfp.components.__main__ import write_all

    write_all(tmp_path)
    fresh = _load(tmp_path / name / "component.yaml")
    shipped = _load(ROOT / "components" / name / "component.yaml")
    assert shipped == fresh, f"components/{name}/component.yaml is stale: run python -m kftune_kfp.components"
    for generated in ("README.md", "metadata.yaml"):  # the README per component and its metadata
        assert (ROOT / "components" / name / generated).read_text() == (tmp_path / name / generated).read_text(), \
            f"components/{name}/{generated} is stale: run python -m kftune_kfp.components"
    meta = yaml.safe_load((ROOT / "components" / name / "metadata.yaml").read_text())
    assert meta["version"] == package_version() and meta["image"] == IMAGE
    readme = (ROOT / "components" / name / "README.md").read_text()
    for key in [*fresh_spec_inputs(fresh), *fresh.get("outputDefinitions", {}).get("artifacts", {})]:
        assert f"| `{key}` |" in readme, key
    container = _executor(fresh, f"kftune-{name.replace('_', '-')}")
    assert container["image"] == IMAGE
    # kfp is in the image: the command must not pip-install it at run time (no network, non-root user)
    assert "pip install" not in " ".join(container["command"])
    assert re.search(r"from kftune_kfp.components import (_outputs, )?_runtime", container["command"][-1])


def fresh_spec_inputs(doc: dict) -> list[str]:
    inputs = doc.get("inputDefinitions", {})
    return [*inputs.get("parameters", {}), *inputs.get("artifacts", {})]


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
    assert types["trials_parquet"].startswith("system.Dataset")
    assert types["summary"].startswith("system.Markdown")
    assert spec.inputs["role"].default == "" and spec.inputs["workers"].default == 0
    assert types["best_hyperparameters_dict"] == "Dict"
    assert types["best_objective"] == "Float"


# --------------------------------------------------------------------------- pipeline


def test_pipeline_compiles_with_gpu_resources_placement_and_retries(tmp_path: Path) -> None:
    """Kubeflow: the accelerator type is the resource name and the GKE type a node selector.

    The Kubeflow v2 driver copies the type verbatim into the pod's limits (kubeflow/pipelines
    backend/src/v2/driver/driver.go: ``res.Limits[k8score.ResourceName(acceleratorType)] = q``); the
    old ``resourceType == "nvidia-l4"`` asked for a resource no node has, and the pod never scheduled.
    """
    options = PipelineOptions(
        image="registry.example/kftune:test",
        gpu_type="l4",
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
        assert res["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert res["accelerator"]["resourceCount"] == "2"
        assert driver_limits(res) == {"nvidia.com/gpu": "2", "cpu": "8", "memory": "32G"}
        assert res["resourceCpuLimit"] == res["resourceCpuRequest"] == "8"
        assert res["resourceMemoryLimit"] == res["resourceMemoryRequest"] == "32G"
    assert "resources" not in _executor(doc, "kftune-gate")
    platform = doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for executor in ("exec-kftune-tune", "exec-kftune-train"):
        k8s = platform[executor]
        assert k8s["nodeSelector"]["labels"] == {"cloud.google.com/gke-nodepool": "gpu-pool",
                                                 "cloud.google.com/gke-accelerator": "nvidia-l4"}
        assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in k8s["tolerations"]
        assert {"key": "spot", "operator": "Exists", "effect": "NoExecute"} in k8s["tolerations"]
    tune = _task(doc, "kftune-tune")
    assert tune["retryPolicy"]["maxRetryCount"] == 3
    assert _task(doc, "kftune-train")["retryPolicy"]["maxRetryCount"] == 3


def driver_limits(resources: dict) -> dict:
    """The pod's resource limits as the Kubeflow v2 driver builds them from the IR
    (backend/src/v2/driver/driver.go, initPodSpecPatch): the accelerator's resourceType is used
    verbatim as the limit's resource name."""
    limits = {}
    acc = resources.get("accelerator") or {}
    if acc.get("resourceType") and acc.get("resourceCount"):
        limits[acc["resourceType"]] = acc["resourceCount"]
    if resources.get("resourceCpuLimit"):
        limits["cpu"] = resources["resourceCpuLimit"]
    if resources.get("resourceMemoryLimit"):
        limits["memory"] = resources["resourceMemoryLimit"]
    return limits


def test_tune_task_state_is_keyed_by_job_and_never_cached(tmp_path: Path) -> None:
    doc = _load(compile_pipeline(tmp_path / "p.yaml"))
    tunes = [t for name, t in all_tasks(doc).items() if name.startswith("kftune-tune")]
    assert len(tunes) == 2  # one per validation branch (an imported validation Dataset, or the split)
    for tune in tunes:
        assert tune["cachingOptions"].get("enableCache", False) is False
        params = tune["inputs"]["parameters"]
        assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
        assert params["task_name"]["runtimeValue"]["constant"] == "{{$.pipeline_task_name}}"
        assert params["pipeline_root"]["runtimeValue"]["constant"] == "{{$.pipeline_root}}"
        assert params["spec"]["componentInputParameter"].startswith("pipelinechannel--spec")
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
    # a number (NUMBER_DOUBLE), optional: none means "always train"
    assert params["objective_threshold"] == {**params["objective_threshold"], "parameterType": "NUMBER_DOUBLE", "isOptional": True}
    assert "defaultValue" not in params["objective_threshold"]


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
        ["compile", "-o", str(out), "--gpu", "t4", "--gpus", "1", "--cpu", "4", "--memory", "16G",
         "--node-selector", "pool=gpu", "--toleration", "nvidia.com/gpu:NoSchedule", "--retries", "1",
         "--image", "example.com/kftune:dev", "--spec", str(_spec_file(tmp_path))],
    )
    assert result.exit_code == 0, result.output
    doc = _load(out)
    res = _executor(doc, "kftune-tune")["resources"]
    assert (res["accelerator"]["resourceType"], res["accelerator"]["resourceCount"]) == ("nvidia.com/gpu", "1")
    selector = doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-kftune-tune"]["nodeSelector"]
    assert selector["labels"] == {"pool": "gpu", "cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
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


# The fakes are built from the real classes (create_autospec): a call with a renamed or unknown
# argument fails here exactly as it would against kfp.Client / aiplatform.PipelineJob.


def fake_kfp_client(state: str = "SUCCEEDED"):
    import kfp

    client = create_autospec(kfp.Client, instance=True)
    client.create_run_from_pipeline_package.return_value = SimpleNamespace(run_id="run-123")
    client.create_experiment.return_value = SimpleNamespace(experiment_id="exp-1")
    client.create_recurring_run.return_value = SimpleNamespace(recurring_run_id="rr-7")
    client.wait_for_run_completion.return_value = SimpleNamespace(state=state)
    client.upload_pipeline.return_value = SimpleNamespace(pipeline_id="pl-1")
    return client


def fake_aiplatform(state: str = "PIPELINE_STATE_SUCCEEDED"):
    from google.cloud import aiplatform

    job_class = create_autospec(aiplatform.PipelineJob)
    job = job_class.return_value
    job.resource_name = "projects/p/locations/r/pipelineJobs/j1"
    job.name = "j1"
    job.state = SimpleNamespace(name=state)
    job.create_schedule.return_value = SimpleNamespace(resource_name="projects/p/locations/r/schedules/s1")
    return SimpleNamespace(PipelineJob=job_class, job=job)


def bound(method, call) -> dict:
    """The call's arguments bound by name against the real signature (raises TypeError on a mismatch)."""
    args = inspect.signature(method).bind(None, *call.args, **call.kwargs)
    args.apply_defaults()
    return dict(args.arguments)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return compile_pipeline(tmp_path / "pipeline.yaml")


@pytest.fixture
def vertex_package(tmp_path: Path) -> Path:
    return compile_pipeline(tmp_path / "vertex.yaml", PipelineOptions(target="vertex"))


def test_kfp_client_gets_only_what_was_given_so_kfp_detects_the_rest(monkeypatch) -> None:
    """No host: kfp.Client's own detection (KF_PIPELINES_ENDPOINT, the in-cluster service-account
    token, the kube config) is not defeated; the profile namespace is not kfp.Client's `namespace`
    (that one is where kfp is installed, used for its in-cluster address)."""
    import kfp

    from kftune_kfp.pipelines.backends import Kubeflow

    assert Kubeflow(namespace="team-a").client_kwargs() == {}
    conn = Kubeflow(host="https://kf.example/pipeline", existing_token="t", cookies="authservice_session=x",
                    client_id="iap-id", other_client_id="desk", other_client_secret="s", ssl_ca_cert="/ca.pem",
                    ui_host="https://kf.example", verify_ssl=True, kube_context="ctx", namespace="team-a")
    kwargs = conn.client_kwargs()
    inspect.signature(kfp.Client).bind(**kwargs)  # every option is one of kfp.Client's own arguments
    assert "namespace" not in kwargs and kwargs["existing_token"] == "t"
    made = []
    monkeypatch.setattr(kfp, "Client", lambda **kw: made.append(kw) or "client")
    from kftune_kfp.pipelines import backends

    assert backends.make_kfp_client(Kubeflow()) == "client" and made == [{}]


def test_submit_to_kubeflow_passes_the_validated_spec(tmp_path: Path, package: Path, monkeypatch) -> None:
    client = fake_kfp_client()
    conns = []
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda conn: conns.append(conn) or client)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["submit", str(package), "--spec", str(_spec_file(tmp_path)), "--host", "https://kf.example/pipeline",
         "--namespace", "team-a", "--experiment", "tuning", "--objective-threshold", "0.9",
         "--service-account", "kftune-runner", "--state-root", "gs://b/state", "--existing-token", "tok"],
    )
    assert result.exit_code == 0, result.output
    assert "run-123" in result.output and "https://kf.example/pipeline/#/runs/details/run-123" in result.output
    assert conns[0].client_kwargs() == {"host": "https://kf.example/pipeline", "existing_token": "tok"}
    (call,) = client.create_run_from_pipeline_package.call_args_list
    kwargs = bound(_real_kfp_method("create_run_from_pipeline_package"), call)
    assert kwargs["pipeline_file"] == str(package)
    params = kwargs["arguments"]
    assert json.loads(params["spec"])["search_space"]["units"]["min"] == 16  # an int, sent as JSON text
    assert params["train_uri"] == "gs://bucket/digits.csv"
    assert params["objective_threshold"] == 0.9 and params["state_root"] == "gs://b/state"
    assert kwargs["experiment_name"] == "tuning" and kwargs["namespace"] == "team-a"
    assert kwargs["enable_caching"] is None  # compiled settings stand: tune never cached
    assert kwargs["service_account"] == "kftune-runner"
    client.wait_for_run_completion.assert_not_called()


def _real_kfp_method(name: str):
    import kfp

    return getattr(kfp.Client, name)


@pytest.mark.parametrize(("state", "code"), [("SUCCEEDED", 0), ("FAILED", 1)])
def test_submit_wait_follows_the_run_and_fails_with_it(tmp_path: Path, package: Path, monkeypatch, state, code) -> None:
    client = fake_kfp_client(state)
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda conn: client)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["submit", str(package), "--spec", str(_spec_file(tmp_path)), "--pipeline-root", "gs://b/root", "--wait",
         "--timeout", "60"],
    )
    assert result.exit_code == code, result.output
    (call,) = client.wait_for_run_completion.call_args_list
    assert bound(_real_kfp_method("wait_for_run_completion"), call)["run_id"] == "run-123"
    if code:
        assert result.output.strip().splitlines()[-1] == f"error: the run ended {state}: see its page for the failed task's log"
    # --pipeline-root gs:// also gives the state a home: a retried tune resumes
    params = client.create_run_from_pipeline_package.call_args.kwargs["arguments"]
    assert params["state_root"] == "gs://b/root"


def test_kubeflow_submit_refuses_a_run_whose_retry_could_not_resume(tmp_path: Path, package: Path, monkeypatch) -> None:
    """kubeflow/pipelines backend/src/v2/driver/resolve.go resolves only the pipeline_job_* and
    pipeline_task_* placeholders: {{$.pipeline_root}} reaches the component as text, so without a
    gs:// state root a retried tune task on a minio-rooted Kubeflow would start over."""
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda conn: pytest.fail("must not reach the client"))
    result = runner.invoke(cli_pipeline.pipeline_app, ["submit", str(package), "--spec", str(_spec_file(tmp_path))])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "--state-root gs://" in result.output and "{{$.pipeline_root}}" in result.output
    no_retries = compile_pipeline(tmp_path / "r0.yaml", PipelineOptions(retries=0))
    client = fake_kfp_client()
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda conn: client)
    ok = runner.invoke(cli_pipeline.pipeline_app, ["submit", str(no_retries), "--spec", str(_spec_file(tmp_path))])
    assert ok.exit_code == 0, ok.output


def test_submit_to_vertex_builds_a_pipeline_job(tmp_path: Path, vertex_package: Path, monkeypatch) -> None:
    from google.cloud import aiplatform

    fake = fake_aiplatform()
    monkeypatch.setattr(cli_pipeline, "load_aiplatform", lambda: fake)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["submit", str(vertex_package), "--spec", str(_spec_file(tmp_path)), "--project", "p", "--region",
         "us-central1", "--pipeline-root", "gs://b/root", "--train-uri", "gs://b/other.csv", "--no-cache",
         "--service-account", "sa@p.iam.gserviceaccount.com", "--network", "projects/1/global/networks/vpc",
         "--label", "team=ml", "--encryption-key", "projects/p/locations/r/keyRings/k/cryptoKeys/c",
         "--experiment", "tuning", "--wait"],
    )
    assert result.exit_code == 0, result.output
    init = bound(aiplatform.PipelineJob.__init__, fake.PipelineJob.call_args)
    assert init["template_path"] == str(vertex_package)
    assert (init["project"], init["location"]) == ("p", "us-central1")
    assert init["pipeline_root"] == "gs://b/root"
    assert init["parameter_values"]["train_uri"] == "gs://b/other.csv"
    assert init["enable_caching"] is False
    assert init["display_name"] == "digits-tiny"
    assert init["labels"] == {"team": "ml"}
    assert init["encryption_spec_key_name"] == "projects/p/locations/r/keyRings/k/cryptoKeys/c"
    submit = bound(aiplatform.PipelineJob.submit, fake.job.submit.call_args)
    assert submit["service_account"] == "sa@p.iam.gserviceaccount.com"
    assert submit["network"] == "projects/1/global/networks/vpc" and submit["experiment"] == "tuning"
    fake.job.wait.assert_called_once_with()
    assert "console.cloud.google.com/vertex-ai/locations/us-central1/pipelines/runs/j1?project=p" in result.output


def test_vertex_wait_exits_non_zero_on_a_failed_job(tmp_path: Path, vertex_package: Path, monkeypatch) -> None:
    fake = fake_aiplatform("PIPELINE_STATE_FAILED")
    fake.job.wait.side_effect = RuntimeError("Job failed with: ...")  # what aiplatform raises
    monkeypatch.setattr(cli_pipeline, "load_aiplatform", lambda: fake)
    result = runner.invoke(cli_pipeline.pipeline_app, ["submit", str(vertex_package), "--spec", str(_spec_file(tmp_path)),
                                                       "--project", "p", "--region", "r", "--wait"])
    assert result.exit_code == 1 and "ended FAILED" in result.output


def test_schedule_kubeflow_warm_starts_each_run_from_the_previous(tmp_path: Path, package: Path, monkeypatch) -> None:
    client = fake_kfp_client()
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda conn: client)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["schedule", str(package), "--spec", str(_spec_file(tmp_path)), "--cron", "0 3 * * *",
         "--latest-uri", "gs://b/kftune/latest", "--host", "http://kf", "--state-root", "gs://b/state",
         "--start-time", "2030-01-01T00:00:00Z", "--end-time", "2031-01-01T00:00:00Z"],
    )
    assert result.exit_code == 0, result.output
    exp = bound(_real_kfp_method("create_experiment"), client.create_experiment.call_args)
    assert exp["name"] == "kftune"
    kwargs = bound(_real_kfp_method("create_recurring_run"), client.create_recurring_run.call_args)
    assert kwargs["experiment_id"] == "exp-1"
    assert kwargs["cron_expression"] == "0 0 3 * * *"  # Kubeflow's 6-field cron
    assert kwargs["max_concurrency"] == 1 and kwargs["no_catchup"] is True
    assert (kwargs["start_time"], kwargs["end_time"]) == ("2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z")
    assert kwargs["params"]["warm_start_uri"] == kwargs["params"]["publish_uri"] == "gs://b/kftune/latest"
    assert kwargs["job_name"] == "kftune-digits-tiny"


def test_schedule_vertex_creates_a_schedule(tmp_path: Path, vertex_package: Path, monkeypatch) -> None:
    from google.cloud import aiplatform

    fake = fake_aiplatform()
    monkeypatch.setattr(cli_pipeline, "load_aiplatform", lambda: fake)
    result = runner.invoke(
        cli_pipeline.pipeline_app,
        ["schedule", str(vertex_package), "--spec", str(_spec_file(tmp_path)), "--cron", "CRON_TZ=Europe/Paris 0 3 * * 1",
         "--latest-uri", "gs://b/latest", "--vertex", "--project", "p", "--region", "europe-west4", "--name", "nightly",
         "--allow-queueing", "--start-time", "2030-01-01T00:00:00Z", "--max-run-count", "10", "--network", "projects/1/global/networks/n"],
    )
    assert result.exit_code == 0, result.output
    init = bound(aiplatform.PipelineJob.__init__, fake.PipelineJob.call_args)
    assert init["parameter_values"]["warm_start_uri"] == "gs://b/latest" and init["display_name"] == "nightly"
    sched = bound(aiplatform.PipelineJob.create_schedule, fake.job.create_schedule.call_args)
    assert sched["cron"] == "CRON_TZ=Europe/Paris 0 3 * * 1" and sched["display_name"] == "nightly"
    assert sched["max_concurrent_run_count"] == 1 and sched["allow_queueing"] is True
    assert sched["start_time"] == "2030-01-01T00:00:00Z" and sched["max_run_count"] == 10
    assert sched["network"] == "projects/1/global/networks/n"


def test_upload_to_artifact_registry_and_to_kubeflow(tmp_path: Path, vertex_package: Path, monkeypatch) -> None:
    from kfp import registry

    client_class = create_autospec(registry.RegistryClient)
    client_class.return_value.upload_pipeline.return_value = ("kftune-tune-and-train", "sha256:abc")
    monkeypatch.setattr(cli_pipeline, "load_registry", lambda: SimpleNamespace(RegistryClient=client_class))
    host = "https://us-central1-kfp.pkg.dev/p/kftune"
    result = runner.invoke(cli_pipeline.pipeline_app, ["upload", str(vertex_package), "--registry", host, "--tag", "latest", "--tag", "v0.1.0"])
    assert result.exit_code == 0, result.output
    assert bound(registry.RegistryClient.__init__, client_class.call_args)["host"] == host
    up = bound(registry.RegistryClient.upload_pipeline, client_class.return_value.upload_pipeline.call_args)
    assert up["file_name"] == str(vertex_package) and up["tags"] == ["latest", "v0.1.0"]
    assert f"{host}/kftune-tune-and-train/latest" in result.output
    client = fake_kfp_client()
    monkeypatch.setattr(cli_pipeline, "make_kfp_client", lambda conn: client)
    result = runner.invoke(cli_pipeline.pipeline_app, ["upload", str(vertex_package), "--namespace", "team-a"])
    assert result.exit_code == 0 and "pl-1" in result.output
    up = bound(_real_kfp_method("upload_pipeline"), client.upload_pipeline.call_args)
    assert up["pipeline_name"] == "kftune-tune-and-train" and up["namespace"] == "team-a"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "http://kf", "--vertex"], "not both"),
        (["--target", "vertex", "--project", "p", "--region", "r"], "compiled for kubeflow"),
        (["--vertex", "--project", "p"], "--region"),
        (["--target", "moon"], "kubeflow or vertex"),
    ],
)
def test_submit_target_errors_are_one_line(tmp_path: Path, package: Path, vertex_package: Path, args, message) -> None:
    pkg = vertex_package if "--region" == message else package
    result = runner.invoke(cli_pipeline.pipeline_app, ["submit", str(pkg), "--spec", str(_spec_file(tmp_path)), *args])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


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
    import google.cloud

    monkeypatch.delattr(google.cloud, "aiplatform", raising=False)  # already imported by another test
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
