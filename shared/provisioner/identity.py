"""Who owns a workspace object and what it is called: our labels, adoption, names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.provisioner.slugs import label_value, user_namespace, workspace_slug

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


def object_meta(name: str, namespace: str | None, labels: dict[str, str], **extra: Any) -> Obj:
    meta: Obj = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


@dataclass(frozen=True)
class Names:
    namespace: str
    slug: str  # pod, Service and Ingress name, and the host's first label
    pvc: str
    secret: str  # the sidecar's activity credential and Theia's settings (the LLM key)
    tls_secret: str
    # Secrets of workspaces started by earlier versions (credential and settings apart), removed
    # with the workspace.
    retired_secrets: tuple[str, ...]

    @classmethod
    def of(cls, user_id: str, workspace_id: str) -> Names:
        slug = workspace_slug(workspace_id)
        return cls(
            user_namespace(user_id),
            slug,
            f"{slug}-home",
            f"{slug}-secrets",
            f"{slug}-tls",
            (f"{slug}-activity", f"{slug}-theia"),
        )
