"""What a workspace's Kubernetes objects look like: pure functions from plain values to manifests.

Nothing here talks to a cluster (kubespawner's objects.py pattern); tests compare the output to
expected dicts. The reconciler decides when to create, adopt or delete them.

Per user: a namespace ``u-<user>`` (Pod Security Admission ``restricted``) holding a
ServiceAccount with token automount off, a ResourceQuota and LimitRange sized by plan, and a
NetworkPolicy (ingress only from the ingress controller; egress only DNS and the public internet).
No Role/RoleBinding: nothing in a workspace pod calls the Kubernetes API (the sidecar is
configured by environment and talks to the platform over HTTPS), so the account gets no rights.

Per workspace: the activity Secret, a PVC, the pod (Theia :3000 + sidecar :8080), a Service and
an Ingress for ``<workspace slug>.<domain>`` with TLS from cert-manager.

The pod passes checkov's Kubernetes checks (tests/infra/test_checkov.py): a high uid, read-only
root filesystems (Theia writes only to the disk, an emptyDir ``/tmp`` and an emptyDir home),
liveness and readiness probes, the activity credential as a mounted file rather than an
environment variable. What stays is skipped on the pod itself with its reason
(``checkov.io/skip<n>`` annotations, :func:`_checkov_skips`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from shared.provisioner.slugs import label_value, user_namespace, workspace_slug
from shared.workspaces.config import (
    BLOCKED_EGRESS_CIDRS,
    POD_SIZES,
    SIDECAR_SIZE,
    PodSize,
    WorkspaceSettings,
)

Obj = dict[str, Any]

MANAGED_BY = "coditect-provisioner"
APP = "coditect-workspace"
L_APP = "app.kubernetes.io/name"
L_MANAGED = "app.kubernetes.io/managed-by"
L_TENANT = "coditect.dev/tenant"
L_USER = "coditect.dev/user"
L_WORKSPACE = "coditect.dev/workspace"
# On the namespace: the setup (plan and layout version) its per-user objects were made for, so
# a second workspace of the same user skips four calls that would each answer AlreadyExists.
A_SETUP = "coditect.dev/setup"
SETUP_VERSION = "2"
SERVICE_ACCOUNT = "workspace"
QUOTA = "workspace-quota"
LIMITS = "workspace-limits"
NETWORK_POLICY = "workspace-isolation"
ACTIVITY_TOKEN_KEY = "activity-token"
HOME = "/home/project"
THEIA_PORT = 3000
SIDECAR_PORT = 8080
METRICS_PORT = 9090
# A high uid (checkov CKV_K8S_40: no clash with a host user); sidecar/Dockerfile uses the same.
UID = 10001
# Theia's writable places besides the disk: the root filesystem is read-only.
TMP = "/tmp"  # noqa: S108 (a mount point in the pod: its own emptyDir, not a host path)
USER_HOME = "/home/coditect"
SCRATCH_LIMIT = "2Gi"
# The sidecar reads its activity credential from this file (ACTIVITY_TOKEN_FILE).
SECRET_DIR = "/var/run/coditect/activity"


def owner_labels(user_id: str, tenant_id: str, workspace_id: str | None = None) -> dict[str, str]:
    labels = {
        L_APP: APP,
        L_MANAGED: MANAGED_BY,
        L_TENANT: label_value(tenant_id),
        L_USER: label_value(user_id),
    }
    if workspace_id:
        labels[L_WORKSPACE] = label_value(workspace_id)
    return labels


def is_ours(obj: Obj, labels: dict[str, str]) -> bool:
    """Adopt an existing object only if every one of our identifying labels is on it."""
    found = (obj.get("metadata") or {}).get("labels") or {}
    return all(found.get(k) == v for k, v in labels.items())


def _meta(name: str, namespace: str | None, labels: dict[str, str], **extra: Any) -> Obj:
    meta: Obj = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


# -- per user ------------------------------------------------------------------------------------
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
                }
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


# -- per workspace -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Names:
    namespace: str
    slug: str  # pod, Service and Ingress name, and the host's first label
    pvc: str
    secret: str
    tls_secret: str

    @classmethod
    def of(cls, user_id: str, workspace_id: str) -> Names:
        slug = workspace_slug(workspace_id)
        return cls(user_namespace(user_id), slug, f"{slug}-home", f"{slug}-activity", f"{slug}-tls")


def make_activity_secret(name: str, namespace: str, labels: dict[str, str], token: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, namespace, labels),
        "type": "Opaque",
        "data": {ACTIVITY_TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def make_pvc(
    name: str, namespace: str, labels: dict[str, str], *, storage_gb: int, storage_class: str
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, namespace, labels),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": f"{storage_gb}Gi"}},
        },
    }


def _resources(size: PodSize) -> Obj:
    return {
        "requests": {"cpu": size.cpu_request, "memory": size.memory_request},
        "limits": {"cpu": size.cpu_limit, "memory": size.memory_limit},
    }


_LOCKED_DOWN = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pinned(image: str) -> bool:
    """True for an image given by digest (``name@sha256:...``): the same bytes on every node."""
    return "@sha256:" in image


def pull_policy(image: str) -> str:
    # A tag can be moved to other bytes, so it is re-resolved on every start (checkov
    # CKV_K8S_15); a digest cannot, so the node's copy is used.
    return "IfNotPresent" if pinned(image) else "Always"


def _checkov_skips(*images: str) -> dict[str, str]:
    """The checks the pod does not meet, each with its reason, as checkov reads them."""
    reasons = []
    if not all(pinned(image) for image in images):
        reasons.append(
            "CKV_K8S_43=images come from WORKSPACE_THEIA_IMAGE and WORKSPACE_SIDECAR_IMAGE; "
            "given as name@sha256 digests this check applies and passes, given as tags they "
            "are pulled with imagePullPolicy Always (see docs/deploy.md)"
        )
    return {f"checkov.io/skip{n}": reason for n, reason in enumerate(reasons, start=1)}


def make_pod(
    names: Names,
    labels: dict[str, str],
    *,
    theia_image: str,
    sidecar_image: str,
    size: PodSize,
    sidecar_env: dict[str, str],
) -> Obj:
    env = [{"name": k, "value": v} for k, v in sidecar_env.items()]
    # A file, not an environment variable: not inherited by child processes nor shown in the
    # pod spec's env, and only the sidecar mounts it (Theia runs the user's code).
    env.append({"name": "ACTIVITY_TOKEN_FILE", "value": f"{SECRET_DIR}/{ACTIVITY_TOKEN_KEY}"})
    skips = _checkov_skips(theia_image, sidecar_image)
    extra = {"annotations": skips} if skips else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(names.slug, names.namespace, labels, **extra),
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": UID,
                "runAsGroup": UID,
                "fsGroup": UID,
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "theia",
                    "image": theia_image,
                    "imagePullPolicy": pull_policy(theia_image),
                    # The image's home holds the application; the user's dotfiles, caches and
                    # Theia's settings go to a scratch home (as ephemeral as the old writable
                    # layer was); the user's files are on the disk at HOME.
                    "env": [{"name": "HOME", "value": USER_HOME}],
                    "ports": [{"name": "theia", "containerPort": THEIA_PORT, "protocol": "TCP"}],
                    "resources": _resources(size),
                    "securityContext": {**_LOCKED_DOWN, "readOnlyRootFilesystem": True},
                    "volumeMounts": [
                        {"name": "home", "mountPath": HOME},
                        {"name": "tmp", "mountPath": TMP},
                        {"name": "user-home", "mountPath": USER_HOME},
                    ],
                    "readinessProbe": {
                        "tcpSocket": {"port": THEIA_PORT},
                        "periodSeconds": 2,
                        "failureThreshold": 3,
                    },
                    # Generous: a restart costs the user their open terminals, so only a
                    # Theia that stopped listening for over a minute is restarted.
                    "livenessProbe": {
                        "tcpSocket": {"port": THEIA_PORT},
                        "initialDelaySeconds": 60,
                        "periodSeconds": 20,
                        "timeoutSeconds": 5,
                        "failureThreshold": 3,
                    },
                },
                {
                    "name": "sidecar",
                    "image": sidecar_image,
                    "imagePullPolicy": pull_policy(sidecar_image),
                    "ports": [
                        {"name": "http", "containerPort": SIDECAR_PORT, "protocol": "TCP"},
                        {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                    ],
                    "env": env,
                    "resources": _resources(SIDECAR_SIZE),
                    "securityContext": {**_LOCKED_DOWN, "readOnlyRootFilesystem": True},
                    "volumeMounts": [
                        {"name": "activity-token", "mountPath": SECRET_DIR, "readOnly": True}
                    ],
                    "readinessProbe": {
                        "httpGet": {"path": "/readyz", "port": SIDECAR_PORT},
                        "periodSeconds": 2,
                        "failureThreshold": 3,
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": SIDECAR_PORT},
                        "periodSeconds": 10,
                        "failureThreshold": 3,
                    },
                },
            ],
            "volumes": [
                {"name": "home", "persistentVolumeClaim": {"claimName": names.pvc}},
                {"name": "tmp", "emptyDir": {"sizeLimit": SCRATCH_LIMIT}},
                {"name": "user-home", "emptyDir": {"sizeLimit": SCRATCH_LIMIT}},
                {
                    "name": "activity-token",
                    # Readable by the pod's group (fsGroup) only, never world-readable.
                    "secret": {"secretName": names.secret, "defaultMode": 0o440},
                },
            ],
        },
    }


def make_service(names: Names, labels: dict[str, str], workspace_id: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(names.slug, names.namespace, labels),
        "spec": {
            "type": "ClusterIP",
            # Exactly this workspace's pod; the metrics port stays unexposed.
            "selector": {L_WORKSPACE: label_value(workspace_id), L_MANAGED: MANAGED_BY},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def make_ingress(
    names: Names,
    labels: dict[str, str],
    *,
    host: str,
    ingress_class: str,
    cluster_issuer: str,
) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(
            names.slug,
            names.namespace,
            labels,
            annotations={
                "cert-manager.io/cluster-issuer": cluster_issuer,
                # IDE sessions are long-lived WebSockets: do not cut them after 60 s of quiet.
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
                "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
                "nginx.ingress.kubernetes.io/proxy-body-size": "64m",
            },
        ),
        "spec": {
            "ingressClassName": ingress_class,
            "tls": [{"hosts": [host], "secretName": names.tls_secret}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": names.slug, "port": {"name": "http"}}
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }


# -- a workspace's whole set ---------------------------------------------------------------------
def workspace_host(workspace_id: str, settings: WorkspaceSettings) -> str:
    return f"{workspace_slug(workspace_id)}.{settings.domain}"


def sidecar_env(ws: dict[str, Any], public_url: str, issuer: str) -> dict[str, str]:
    base = public_url.rstrip("/")
    return {
        "UPSTREAM_URL": f"http://127.0.0.1:{THEIA_PORT}",
        "LISTEN_PORT": str(SIDECAR_PORT),
        "METRICS_PORT": str(METRICS_PORT),
        "JWKS_URL": f"{base}/.well-known/jwks.json",
        "TOKEN_ISSUER": issuer,
        "WORKSPACE_ID": ws["workspace_id"],
        "USER_ID": ws["user_id"],
        "TENANT_ID": ws["tenant_id"],
        "ACTIVITY_URL": f"{base}/api/workspaces/{ws['workspace_id']}/activity",
    }


def setup_marker(plan: str, settings: WorkspaceSettings) -> str:
    """What the per-user objects were made from: a change to any of it re-applies them."""
    inputs = "|".join([settings.ingress_namespace, *settings.egress_deny_cidrs])
    return f"v{SETUP_VERSION}:{plan}:{hashlib.sha256(inputs.encode()).hexdigest()[:8]}"


def user_objects(
    ws: dict[str, Any],
    settings: WorkspaceSettings,
    *,
    running: int,
    storage_gb: int,
    volumes: int,
) -> list[Obj]:
    """The per-user objects inside the namespace, in creation order."""
    namespace = user_namespace(ws["user_id"])
    labels = owner_labels(ws["user_id"], ws["tenant_id"])
    return [
        make_service_account(namespace, labels),
        make_resource_quota(
            namespace,
            labels,
            plan=ws["plan"],
            running=running,
            storage_gb=storage_gb,
            volumes=volumes,
        ),
        make_limit_range(namespace, labels, plan=ws["plan"]),
        make_network_policy(
            namespace,
            labels,
            ingress_namespace=settings.ingress_namespace,
            extra_denied=settings.egress_deny_cidrs,
        ),
    ]


def workspace_objects(
    ws: dict[str, Any],
    settings: WorkspaceSettings,
    *,
    activity_token: str,
    public_url: str,
    issuer: str,
) -> list[Obj]:
    """The workspace's own objects, in creation order: Secret, PVC, pod, Service, Ingress."""
    names = Names.of(ws["user_id"], ws["workspace_id"])
    labels = owner_labels(ws["user_id"], ws["tenant_id"], ws["workspace_id"])
    return [
        make_activity_secret(names.secret, names.namespace, labels, activity_token),
        make_pvc(
            names.pvc,
            names.namespace,
            labels,
            storage_gb=ws["disk_gb"],
            storage_class=settings.storage_class,
        ),
        make_pod(
            names,
            labels,
            theia_image=settings.theia_image,
            sidecar_image=settings.sidecar_image,
            size=POD_SIZES[ws["plan"]],
            sidecar_env=sidecar_env(ws, public_url, issuer),
        ),
        make_service(names, labels, ws["workspace_id"]),
        make_ingress(
            names,
            labels,
            host=workspace_host(ws["workspace_id"], settings),
            ingress_class=settings.ingress_class,
            cluster_issuer=settings.cluster_issuer,
        ),
    ]
