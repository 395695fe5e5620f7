"""``--gpu`` names for each backend: one friendly name (``t4``, ``l4``, ``a100``, ``h100`` ...) mapped to
what Kubeflow on GKE and Vertex AI each want, raw values kept, impossible ones refused with one line.

Why a table: the Kubeflow v2 driver copies the accelerator type verbatim into the pod's resource
limits (kubeflow/pipelines backend/src/v2/driver/driver.go, ``res.Limits[k8score.ResourceName(
acceleratorType)] = q``), so on Kubeflow the type must be a Kubernetes *resource name*
(``nvidia.com/gpu``) and the GKE accelerator (``nvidia-tesla-t4``) goes into the node selector
``cloud.google.com/gke-accelerator``; Vertex AI wants its ``AcceleratorType`` enum names
(``NVIDIA_TESLA_T4``; google-cloud-aiplatform ``aiplatform_v1.types.AcceleratorType``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TARGETS = ("kubeflow", "vertex")
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
NVIDIA_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class Gpu:
    """One accelerator model: its GKE node label value, its Vertex enum name and Vertex machine types."""

    name: str
    gke: str
    vertex: str
    # Vertex CustomJob machine type per GPU count (worker pools need one); "" when the count has none.
    machines: dict[int, str] = field(default_factory=dict)


def _n1(counts=(1, 2, 4, 8)) -> dict[int, str]:
    return {n: f"n1-standard-{min(8 * n, 96)}" for n in counts}


GPUS: dict[str, Gpu] = {
    g.name: g
    for g in (
        Gpu("t4", "nvidia-tesla-t4", "NVIDIA_TESLA_T4", _n1((1, 2, 4))),
        Gpu("l4", "nvidia-l4", "NVIDIA_L4", {1: "g2-standard-8", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"}),
        Gpu("v100", "nvidia-tesla-v100", "NVIDIA_TESLA_V100", _n1()),
        Gpu("p100", "nvidia-tesla-p100", "NVIDIA_TESLA_P100", _n1((1, 2, 4))),
        Gpu("p4", "nvidia-tesla-p4", "NVIDIA_TESLA_P4", _n1((1, 2, 4))),
        Gpu("a100", "nvidia-tesla-a100", "NVIDIA_TESLA_A100", {n: f"a2-highgpu-{n}g" for n in (1, 2, 4, 8)}),
        Gpu("a100-80gb", "nvidia-a100-80gb", "NVIDIA_A100_80GB", {n: f"a2-ultragpu-{n}g" for n in (1, 2, 4, 8)}),
        Gpu("h100", "nvidia-h100-80gb", "NVIDIA_H100_80GB", {n: f"a3-highgpu-{n}g" for n in (1, 2, 4, 8)}),
        Gpu("h100-mega", "nvidia-h100-mega-80gb", "NVIDIA_H100_MEGA_80GB", {8: "a3-megagpu-8g"}),
        Gpu("h200", "nvidia-h200-141gb", "NVIDIA_H200_141GB", {8: "a3-ultragpu-8g"}),
        Gpu("b200", "nvidia-b200", "NVIDIA_B200", {8: "a4-highgpu-8g"}),
    )
}
_BY_GKE = {g.gke: g for g in GPUS.values()}
_BY_VERTEX = {g.vertex: g for g in GPUS.values()}
# Vertex enum names kftune has no friendly name for (still accepted raw on Vertex).
_VERTEX_EXTRA = re.compile(r"^(NVIDIA_[A-Z0-9_]+|TPU_[A-Z0-9_]+)$")
_RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
FRIENDLY = ", ".join(GPUS)


class GpuError(ValueError):
    """A --gpu value that cannot work on the chosen target (the message suggests the right one)."""


@dataclass(frozen=True)
class Accelerator:
    """What one task asks for on one target."""

    resource_type: str  # the IR's accelerator.resourceType
    node_selector: dict[str, str]  # Kubeflow: GKE's accelerator label; Vertex: none
    gpu: Gpu | None  # the known model, when there is one (Vertex machine types)

    def machine_type(self, count: int) -> str | None:
        return self.gpu.machines.get(count) if self.gpu else None


def resolve(value: str, target: str) -> Accelerator:
    """``--gpu VALUE`` for ``target`` (kubeflow | vertex); GpuError with a suggestion when it cannot work."""
    if target not in TARGETS:
        raise GpuError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    raw = value.strip()
    friendly, gke, vertex = GPUS.get(raw.lower()), _BY_GKE.get(raw.lower()), _BY_VERTEX.get(raw.upper())
    if target == "kubeflow":
        if vertex or _VERTEX_EXTRA.match(raw.upper()) and "_" in raw:
            hint = f"--gpu {vertex.name}" if vertex else f"one of {FRIENDLY}"
            raise GpuError(f"--gpu {raw}: that is Vertex AI's name; on Kubeflow use {hint} (or a resource name such as {NVIDIA_RESOURCE})")
        known = friendly or gke
        if known:  # the GPU resource, on nodes with that accelerator
            return Accelerator(NVIDIA_RESOURCE, {GKE_ACCELERATOR_LABEL: known.gke}, known)
        if _RESOURCE_NAME.match(raw):  # a raw Kubernetes resource name: nvidia.com/gpu, amd.com/gpu ...
            return Accelerator(raw, {}, None)
        raise GpuError(
            f"--gpu {raw}: not a GPU kftune knows ({FRIENDLY}) nor a Kubernetes resource name "
            f"(e.g. {NVIDIA_RESOURCE} with --node-selector {GKE_ACCELERATOR_LABEL}=...)"
        )
    if friendly or vertex:
        known = friendly or vertex
        return Accelerator(known.vertex, {}, known)
    if gke:
        raise GpuError(f"--gpu {raw}: that is GKE's node label; on Vertex AI use --gpu {gke.name} (= {gke.vertex})")
    if _VERTEX_EXTRA.match(raw):
        return Accelerator(raw, {}, None)
    if "/" in raw:
        raise GpuError(f"--gpu {raw}: a Kubernetes resource name means nothing to Vertex AI; use one of {FRIENDLY} (or NVIDIA_TESLA_T4-style names)")
    raise GpuError(f"--gpu {raw}: not a Vertex AI accelerator; use one of {FRIENDLY} (or NVIDIA_TESLA_T4-style names)")


__all__ = ["GKE_ACCELERATOR_LABEL", "GPUS", "NVIDIA_RESOURCE", "TARGETS", "Accelerator", "Gpu", "GpuError", "resolve"]
