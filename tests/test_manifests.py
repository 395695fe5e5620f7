"""The image and the cluster objects, checked offline: hadolint on the Dockerfile,
``kubernetes-validate --strict`` on the manifests (plain and kustomize-built), yamllint, and the
facts that tie them to the package (image tag = version, pins = pyproject's pins)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
BIN = Path(sys.executable).parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
YAMLLINT_CONFIG = "{extends: default, rules: {line-length: {max: 120}, document-start: disable}}"


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return str(path)


def _run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_hadolint_clean() -> None:
    result = _run(_tool("hadolint"), "--failure-threshold", "info", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_catch_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install kftune\n")
    result = _run(_tool("hadolint"), str(bad))
    assert result.returncode != 0 and "DL3007" in result.stdout and "DL3013" in result.stdout


def test_dockerfile_pins_the_base_and_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu\n" in text
    assert "--build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0 " in text  # the documented CPU variant
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert "--constraint" in text and "--no-index" in text


def test_dockerignore_lets_in_what_the_build_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            copied.update(line.split()[1:-1])
    assert copied <= allowed, copied - allowed


def test_image_constraints_match_pyproject_pins() -> None:
    """Every dependency of kftune[pipelines] is pinned in image-deps/constraints.txt, inside pyproject's range."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "image-deps" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower().replace("_", "-")] = spec.version
    for text in [*project["dependencies"], *project["optional-dependencies"]["pipelines"]]:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in image-deps/constraints.txt (python image-deps/lock.py)"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {req.specifier}"
    assert pins["tensorflow"] == "2.21.0"


# --------------------------------------------------------------------------- manifests


def _plain_manifests() -> list[Path]:
    """Complete objects (base resources and overlay additions), not kustomizations or patches."""
    return sorted(
        p for p in MANIFESTS.rglob("*.yaml") if p.name != "kustomization.yaml" and not p.name.endswith("-patch.yaml")
    )


def _validate(*paths: Path) -> subprocess.CompletedProcess:
    return _run(_tool("kubernetes-validate"), "--strict", "--quiet", *map(str, paths))


def test_plain_manifests_pass_strict_validation() -> None:
    paths = _plain_manifests()
    assert len(paths) >= 4
    result = _validate(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_catches_a_misspelled_field(tmp_path: Path) -> None:
    bad = tmp_path / "sa.yaml"
    text = (MANIFESTS / "base" / "gpu-check-job.yaml").read_text()
    bad.write_text(text.replace("serviceAccountName:", "serviceAcountName:"))
    result = _validate(bad)
    assert result.returncode != 0 and "serviceAcountName" in result.stdout + result.stderr


def _kustomize() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@pytest.mark.parametrize(
    "target", sorted(str(p.parent.relative_to(MANIFESTS)) for p in MANIFESTS.rglob("kustomization.yaml"))
)
def test_kustomize_build_passes_strict_validation(tmp_path: Path, target: str) -> None:
    cmd = _kustomize()
    if cmd is None:
        pytest.skip("neither kustomize nor kubectl is installed; the plain manifests are validated above")
    built = _run(*cmd, str(MANIFESTS / target))
    assert built.returncode == 0, built.stderr
    out = tmp_path / "built.yaml"
    out.write_text(built.stdout)
    result = _validate(out)
    assert result.returncode == 0, result.stdout + result.stderr
    objects = [d for d in yaml.safe_load_all(built.stdout) if d]
    kinds = {d["kind"] for d in objects}
    assert {"ServiceAccount", "Role", "RoleBinding", "Job"} <= kinds
    assert all(d["metadata"]["namespace"] == "kubeflow-user-example-com" for d in objects)
    job = next(d for d in objects if d["kind"] == "Job")["spec"]["template"]["spec"]
    assert job["containers"][0]["image"] == f"ghcr.io/kftune/kftune:{VERSION}"
    if target.startswith("overlays/gke-"):
        assert job["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert job["nodeSelector"]["cloud.google.com/gke-accelerator"].startswith("nvidia-")
        assert any(t["key"] == "nvidia.com/gpu" for t in job["tolerations"])
        assert "ResourceQuota" in kinds


def test_service_account_carries_workload_identity() -> None:
    sa = yaml.safe_load((MANIFESTS / "base" / "serviceaccount.yaml").read_text())
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")


def test_manifest_image_tag_is_the_package_version() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "base" / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert (image["name"], image["newTag"]) == ("ghcr.io/kftune/kftune", VERSION)


def test_manifests_are_yamllint_clean() -> None:
    result = _run(_tool("yamllint"), "--strict", "-d", YAMLLINT_CONFIG, str(MANIFESTS))
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- distributed tuning (chief + workers)

DISTRIBUTED = MANIFESTS / "distributed"


def _distributed_objects() -> dict[str, dict]:
    """The distributed kustomization's own objects by "Kind/name" (plain files; kustomize is not needed)."""
    kustomization = yaml.safe_load((DISTRIBUTED / "kustomization.yaml").read_text())
    objects = {}
    for resource in kustomization["resources"]:
        path = DISTRIBUTED / resource
        if path.is_file():
            doc = yaml.safe_load(path.read_text())
            objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_distributed_manifests_wire_workers_to_the_chief() -> None:
    objects = _distributed_objects()
    chief = next(o for o in objects.values() if o["kind"] == "Job" and "chief" in o["metadata"]["name"])
    workers = next(o for o in objects.values() if o["kind"] == "Job" and "worker" in o["metadata"]["name"])
    service = next(o for o in objects.values() if o["kind"] == "Service")
    assert service["spec"]["clusterIP"] == "None"
    (port,) = service["spec"]["ports"]
    chief_pod, worker_pod = chief["spec"]["template"], workers["spec"]["template"]
    # The Service selects the chief's pod, not the workers'.
    for key, value in service["spec"]["selector"].items():
        assert chief_pod["metadata"]["labels"][key] == value
        assert worker_pod["metadata"]["labels"].get(key) != value
    (c,) = chief_pod["spec"]["containers"]
    (w,) = worker_pod["spec"]["containers"]
    ce, we = _env(c), _env(w)
    assert "chief" in ce["KERASTUNER_TUNER_ID"]["value"]
    assert ce["KERASTUNER_ORACLE_IP"]["value"] == "0.0.0.0"
    assert ce["KERASTUNER_ORACLE_PORT"]["value"] == we["KERASTUNER_ORACLE_PORT"]["value"] == str(port["port"])
    assert any(p["containerPort"] == port["port"] and p["name"] == port["targetPort"] for p in c["ports"])
    assert we["KERASTUNER_ORACLE_IP"]["value"] == service["metadata"]["name"]
    # One stable tuner id per completion index: a replaced worker pod gets its predecessor's trial back.
    assert workers["spec"]["completionMode"] == "Indexed"
    assert we["JOB_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"].endswith("['batch.kubernetes.io/job-completion-index']")
    assert "$(JOB_INDEX)" in we["KERASTUNER_TUNER_ID"]["value"] and "chief" not in we["KERASTUNER_TUNER_ID"]["value"]
    assert list(we).index("JOB_INDEX") < list(we).index("KERASTUNER_TUNER_ID")  # $(VAR) needs it defined first
    # Same command and output for both; GPUs only on workers; the pipeline's service account.
    assert c["args"][:3] == w["args"][:3] == ["tune", "/spec/spec.yaml", "--output"]
    assert c["args"][3] == w["args"][3] and c["args"][3].startswith("gs://")
    assert w["resources"]["limits"]["nvidia.com/gpu"] == "1" and "nvidia.com/gpu" not in c["resources"].get("limits", {})
    for pod in (chief_pod, worker_pod):
        assert pod["spec"]["serviceAccountName"] == "kftune-runner"
        assert pod["spec"]["restartPolicy"] == "Never"
        mounts = {m["name"]: m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert mounts["spec"] == "/spec" and volumes["spec"]["configMap"]["name"] == "kftune-spec"


def test_distributed_spec_configmap_holds_a_valid_spec() -> None:
    from kftune.spec import load_spec

    configmap = _distributed_objects()["ConfigMap/kftune-spec"]
    spec = load_spec(yaml.safe_load(configmap["data"]["spec.yaml"]))
    assert spec.data.train.startswith("gs://")  # every pod must reach the data
    assert spec.tuner.seed is not None


def test_distributed_kustomization_tags_the_image_and_drops_the_image_check(tmp_path: Path) -> None:
    kustomization = yaml.safe_load((DISTRIBUTED / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert (image["name"], image["newTag"]) == ("ghcr.io/kftune/kftune", VERSION)
    cmd = _kustomize()
    if cmd is None:
        pytest.skip("neither kustomize nor kubectl is installed")
    built = _run(*cmd, str(DISTRIBUTED))
    assert built.returncode == 0, built.stderr
    jobs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(built.stdout) if d and d["kind"] == "Job"}
    assert set(jobs) == {"kftune-chief", "kftune-workers"}
    for job in jobs.values():
        assert job["spec"]["template"]["spec"]["containers"][0]["image"] == f"ghcr.io/kftune/kftune:{VERSION}"
