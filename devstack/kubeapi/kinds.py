"""The resource kinds the stand-in serves and how their URLs map to them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    # Kinds whose /status subresource is separate: main-resource writes keep the old status.
    status_subresource: bool = False
    # Name rule the real server applies: "label" (DNS-1123 label), "dns1035" (services),
    # "subdomain" (DNS-1123 subdomain) or "segment" (RBAC: any path segment).
    name_rule: str = "subdomain"
    # The real server returns the deleted object (not a Status) for these; the client's typed
    # delete_* methods expect exactly that (V1Pod, V1Service, ...), the others a Status.
    delete_returns_object: bool = False
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """How error messages name the resource: `pods`, `ingresses.networking.k8s.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


_CORE = [
    Kind("Namespace", "namespaces", "", "v1", False, True, "label", True, ("ns",)),
    Kind(
        "ServiceAccount",
        "serviceaccounts",
        "",
        "v1",
        True,
        delete_returns_object=True,
        short_names=("sa",),
    ),
    Kind(
        "ResourceQuota",
        "resourcequotas",
        "",
        "v1",
        True,
        True,
        delete_returns_object=True,
        short_names=("quota",),
    ),
    Kind("LimitRange", "limitranges", "", "v1", True, short_names=("limits",)),
    Kind(
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "",
        "v1",
        True,
        True,
        delete_returns_object=True,
        short_names=("pvc",),
    ),
    Kind("Pod", "pods", "", "v1", True, True, delete_returns_object=True, short_names=("po",)),
    Kind("Service", "services", "", "v1", True, True, "dns1035", True, ("svc",)),
    Kind("Secret", "secrets", "", "v1", True),
    Kind("ConfigMap", "configmaps", "", "v1", True, short_names=("cm",)),
    Kind("Event", "events", "", "v1", True, short_names=("ev",)),
]
_NETWORKING = [
    Kind(
        "NetworkPolicy", "networkpolicies", "networking.k8s.io", "v1", True, short_names=("netpol",)
    ),
    Kind("Ingress", "ingresses", "networking.k8s.io", "v1", True, True, short_names=("ing",)),
]
_RBAC = [
    Kind("Role", "roles", "rbac.authorization.k8s.io", "v1", True, name_rule="segment"),
    Kind(
        "RoleBinding", "rolebindings", "rbac.authorization.k8s.io", "v1", True, name_rule="segment"
    ),
]

ALL_KINDS: list[Kind] = _CORE + _NETWORKING + _RBAC

# (group, version, plural) -> Kind
BY_PATH: dict[tuple[str, str, str], Kind] = {(k.group, k.version, k.plural): k for k in ALL_KINDS}
BY_PLURAL: dict[str, Kind] = {k.plural: k for k in ALL_KINDS}
NAMESPACE = BY_PLURAL["namespaces"]
POD = BY_PLURAL["pods"]
EVENT = BY_PLURAL["events"]

GROUPS: dict[str, list[Kind]] = {}
for _k in ALL_KINDS:
    GROUPS.setdefault(_k.group, []).append(_k)
