"""The workspace pod: Theia :3000 + the sidecar :8080, locked down and kept on the workspace pool.

Untrusted code runs in it, so it runs only on the tainted ``workspaces`` node pool (toleration
+ node selector; nothing else tolerates the taint), inside GKE Sandbox (gVisor, its own
user-space kernel per pod), with a per-pod process limit set on that pool's kubelet
(terraform/modules/platform/gke.tf) and ephemeral-storage requests and limits on every
container, so one workspace can neither fill nor fork-bomb a node.

The pod passes checkov's Kubernetes checks (tests/infra/test_checkov.py): a high uid, read-only
root filesystems (Theia writes only to the disk, an emptyDir ``/tmp`` and an emptyDir home),
liveness and readiness probes, the activity credential as a mounted file rather than an
environment variable. What stays is skipped on the pod itself with its reason
(``checkov.io/skip<n>`` annotations, :func:`_checkov_skips`).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.llm.theia_settings import SETTINGS_FILE
from shared.provisioner.identity import Names, Obj
from shared.provisioner.identity import object_meta as _meta
from shared.workspaces.config import SIDECAR_SIZE, PodSize

SERVICE_ACCOUNT = "workspace"
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
# Theia's settings, the workspace Secret's settings.json key alone (a directory, not subPath: a
# Secret update reaches the volume); the image's entry point copies it into THEIA_CONFIG_DIR on
# start (ide/entrypoint.sh, docs/ide.md).
THEIA_SETTINGS_DIR = "/etc/coditect/theia"


@dataclass(frozen=True)
class Placement:
    """Where workspace pods run; gke.tf's workspace pool carries the matching label and taint."""

    pool_label: str = "coditect.dev/pool"
    pool: str = "workspaces"
    taint_key: str = "coditect.dev/workspaces"
    taint_value: str = "true"
    # GKE Sandbox's RuntimeClass: it adds its own node selector and toleration for the
    # sandboxed nodes (sandbox.gke.io/runtime=gvisor) when the pod is admitted.
    runtime_class: str = "gvisor"


WORKSPACE_PLACEMENT = Placement()


@dataclass(frozen=True)
class EphemeralStorage:
    request: str
    limit: str


# Theia's limit covers its two scratch emptyDirs (2 x SCRATCH_LIMIT: the kubelet counts them
# against the pod's total) plus its logs; the sidecar writes only logs.
THEIA_EPHEMERAL = EphemeralStorage("1Gi", "5Gi")
SIDECAR_EPHEMERAL = EphemeralStorage("64Mi", "256Mi")


def _only_key(secret: str, key: str) -> Obj:
    # Readable by the pod's group (fsGroup) only, never world-readable.
    return {"secretName": secret, "items": [{"key": key, "path": key}], "defaultMode": 0o440}


def _resources(size: PodSize, scratch: EphemeralStorage) -> Obj:
    return {
        "requests": {
            "cpu": size.cpu_request,
            "memory": size.memory_request,
            "ephemeral-storage": scratch.request,
        },
        "limits": {
            "cpu": size.cpu_limit,
            "memory": size.memory_limit,
            "ephemeral-storage": scratch.limit,
        },
    }


def _scheduling(placement: Placement) -> Obj:
    return {
        "runtimeClassName": placement.runtime_class,
        "nodeSelector": {placement.pool_label: placement.pool},
        "tolerations": [
            {
                "key": placement.taint_key,
                "operator": "Equal",
                "value": placement.taint_value,
                "effect": "NoSchedule",
            }
        ],
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
    placement: Placement = WORKSPACE_PLACEMENT,
) -> Obj:
    """The workspace pod. Both containers mount ``names.secret``, each only its own key: the
    sidecar its activity credential, Theia its settings (the LLM key)."""
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
            **_scheduling(placement),
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
                    "env": [
                        {"name": "HOME", "value": USER_HOME},
                        {"name": "CODITECT_THEIA_SETTINGS", "value": THEIA_SETTINGS_DIR},
                    ],
                    "ports": [{"name": "theia", "containerPort": THEIA_PORT, "protocol": "TCP"}],
                    "resources": _resources(size, THEIA_EPHEMERAL),
                    "securityContext": {**_LOCKED_DOWN, "readOnlyRootFilesystem": True},
                    "volumeMounts": [
                        {"name": "home", "mountPath": HOME},
                        {"name": "tmp", "mountPath": TMP},
                        {"name": "user-home", "mountPath": USER_HOME},
                        {
                            "name": "theia-settings",
                            "mountPath": THEIA_SETTINGS_DIR,
                            "readOnly": True,
                        },
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
                    "resources": _resources(SIDECAR_SIZE, SIDECAR_EPHEMERAL),
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
                    "secret": _only_key(names.secret, ACTIVITY_TOKEN_KEY),
                },
                {
                    "name": "theia-settings",
                    # Theia's process reads it through the pod's group, like the credential.
                    "secret": _only_key(names.secret, SETTINGS_FILE),
                },
            ],
        },
    }
