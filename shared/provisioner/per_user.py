"""The per-user objects of a namespace ``u-<user>``: the namespace itself (Pod Security Admission
``restricted``), a ServiceAccount with token automount off, a ResourceQuota and LimitRange sized
by plan, and a NetworkPolicy (ingress only from the ingress controller, and to the sidecar's
metrics port from Google Managed Prometheus' collectors; egress only DNS and the public
internet)."""

from __future__ import annotations

from shared.provisioner.identity import Obj
from shared.provisioner.identity import object_meta as _meta
from shared.provisioner.pod import METRICS_PORT, SIDECAR_PORT
from shared.workspaces.config import BLOCKED_EGRESS_CIDRS, POD_SIZES, SIDECAR_SIZE, PodSize

SERVICE_ACCOUNT = "workspace"
QUOTA = "workspace-quota"
LIMITS = "workspace-limits"
NETWORK_POLICY = "workspace-isolation"
# Where GKE's managed collection runs its scrapers (terraform: ClusterPodMonitoring "sidecars").
PROMETHEUS_NAMESPACE = "gmp-system"


def make_namespace(name: str, labels: dict[str, str]) -> Obj:
    psa = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
    }
    psa["pod-security.kubernetes.io/enforce-version"] = "latest"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(name, None, {**labels, **psa}),
    }


def make_service_account(namespace: str, labels: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(SERVICE_ACCOUNT, namespace, labels),
        "automountServiceAccountToken": False,
    }


def _times(quantity: str, n: int) -> str:
    """``n`` times a CPU or memory quantity in the same unit (``"250m" * 3 -> "750m"``)."""
    for unit in ("Gi", "Mi", "m"):
        if quantity.endswith(unit):
            return f"{int(quantity[: -len(unit)]) * n}{unit}"
    return str(int(quantity) * n)


def pod_total(size: PodSize, sidecar: PodSize = SIDECAR_SIZE) -> PodSize:
    """Theia's size plus the sidecar's, in the smallest unit of each."""

    return PodSize(
        f"{_milli(size.cpu_request) + _milli(sidecar.cpu_request)}m",
        f"{_milli(size.cpu_limit) + _milli(sidecar.cpu_limit)}m",
        f"{_mebi(size.memory_request) + _mebi(sidecar.memory_request)}Mi",
        f"{_mebi(size.memory_limit) + _mebi(sidecar.memory_limit)}Mi",
    )


def _milli(cpu: str) -> int:
    return int(cpu[:-1]) if cpu.endswith("m") else int(cpu) * 1000


def _mebi(memory: str) -> int:
    if memory.endswith("Gi"):
        return int(memory[:-2]) * 1024
    if memory.endswith("Mi"):
        return int(memory[:-2])
    raise ValueError(f"memory quantities are in Mi or Gi, got {memory!r}")


def make_resource_quota(
    namespace: str,
    labels: dict[str, str],
    *,
    plan: str,
    running: int,
    storage_gb: int,
    volumes: int,
) -> Obj:
    per_pod = pod_total(POD_SIZES[plan])
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(QUOTA, namespace, labels),
        "spec": {
            "hard": {
                "pods": str(running),
                "requests.cpu": _times(per_pod.cpu_request, running),
                "limits.cpu": _times(per_pod.cpu_limit, running),
                "requests.memory": _times(per_pod.memory_request, running),
                "limits.memory": _times(per_pod.memory_limit, running),
                "requests.storage": f"{storage_gb}Gi",
                "persistentvolumeclaims": str(volumes),
                "services.loadbalancers": "0",
                "services.nodeports": "0",
            }
        },
    }


def make_limit_range(namespace: str, labels: dict[str, str], *, plan: str) -> Obj:
    size = POD_SIZES[plan]
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(LIMITS, namespace, labels),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": SIDECAR_SIZE.cpu_limit, "memory": SIDECAR_SIZE.memory_limit},
                    "defaultRequest": {
                        "cpu": SIDECAR_SIZE.cpu_request,
                        "memory": SIDECAR_SIZE.memory_request,
                    },
                    "max": {"cpu": size.cpu_limit, "memory": size.memory_limit},
                }
            ]
        },
    }


def make_network_policy(
    namespace: str,
    labels: dict[str, str],
    *,
    ingress_namespace: str,
    extra_denied: tuple[str, ...] = (),
) -> Obj:
    denied = list(dict.fromkeys([*BLOCKED_EGRESS_CIDRS, *extra_denied]))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(NETWORK_POLICY, namespace, labels),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": ingress_namespace}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": SIDECAR_PORT}],
                },
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": PROMETHEUS_NAMESPACE}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": METRICS_PORT}],
                },
            ],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
                # No ports: any port of a public address. No ::/0 rule: IPv6 egress is denied.
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": denied}}]},
            ],
        },
    }
