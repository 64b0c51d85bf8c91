"""Workspace settings, read once from the environment (the platform's own are in shared.settings).

Plan *limits* (running workspaces, storage) come only from :mod:`shared.plans`; what is here is how
a workspace is built and looked after: images, sizes of the pod per plan, timeouts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.plans import CATALOG, Plan
from shared.settings import env_float, env_int


@dataclass(frozen=True)
class PodSize:
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


# Compute per workspace pod by plan (Theia + sidecar together); the sidecar takes a fixed slice.
POD_SIZES: dict[str, PodSize] = {
    "free": PodSize("250m", "1", "1Gi", "2Gi"),
    "starter": PodSize("500m", "2", "2Gi", "4Gi"),
    "pro": PodSize("1", "4", "4Gi", "8Gi"),
}
SIDECAR_SIZE = PodSize("50m", "250m", "64Mi", "128Mi")

# Every IPv4 range that is not the public internet (RFC 6890 special-purpose: "this network",
# private, carrier-grade NAT, loopback, link-local with the metadata server 169.254.169.254,
# IETF/documentation/benchmark nets, multicast, reserved 240/4 which GKE may use for pods):
# a workspace reaches only DNS and public addresses, never the cluster, the VPC or metadata.
BLOCKED_EGRESS_CIDRS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


def _cidrs(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of IPv4 CIDRs, normalised; a bad one fails at start-up."""
    import ipaddress

    out = []
    for raw in (env.get(name) or "").split(","):
        if raw.strip():
            try:
                out.append(str(ipaddress.IPv4Network(raw.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{name} must list IPv4 CIDRs, got {raw.strip()!r}") from None
    return tuple(out)


def disk_gb(plan: Plan) -> int:
    """Disk of one workspace: the plan's storage split over its running workspaces."""
    return max(1, plan.limits.storage_gb // max(1, plan.limits.running_workspaces))


@dataclass(frozen=True)
class WorkspaceSettings:
    # Workspace hosts are https://<workspace slug>.<domain>.
    domain: str = "workspaces.coditect.dev"
    url_scheme: str = "https"
    # Images (pinned tags): Theia on :3000, our sidecar on :8080.
    theia_image: str = "ghcr.io/eclipse-theia/theia-ide/theia-ide:1.64.1"
    sidecar_image: str = "ghcr.io/coditect/coditect-sidecar:0.1.0"
    # Storage class of workspace disks; GKE's default binds on first consumer.
    storage_class: str = "standard-rwo"
    # Ingress: class, the namespace its controller runs in (the only allowed ingress source)
    # and the cert-manager issuer that makes each host's certificate.
    ingress_class: str = "nginx"
    ingress_namespace: str = "ingress-nginx"
    cluster_issuer: str = "letsencrypt"
    # Extra ranges a workspace may not reach, for a cluster whose pod or service ranges are
    # publicly routable addresses used privately (GKE "PUPI"); the private ones are always denied.
    egress_deny_cidrs: tuple[str, ...] = ()
    # A running workspace without activity for this long is stopped (per plan, else default).
    idle_seconds: int = 2 * 3600
    idle_seconds_by_plan: dict[str, int] = field(default_factory=dict)
    # A workspace running longer than this is stopped whatever its activity; 0 = no limit.
    max_age_seconds: int = 0
    # Stopped workspaces are deleted (storage included) after this long; users are told.
    retention_seconds: int = 30 * 24 * 3600
    # Heartbeats move last_active at most this often per workspace.
    activity_write_seconds: int = 60
    # A pod not Ready this long after the start was asked for has failed (FailedScheduling
    # is tolerated until then so the cluster autoscaler can add a node).
    start_deadline_seconds: int = 300
    # One provisioner invocation waits at most this long, then asks Pub/Sub to redeliver.
    invocation_budget_seconds: float = 480.0
    # How often the provisioner re-reads desired state and renews its lease while waiting.
    watch_tick_seconds: float = 1.0
    lease_seconds: int = 60
    # Delivery attempts of the reconcile subscription (keep equal to its dead-letter policy).
    max_attempts: int = 5
    # Reconcile messages older than this are dropped (a newer one exists by then).
    max_message_age_seconds: int = 3600
    # Repeated FailedMount events before a start is failed.
    failed_mount_limit: int = 3
    # Idle cleanup: candidates handled per transaction, and the production caller's identity.
    cleanup_batch: int = 100
    # Resync: a workspace still converging (pending, provisioning, starting, stopping,
    # deleting) this long after its last write has its reconcile published again (a publish
    # lost after the commit, a message dead-lettered); at most this many per pass. Longer
    # than a start may take (start deadline + one invocation), so a live one is rarely hit.
    resync_after_seconds: int = 900
    resync_batch: int = 200
    scheduler_audience: str = ""
    scheduler_service_account: str = ""

    def idle_for(self, plan_name: str) -> int:
        return self.idle_seconds_by_plan.get(plan_name, self.idle_seconds)

    @property
    def min_idle_seconds(self) -> int:
        return min([self.idle_seconds, *self.idle_seconds_by_plan.values()])

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkspaceSettings:
        env = os.environ if env is None else env
        by_plan = {
            name: env_int(env, f"WORKSPACE_IDLE_SECONDS_{name.upper()}", 0) for name in CATALOG
        }
        return cls(
            domain=env.get("WORKSPACE_DOMAIN", cls.domain),
            url_scheme=env.get("WORKSPACE_URL_SCHEME", cls.url_scheme),
            theia_image=env.get("WORKSPACE_THEIA_IMAGE", cls.theia_image),
            sidecar_image=env.get("WORKSPACE_SIDECAR_IMAGE", cls.sidecar_image),
            storage_class=env.get("WORKSPACE_STORAGE_CLASS", cls.storage_class),
            ingress_class=env.get("WORKSPACE_INGRESS_CLASS", cls.ingress_class),
            ingress_namespace=env.get("WORKSPACE_INGRESS_NAMESPACE", cls.ingress_namespace),
            cluster_issuer=env.get("WORKSPACE_CLUSTER_ISSUER", cls.cluster_issuer),
            egress_deny_cidrs=_cidrs(env, "WORKSPACE_EGRESS_DENY_CIDRS"),
            idle_seconds=env_int(env, "WORKSPACE_IDLE_SECONDS", cls.idle_seconds),
            idle_seconds_by_plan={k: v for k, v in by_plan.items() if v > 0},
            max_age_seconds=env_int(env, "WORKSPACE_MAX_AGE_SECONDS", cls.max_age_seconds),
            retention_seconds=env_int(env, "WORKSPACE_RETENTION_SECONDS", cls.retention_seconds),
            start_deadline_seconds=env_int(
                env, "WORKSPACE_START_DEADLINE_SECONDS", cls.start_deadline_seconds
            ),
            invocation_budget_seconds=env_float(
                env, "PROVISIONER_BUDGET_SECONDS", cls.invocation_budget_seconds
            ),
            max_attempts=env_int(env, "PROVISIONER_MAX_ATTEMPTS", cls.max_attempts),
            resync_after_seconds=env_int(
                env, "WORKSPACE_RESYNC_AFTER_SECONDS", cls.resync_after_seconds
            ),
            resync_batch=env_int(env, "WORKSPACE_RESYNC_BATCH", cls.resync_batch),
            scheduler_audience=env.get("IDLE_CLEANUP_AUDIENCE", ""),
            scheduler_service_account=env.get("IDLE_CLEANUP_INVOKER", ""),
        )


def workspace_settings(services: Any) -> WorkspaceSettings:
    """This process's workspace settings (tests and the local stack may put their own first)."""
    return services.get_or_create("workspace_settings", WorkspaceSettings.from_env)
