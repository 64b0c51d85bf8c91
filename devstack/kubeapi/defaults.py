"""What the real server fills in on create: defaulted fields, initial status, admission checks."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import ApiError
from .kinds import BY_PLURAL, Kind
from .meta import Obj
from .store import Store
from .validation import normalize_secret


def apply_create_defaults(kind: Kind, obj: Obj, store: Store, service_ips: Iterator[int]) -> None:
    p = kind.plural
    meta = obj["metadata"]
    if p == "namespaces":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif p == "pods":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        for c in spec.get("containers") or []:
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault(
                "imagePullPolicy",
                "Always"
                if str(c.get("image", "")).endswith(":latest")
                or ":" not in str(c.get("image", "")).rsplit("/", 1)[-1]
                else "IfNotPresent",
            )
            c.setdefault("resources", {})
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
        # ServiceAccount admission: the pod's service account must exist (403 otherwise).
        sa = spec["serviceAccountName"]
        if store.get(BY_PLURAL["serviceaccounts"], meta["namespace"], sa) is None:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{meta["name"]}" is forbidden: error looking up service account '
                f'{meta["namespace"]}/{sa}: serviceaccount "{sa}" not found',
                {"name": meta["name"], "kind": "pods"},
            )
    elif p == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
            n = next(service_ips)
            spec["clusterIP"] = f"10.96.{(n // 250) % 250}.{n % 250 + 1}"
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj["status"] = {"loadBalancer": {}}
    elif p == "persistentvolumeclaims":
        spec = obj.setdefault("spec", {})
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("storageClassName", "standard-rwo")
        obj["status"] = {"phase": "Pending"}
    elif p == "resourcequotas":
        hard = (obj.get("spec") or {}).get("hard") or {}
        obj["status"] = {"hard": dict(hard), "used": dict.fromkeys(hard, "0")}
    elif p == "ingresses":
        obj["status"] = {"loadBalancer": {}}
    elif p == "secrets":
        obj.setdefault("type", "Opaque")
        normalize_secret(obj)
    elif p == "events":
        obj.setdefault("count", 1)
        obj.setdefault("type", "Normal")
    elif kind.status_subresource:
        obj.pop("status", None)


def qos_class(spec: Obj) -> str:
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    reqs, lims = [], []
    for c in containers:
        r = c.get("resources") or {}
        reqs.append(r.get("requests") or {})
        lims.append(r.get("limits") or {})
    if not any(reqs) and not any(lims):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu")
        and lim.get("memory")
        and (
            not req
            or (
                req.get("cpu", lim["cpu"]) == lim["cpu"]
                and req.get("memory", lim["memory"]) == lim["memory"]
            )
        )
        for req, lim in zip(reqs, lims, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"
