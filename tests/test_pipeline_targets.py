"""The pipeline per target (Kubeflow, Vertex AI), with GPUs, pods and state, compiled with the real
kfp compiler; each backend's behaviour is pinned from its own source, named where it is used:

- kubeflow/pipelines backend/src/v2/driver/driver.go (initPodSpecPatch): the accelerator's type is
  copied verbatim into the pod's resource limits;
- kubeflow/pipelines backend/src/v2/driver/resolve.go (resolveInputParameter, RuntimeValue constants):
  only {{$.pipeline_job_name}}, _resource_name, _uuid, {{$.pipeline_task_name}}, _uuid,
  _create_time_utc and _schedule_time_utc are resolved; any other placeholder stays literal text;
- kubeflow/pipelines backend/src/v2/compiler/argocompiler/container.go (addContainerExecutorTemplate):
  the retryStrategy sits on the executor template, so the driver (and the output artifact URIs it
  provisions) runs once per task and every retry attempt gets the same URIs;
- google-cloud-aiplatform ``aiplatform_v1.types.AcceleratorType``: Vertex's accelerator names.

No TensorFlow and no pipeline runs here.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

pytest.importorskip("kfp", reason="needs the pipelines extra: pip install -e '.[pipelines]'")

from typer.testing import CliRunner  # noqa: E402

from kftune_kfp.components import _outputs, _runtime  # noqa: E402
from kftune_kfp.pipelines import accelerators  # noqa: E402
from kftune_kfp.pipelines import cli as cli_pipeline  # noqa: E402
from kftune_kfp.pipelines.tune_and_train import PipelineOptions, compile_pipeline, read_marker  # noqa: E402
from test_components import SPEC as COMPONENTS_SPEC  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_RUN = ROOT / "tests" / "fixtures" / "run_v0_1" / "output"
runner = CliRunner()

# backend/src/v2/driver/resolve.go: the RuntimeValue constants the Kubeflow driver substitutes.
KUBEFLOW_RESOLVED = {
    "{{$.pipeline_job_name}}": "run display name",
    "{{$.pipeline_job_resource_name}}": "run-resource-name",
    "{{$.pipeline_job_uuid}}": "3f6c-run-uuid",
    "{{$.pipeline_task_name}}": None,  # filled per task below
    "{{$.pipeline_task_uuid}}": "42",
    "{{$.pipeline_job_create_time_utc}}": "2030-01-01T00:00:00Z",
    "{{$.pipeline_job_schedule_time_utc}}": "",
}


def load(path: Path) -> dict:
    docs = list(yaml.safe_load_all(path.read_text()))
    doc = docs[0]
    for extra in docs[1:]:
        doc.update(extra)
    return doc


def all_tasks(doc: dict) -> dict[str, dict]:
    found = dict(doc["root"]["dag"]["tasks"])
    for component in doc["components"].values():
        found.update(component.get("dag", {}).get("tasks", {}))
    return found


def executor(doc: dict, name: str) -> dict:
    return doc["deploymentSpec"]["executors"][f"exec-{name}"]


def k8s(doc: dict, name: str) -> dict:
    return doc.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {}).get(f"exec-{name}", {})


def kubeflow_driver_inputs(task: dict, task_name: str, pipeline_params: dict) -> dict:
    """A task's parameter inputs as the Kubeflow driver resolves them (resolve.go)."""
    out = {}
    for name, spec in task["inputs"]["parameters"].items():
        if "runtimeValue" in spec:
            value = spec["runtimeValue"]["constant"]
            if value == "{{$.pipeline_task_name}}":
                value = task_name
            elif value in KUBEFLOW_RESOLVED:
                value = KUBEFLOW_RESOLVED[value]
            out[name] = value  # e.g. {{$.pipeline_root}} stays literal
        elif "componentInputParameter" in spec:
            out[name] = pipeline_params.get(spec["componentInputParameter"].removeprefix("pipelinechannel--"), "")
    return out


# --------------------------------------------------------------------------- GPUs per target


def test_gpu_names_map_to_each_backend() -> None:
    from google.cloud.aiplatform_v1.types import AcceleratorType

    vertex_names = {a.name for a in AcceleratorType}
    for gpu in accelerators.GPUS.values():
        assert gpu.vertex in vertex_names, gpu  # the enum google-cloud-aiplatform sends to Vertex
        kf = accelerators.resolve(gpu.name, "kubeflow")
        assert kf.resource_type == "nvidia.com/gpu" and kf.node_selector == {"cloud.google.com/gke-accelerator": gpu.gke}
        assert accelerators.resolve(gpu.name, "vertex").resource_type == gpu.vertex
        assert accelerators.resolve(gpu.gke, "kubeflow") == kf  # GKE's own spelling works on Kubeflow
    assert accelerators.resolve("amd.com/gpu", "kubeflow").resource_type == "amd.com/gpu"  # raw values kept
    assert accelerators.resolve("NVIDIA_GB200", "vertex").resource_type == "NVIDIA_GB200"


@pytest.mark.parametrize(
    ("target", "gpu", "suggestion"),
    [
        ("kubeflow", "NVIDIA_TESLA_T4", "on Kubeflow use --gpu t4"),
        ("vertex", "nvidia-tesla-t4", "on Vertex AI use --gpu t4 (= NVIDIA_TESLA_T4)"),
        ("vertex", "nvidia.com/gpu", "means nothing to Vertex AI"),
        ("kubeflow", "tesla", "not a GPU kftune knows"),
    ],
)
def test_a_gpu_that_cannot_work_on_the_target_is_refused_with_one_line(tmp_path: Path, target, gpu, suggestion) -> None:
    result = runner.invoke(cli_pipeline.pipeline_app, ["compile", "-o", str(tmp_path / "p.yaml"), "--target", target, "--gpu", gpu])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: --gpu {gpu}: ") and suggestion in line
    assert not (tmp_path / "p.yaml").exists()


def test_vertex_gets_its_accelerator_names_and_no_kubernetes_placement(tmp_path: Path) -> None:
    options = PipelineOptions(target="vertex", gpu_type="a100", gpus=2, cpu="12", memory="85G",
                              node_selector={"pool": "x"})
    doc = load(compile_pipeline(tmp_path / "v.yaml", options))
    res = executor(doc, "kftune-tune")["container"]["resources"]
    assert res["accelerator"]["resourceType"] == "NVIDIA_TESLA_A100" and res["accelerator"]["resourceCount"] == "2"
    assert k8s(doc, "kftune-tune") == {}  # Vertex ignores node selectors and tolerations: none written
    assert read_marker(tmp_path / "v.yaml")["target"] == "vertex"


# --------------------------------------------------------------------------- state and retries


def test_a_retried_kubeflow_tune_task_finds_its_state(tmp_path: Path) -> None:
    """What the tune component sees on Kubeflow: {{$.pipeline_root}} unresolved (resolve.go), the job
    uuid and task name resolved; every attempt of the task gets the same output artifact URIs
    (container.go: Argo retries the executor pod, not the driver)."""
    doc = load(compile_pipeline(tmp_path / "p.yaml"))
    tune = all_tasks(doc)["kftune-tune"]
    seen = kubeflow_driver_inputs(tune, "kftune-tune", {"state_root": ""})
    assert seen["pipeline_root"] == "{{$.pipeline_root}}"
    artifacts = "gs://kfp-root/kftune-tune-and-train/3f6c-run-uuid/kftune-tune/7b1e"
    outputs = {"report": SimpleNamespace(uri=f"{artifacts}/report", path="/gcs/x/report")}
    attempt = lambda: _runtime.resolve_state_uri("", seen["state_root"], seen["pipeline_root"], seen["run_id"],  # noqa: E731
                                                 seen["task_name"], _runtime.artifact_folder(outputs))
    assert attempt() == attempt() == f"{artifacts}/kftune-state"  # the retry resumes
    # with a state_root (submit --state-root, or compiled in) it is keyed by job and task
    seen = kubeflow_driver_inputs(tune, "kftune-tune", {"state_root": "gs://b/state"})
    assert _runtime.resolve_state_uri("", seen["state_root"], seen["pipeline_root"], seen["run_id"], seen["task_name"]) \
        == "gs://b/state/kftune-state/3f6c-run-uuid/kftune-tune"
    # Kubeflow's default minio:// root: kftune cannot write there, so submit refuses (test_components)
    minio = {"report": SimpleNamespace(uri="minio://mlpipeline/v2/artifacts/p/r/kftune-tune/report", path="/minio/x")}
    assert _runtime.resolve_state_uri("", "", seen["pipeline_root"], seen["run_id"], "t", _runtime.artifact_folder(minio)) is None


def test_every_tune_task_is_uncached_retried_and_keyed_by_the_job(tmp_path: Path) -> None:
    doc = load(compile_pipeline(tmp_path / "p.yaml", PipelineOptions(retries=4)))
    tunes = {n: t for n, t in all_tasks(doc).items() if n.startswith("kftune-tune")}
    assert set(tunes) == {"kftune-tune", "kftune-tune-2"}
    for task in tunes.values():
        assert task["cachingOptions"] == {}  # enableCache absent = false
        assert task["retryPolicy"]["maxRetryCount"] == 4
        assert task["inputs"]["parameters"]["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"


def test_validation_data_is_an_imported_dataset_when_given(tmp_path: Path) -> None:
    doc = load(compile_pipeline(tmp_path / "p.yaml"))
    tasks = all_tasks(doc)
    branches = tasks["condition-branches-1"]
    assert branches["componentRef"]["name"] == "comp-condition-branches-1"
    importer = executor(doc, "importer-2")["importer"]
    assert importer["typeSchema"]["schemaTitle"] == "system.Dataset"
    with_val = tasks["kftune-tune"]["inputs"]["artifacts"]
    assert with_val["validation_data"]["taskOutputArtifact"]["producerTask"] == "importer-2"
    assert "validation_data" not in tasks["kftune-tune-2"]["inputs"].get("artifacts", {})  # the split branch
    assert "validation_data" in tasks["kftune-train"]["inputs"]["artifacts"]  # the final model sees it too
    assert "validation_data" not in tasks["kftune-train-2"]["inputs"]["artifacts"]


def test_the_one_line_tune_component_is_safe_by_default(tmp_path: Path) -> None:
    """README: `tune = tune_component(spec=..., train_data=...)` in a user's own pipeline."""
    from kfp import compiler, dsl

    from kftune_kfp.components import tune_component

    @dsl.pipeline(name="mine")
    def mine(spec: str, uri: str):
        data = dsl.importer(artifact_uri=uri, artifact_class=dsl.Dataset)
        tune_component(spec=spec, train_data=data.output)

    compiler.Compiler().compile(mine, str(tmp_path / "mine.yaml"))
    task = all_tasks(load(tmp_path / "mine.yaml"))["kftune-tune"]
    assert task["cachingOptions"] == {}  # no silent reuse of an old search
    params = task["inputs"]["parameters"]
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["task_name"]["runtimeValue"]["constant"] == "{{$.pipeline_task_name}}"
    assert params["pipeline_root"]["runtimeValue"]["constant"] == "{{$.pipeline_root}}"


# --------------------------------------------------------------------------- several pods


def test_kubeflow_pods_run_a_chief_and_parallel_gpu_workers_on_one_state(tmp_path: Path) -> None:
    options = PipelineOptions(gpu_type="l4", gpus=2, pods=3, workers=2, cpu="8", memory="32G")
    doc = load(compile_pipeline(tmp_path / "pods.yaml", options))
    tasks = all_tasks(doc)
    chief, worker = tasks["kftune-tune"], tasks["kftune-tune-worker"]
    loop = next(t for n, t in tasks.items() if n.startswith("for-loop") and "parameterIterator" in t)
    assert json.loads(loop["parameterIterator"]["items"]["raw"]) == [0, 1, 2]
    assert loop["iteratorPolicy"]["parallelismLimit"] == 3  # all at once: the workers need the chief and each other
    # the chief: KFTUNE_ROLE=chief (set by the component body from role), its pod IP from the downward API, no GPU
    assert chief["inputs"]["parameters"]["role"]["runtimeValue"]["constant"] == "chief"
    assert {"fieldPath": "status.podIP", "name": "KFTUNE_POD_IP"} in k8s(doc, "kftune-tune")["fieldPathAsEnv"]
    assert "accelerator" not in executor(doc, "kftune-tune")["container"].get("resources", {})
    # the workers: G GPUs each on GPU nodes, G worker processes
    res = executor(doc, "kftune-tune-worker")["container"]["resources"]
    assert (res["accelerator"]["resourceType"], res["accelerator"]["resourceCount"]) == ("nvidia.com/gpu", "2")
    assert k8s(doc, "kftune-tune-worker")["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert worker["inputs"]["parameters"]["workers"]["runtimeValue"]["constant"] == 2
    assert worker["inputs"]["parameters"]["worker_index"]["componentInputParameter"].startswith("pipelinechannel--loop-item")
    # one state for all: same root parameter, same job id, the same fixed task name
    for task in (chief, worker):  # (a required state_root must still feed state_root, not a neighbour)
        assert task["inputs"]["parameters"]["state_root"]["componentInputParameter"] == "pipelinechannel--state_root"
        assert task["inputs"]["parameters"]["validation_uri"]["componentInputParameter"] == "pipelinechannel--validation_uri"
    state = {}
    for name, task in (("chief", chief), ("worker", worker)):
        seen = kubeflow_driver_inputs(task, f"kftune-{name}", {"state_root": "gs://b/state"})
        state[name] = _runtime.resolve_state_uri("", seen["state_root"], seen["pipeline_root"], seen["run_id"], seen["task_name"])
    assert state["chief"] == state["worker"] == "gs://b/state/kftune-state/3f6c-run-uuid/tune"
    # the chief produces the outputs the gate reads; the workers produce none
    assert tasks["kftune-gate"]["inputs"]["artifacts"]["best_hyperparameters"]["taskOutputArtifact"]["producerTask"] == "kftune-tune"
    assert "outputDefinitions" not in doc["components"]["comp-kftune-tune-worker"]
    # without a state root they could not meet: KFP itself refuses a run without one
    params = doc["root"]["inputDefinitions"]["parameters"]
    assert "defaultValue" not in params["state_root"] and not params["state_root"].get("isOptional")
    assert read_marker(tmp_path / "pods.yaml")["pods"] == 3


def test_a_kubeflow_worker_without_a_shared_state_fails_with_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        _runtime.worker_step(spec=json.dumps(SPEC), train_data=None, state_root="", pipeline_root="{{$.pipeline_root}}",
                             run_id="r", task_name="tune")
    assert exc.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert "state_root" in line and "--state-root gs://" in line


SPEC = {**COMPONENTS_SPEC, "tuner": {"algorithm": "random", "max_trials": 4, "seed": 1}}


def test_vertex_pods_run_one_custom_job_with_worker_pools(tmp_path: Path) -> None:
    pytest.importorskip("google_cloud_pipeline_components", reason="needs the vertex extra")
    options = PipelineOptions(target="vertex", gpu_type="l4", gpus=2, pods=4, image="r.example/kftune:1")
    doc = load(compile_pipeline(tmp_path / "vpods.yaml", options))
    tasks = all_tasks(doc)
    job = next(t for n, t in tasks.items() if t["taskInfo"]["name"] == "tune-worker-pools" or n.startswith("custom-training-job"))
    params = job["inputs"]["parameters"]
    assert params["worker_pool_specs"]["taskOutputParameter"] == {"outputParameterKey": "worker_pool_specs",
                                                                  "producerTask": "kftune-vertex-job"}
    # the job runs as the pipeline's own service account, network and CMEK key (Vertex placeholders)
    assert params["service_account"]["runtimeValue"]["constant"] == "{{$.pipeline_service_account}}"
    assert params["network"]["runtimeValue"]["constant"] == "{{$.pipeline_network}}"
    assert params["encryption_spec_key_name"]["runtimeValue"]["constant"] == "{{$.pipeline_encryption_key_name}}"
    collect = tasks["kftune-collect"]
    assert collect["dependentTasks"] and any(d.startswith("custom-training-job") for d in collect["dependentTasks"])
    assert tasks["kftune-gate"]["inputs"]["artifacts"]["best_hyperparameters"]["taskOutputArtifact"]["producerTask"] == "kftune-collect"
    prep = tasks["kftune-vertex-job"]["inputs"]["parameters"]
    assert prep["pods"]["runtimeValue"]["constant"] == 4 and prep["accelerator_type"]["runtimeValue"]["constant"] == "NVIDIA_L4"
    assert prep["machine_type"]["runtimeValue"]["constant"] == "g2-standard-24"  # 2 x L4


def test_vertex_worker_pools_run_the_same_kftune_tune_in_every_replica() -> None:
    pools = _runtime.worker_pool_specs(SPEC, "gs://b/state/kftune-state/job/tune", image="r.example/kftune:1", pods=4,
                                       gpus=2, accelerator_type="NVIDIA_L4", machine_type="g2-standard-24",
                                       chief_machine_type="n1-standard-4", workers=2)
    chief, workers = pools
    assert chief["replica_count"] == 1 and chief["machine_spec"] == {"machine_type": "n1-standard-4"}
    assert workers["replica_count"] == 4
    assert workers["machine_spec"] == {"machine_type": "g2-standard-24", "accelerator_type": "NVIDIA_L4", "accelerator_count": 2}
    assert chief["container_spec"]["command"] == workers["container_spec"]["command"]
    script = chief["container_spec"]["command"][2]
    assert "exec kftune tune /tmp/kftune-spec.json --output \"$KFTUNE_OUTPUT\"" in script
    env = {e["name"]: e["value"] for e in workers["container_spec"]["env"]}
    assert json.loads(env["KFTUNE_SPEC_JSON"]) == SPEC and env["KFTUNE_OUTPUT"].endswith("/tune")
    assert workers["container_spec"]["args"] == ["--workers", "2"]
    # the aiplatform proto accepts them as they are (what gcpc's launcher parses the list into)
    from google.cloud.aiplatform_v1.types import WorkerPoolSpec

    for pool in pools:
        WorkerPoolSpec.from_json(json.dumps(pool))


def test_vertex_pods_need_a_machine_type_for_unusual_counts() -> None:
    with pytest.raises(ValueError, match="--machine-type"):
        PipelineOptions(target="vertex", gpu_type="h200", gpus=2, pods=2)
    assert PipelineOptions(target="vertex", gpu_type="h200", gpus=2, pods=2, machine_type="a3-ultragpu-8g")


# --------------------------------------------------------------------------- what the UI shows


class FakeArtifact:
    def __init__(self, path: Path, uri: str = "") -> None:
        self.path, self.uri, self.metadata = str(path), uri, {}

    def log_metric(self, name: str, value: float) -> None:  # kfp.dsl.Metrics.log_metric
        self.metadata[name] = value


def test_outputs_are_named_by_the_objective_with_markdown_and_parquet(tmp_path: Path) -> None:
    import shutil

    import pandas as pd

    run = tmp_path / "run"
    shutil.copytree(FIXTURE_RUN, run)
    names = ["best_hyperparameters", "best_model", "trials", "trials_parquet", "metrics", "summary", "report"]
    outputs = {n: FakeArtifact(tmp_path / "out" / n) for n in names}
    params = _outputs.write_outputs(run, outputs, output_uri="gs://b/state")
    assert outputs["metrics"].metadata == {"val_accuracy": pytest.approx(0.16666667), "trials_completed": 2, "trials_failed": 0}
    assert params["best_objective"] == pytest.approx(0.16666667) and params["output_uri"] == "gs://b/state"
    table = pd.read_parquet(outputs["trials_parquet"].path)
    assert list(table["number"]) == [1, 2] and list(table["trial_id"]) == ["0", "1"]
    assert outputs["trials_parquet"].metadata == {"format": "parquet", "rows": 2}
    md = Path(outputs["summary"].path).read_text()
    assert "**best val_accuracy = 0.166667** (maximize), trial 2" in md
    assert "| units | 16 |" in md and "| trial | val_accuracy | seconds |" in md
    assert md.index("| 2 | 0.166667") < md.index("| 1 | 0.125")  # top trials, best first
    assert Path(outputs["best_model"].path, "model.keras").is_file()
    assert outputs["best_hyperparameters"].metadata["objective"] == "val_accuracy"


def test_gate_takes_a_number_and_none_means_always(tmp_path: Path) -> None:
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"values": {}, "objective": {"metric": "m", "direction": "max", "value": 0.5}}))
    assert _runtime.gate_step(str(best), None) is True
    assert _runtime.gate_step(str(best), 0.4) is True and _runtime.gate_step(str(best), 0.6) is False
