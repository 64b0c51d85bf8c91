"""Users' code stays on the workspace pool, sandboxed and bounded: Terraform and the pod agree.

gke.tf taints and labels the workspace pool, runs it under GKE Sandbox and caps processes per
pod; the provisioner's pod (shared/provisioner/pod.py) must tolerate exactly that taint, select
that label and ask for the gvisor RuntimeClass; nothing else may tolerate the taint.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from tests.infra.conftest import TERRAFORM
from tests.infra.test_checkov import rendered_workspace
from tests.infra.test_terraform import first, resources

TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute"}


def pools(modules: dict) -> dict[str, dict[str, Any]]:
    return resources(modules["platform"], "google_container_node_pool")


def workspace_pod() -> dict[str, Any]:
    return next(o for o in rendered_workspace() if o["kind"] == "Pod")


def test_the_workspace_pool_is_tainted_sandboxed_and_process_limited(modules: dict) -> None:
    node = first(pools(modules)["workspaces"]["node_config"])
    assert node["image_type"] == "COS_CONTAINERD"  # GKE Sandbox needs containerd on COS
    assert first(node["sandbox_config"])["sandbox_type"] == "gvisor"
    assert first(node["taint"])["effect"] == "NO_SCHEDULE"
    kubelet = first(node["kubelet_config"])
    assert kubelet["pod_pids_limit"] == "${var.workspace_nodes.pod_pids_limit}"
    variable = next(
        b["workspace_nodes"] for b in modules["platform"]["variable"] if "workspace_nodes" in b
    )
    # GKE accepts 1024..4194304; the default must be set, not left to the node's own maximum.
    assert "pod_pids_limit = optional(number, 4096)" in str(variable["type"]).replace("'", "")


def test_the_system_pool_is_not_sandboxed(modules: dict) -> None:
    # GKE Sandbox needs a pool without it for GKE's own system workloads.
    node = first(pools(modules)["system"]["node_config"])
    assert "sandbox_config" not in node and "taint" not in node


def test_the_workspace_pod_tolerates_and_selects_exactly_the_workspace_pool(modules: dict) -> None:
    node = first(pools(modules)["workspaces"]["node_config"])
    taint = first(node["taint"])
    spec = workspace_pod()["spec"]
    assert spec["runtimeClassName"] == first(node["sandbox_config"])["sandbox_type"]
    assert spec["tolerations"] == [
        {
            "key": taint["key"],
            "operator": "Equal",
            "value": taint["value"],
            "effect": TAINT_EFFECTS[taint["effect"]],
        }
    ]
    assert spec["nodeSelector"].items() <= node["labels"].items()
    system = first(pools(modules)["system"]["node_config"])
    assert not spec["nodeSelector"].items() <= system["labels"].items()
    for container in spec["containers"]:
        for bound in ("requests", "limits"):
            assert container["resources"][bound]["ephemeral-storage"], container["name"]
    kubernetes_validate.validate(workspace_pod(), "1.31", strict=True)


def test_nothing_else_tolerates_the_workspace_taint(modules: dict) -> None:
    key = first(first(pools(modules)["workspaces"]["node_config"])["taint"])["key"]
    # Platform workloads (FoundationDB, its operator, ingress-nginx, ...) are declared in
    # Terraform: the taint key may appear only where the pool declares it.
    mentions = [
        (path.relative_to(TERRAFORM), n)
        for path in TERRAFORM.rglob("*.tf")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if key in line or "tolerations" in line
    ]
    assert [str(p) for p, _ in mentions] == ["modules/platform/gke.tf"], mentions
    # Of the provisioner's objects only the workspace pod tolerates it.
    for obj in rendered_workspace():
        if obj["kind"] != "Pod":
            assert "tolerations" not in str(obj), obj["kind"]
