"""What a workspace's Kubernetes objects look like: pure functions from plain values to manifests.

Nothing here talks to a cluster (kubespawner's objects.py pattern); tests compare the output to
expected dicts. The reconciler decides when to create, adopt or delete them.

Per user (:mod:`shared.provisioner.per_user`): the namespace ``u-<user>`` and its
ServiceAccount, ResourceQuota, LimitRange and NetworkPolicy. No Role/RoleBinding: nothing in a
workspace pod calls the Kubernetes API (the sidecar is configured by environment and talks to the
platform over HTTPS), so the account gets no rights.

Per workspace: a Secret with the sidecar's activity credential and Theia's settings (the plan's
models through the LLM gateway, with the workspace's LLM key: :mod:`shared.llm.theia_settings`),
each container mounting only its own key; a PVC, the pod
(:mod:`shared.provisioner.pod`), a Service and an Ingress for ``<workspace slug>.<domain>``
with TLS from cert-manager.

This module assembles them and keeps every name the reconciler and tests use importable from
here (labels and names come from :mod:`shared.provisioner.identity`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlsplit

from shared.llm.theia_settings import settings_data
from shared.provisioner.identity import (
    A_SETUP,
    APP,
    L_APP,
    L_MANAGED,
    L_TENANT,
    L_USER,
    L_WORKSPACE,
    MANAGED_BY,
    SETUP_VERSION,
    Names,
    Obj,
    is_ours,
    owner_labels,
)
from shared.provisioner.identity import object_meta as _meta
from shared.provisioner.per_user import (
    LIMITS,
    NETWORK_POLICY,
    QUOTA,
    make_limit_range,
    make_namespace,
    make_network_policy,
    make_resource_quota,
    make_service_account,
    pod_total,
)
from shared.provisioner.pod import (
    ACTIVITY_TOKEN_KEY,
    HOME,
    METRICS_PORT,
    SECRET_DIR,
    SERVICE_ACCOUNT,
    SIDECAR_PORT,
    THEIA_PORT,
    THEIA_SETTINGS_DIR,
    UID,
    USER_HOME,
    WORKSPACE_PLACEMENT,
    Placement,
    make_pod,
    pinned,
    pull_policy,
)
from shared.provisioner.slugs import label_value, user_namespace, workspace_slug
from shared.workspaces.config import POD_SIZES, WorkspaceSettings
from shared.workspaces.model import WorkspaceRecord

__all__ = [
    "ACTIVITY_TOKEN_KEY",
    "APP",
    "A_SETUP",
    "HOME",
    "LIMITS",
    "L_APP",
    "L_MANAGED",
    "L_TENANT",
    "L_USER",
    "L_WORKSPACE",
    "MANAGED_BY",
    "METRICS_PORT",
    "NETWORK_POLICY",
    "POD_SIZES",
    "QUOTA",
    "SECRET_DIR",
    "SERVICE_ACCOUNT",
    "SETUP_VERSION",
    "SIDECAR_PORT",
    "THEIA_PORT",
    "THEIA_SETTINGS_DIR",
    "UID",
    "USER_HOME",
    "WORKSPACE_PLACEMENT",
    "Names",
    "Obj",
    "Placement",
    "is_ours",
    "make_ingress",
    "make_limit_range",
    "make_namespace",
    "make_network_policy",
    "make_pod",
    "make_pvc",
    "make_resource_quota",
    "make_service",
    "make_service_account",
    "make_workspace_secret",
    "owner_labels",
    "pinned",
    "pod_total",
    "pull_policy",
    "setup_marker",
    "sidecar_env",
    "user_objects",
    "workspace_host",
    "workspace_objects",
]


def make_workspace_secret(
    name: str, namespace: str, labels: dict[str, str], token: str, theia_settings: dict[str, Any]
) -> Obj:
    """One Secret, two keys: the sidecar's activity credential and Theia's settings (the LLM
    key). Each container mounts only its own key (pod.py), so the user's code in Theia's
    container never sees the credential; one object keeps a start to one write."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, namespace, labels),
        "type": "Opaque",
        "data": {
            ACTIVITY_TOKEN_KEY: base64.b64encode(token.encode()).decode(),
            **settings_data(theia_settings),
        },
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


def sidecar_env(ws: WorkspaceRecord, public_url: str, issuer: str) -> dict[str, str]:
    """The sidecar points back at the app's origin: keys, heartbeats, and the one page that may
    frame the IDE (workspace hosts live on another site, so nothing is inferred from the host)."""
    base = public_url.rstrip("/")
    parts = urlsplit(base)
    return {
        "APP_ORIGIN": f"{parts.scheme}://{parts.netloc}",
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
    ws: WorkspaceRecord,
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
    ws: WorkspaceRecord,
    settings: WorkspaceSettings,
    *,
    activity_token: str,
    public_url: str,
    issuer: str,
    theia_settings: dict[str, Any],
) -> list[Obj]:
    """The workspace's own objects, in creation order: its Secret, PVC, pod, Service, Ingress.
    ``theia_settings`` is Theia's settings.json (``render_settings(...)``)."""
    names = Names.of(ws["user_id"], ws["workspace_id"])
    labels = owner_labels(ws["user_id"], ws["tenant_id"], ws["workspace_id"])
    return [
        make_workspace_secret(
            names.secret, names.namespace, labels, activity_token, theia_settings
        ),
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
