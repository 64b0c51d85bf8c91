"""Workspace settings, read once from the environment (the platform's own are in shared.settings).

Plan *limits* (running workspaces, storage) come only from :mod:`shared.plans`; what is here is how
a workspace is built and looked after: images, sizes of the pod per plan, timeouts.
"""

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.envconfig import EnvSettings, env, split_list
from shared.plans import CATALOG, Plan


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


def disk_gb(plan: Plan) -> int:
    """Disk of one workspace: the plan's storage split over its running workspaces."""
    return max(1, plan.limits.storage_gb // max(1, plan.limits.running_workspaces))


def _ipv4_cidrs(raw: Any) -> tuple[str, ...]:
    """Comma-separated IPv4 CIDRs, normalised; a bad one fails at start-up."""
    out = []
    for item in split_list(raw) or ():
        try:
            out.append(str(ipaddress.IPv4Network(item, strict=False)))
        except ValueError:
            raise ValueError(f"not an IPv4 CIDR: {item!r}") from None
    return tuple(out)


IDLE_BY_PLAN_PREFIX = "WORKSPACE_IDLE_SECONDS_"


@dataclass(frozen=True)
class WorkspaceSettings(EnvSettings):
    domain: str = env(
        "WORKSPACE_DOMAIN",
        "coditect-workspaces.dev",
        "Workspace hosts are <slug>.<domain>: a registrable domain apart from the app's, so "
        "SameSite cookies and Sec-Fetch-Site tell the IDE and the app apart (docs/deploy.md).",
    )
    url_scheme: str = env("WORKSPACE_URL_SCHEME", "https", "Scheme of workspace URLs.")
    theia_image: str = env(
        "WORKSPACE_THEIA_IMAGE",
        "ghcr.io/coditect/coditect-ide:0.1.0",
        "The workspace IDE image built from ide/ (pinned tag), serving on :3000.",
    )
    sidecar_image: str = env(
        "WORKSPACE_SIDECAR_IMAGE",
        "ghcr.io/coditect/coditect-sidecar:0.1.0",
        "Sidecar image (pinned tag), serving on :8080.",
    )
    storage_class: str = env(
        "WORKSPACE_STORAGE_CLASS",
        "standard-rwo",
        "Storage class of workspace disks (GKE's default binds on first consumer).",
    )
    ingress_class: str = env("WORKSPACE_INGRESS_CLASS", "nginx", "Ingress class.")
    ingress_namespace: str = env(
        "WORKSPACE_INGRESS_NAMESPACE",
        "ingress-nginx",
        "Namespace of the ingress controller: the only allowed ingress source.",
    )
    cluster_issuer: str = env(
        "WORKSPACE_CLUSTER_ISSUER", "letsencrypt", "cert-manager issuer of workspace hosts."
    )
    egress_deny_cidrs: tuple[str, ...] = env(
        "WORKSPACE_EGRESS_DENY_CIDRS",
        (),
        "Extra IPv4 ranges a workspace may not reach (comma-separated), for clusters whose "
        "pod or service ranges are public addresses used privately; private ones are always "
        "denied.",
        parse=_ipv4_cidrs,
    )
    idle_seconds: int = env(
        "WORKSPACE_IDLE_SECONDS",
        2 * 3600,
        "A running workspace without activity this long is stopped (files kept).",
        gt=0,
    )
    # Per plan, from WORKSPACE_IDLE_SECONDS_<PLAN> (see ENV_PATTERNS).
    idle_seconds_by_plan: dict[str, int] = dataclasses.field(default_factory=dict)
    max_age_seconds: int = env(
        "WORKSPACE_MAX_AGE_SECONDS",
        0,
        "A workspace running longer than this is stopped whatever its activity; 0: no limit.",
        ge=0,
    )
    retention_seconds: int = env(
        "WORKSPACE_RETENTION_SECONDS",
        30 * 24 * 3600,
        "Stopped workspaces are deleted, storage included, after this long (users are told).",
        gt=0,
    )
    activity_write_seconds: int = env(
        "WORKSPACE_ACTIVITY_WRITE_SECONDS",
        60,
        "Heartbeats move a workspace's last_active at most this often (one store write each).",
        gt=0,
    )
    start_deadline_seconds: int = env(
        "WORKSPACE_START_DEADLINE_SECONDS",
        300,
        "A pod not Ready this long after the start was asked for has failed.",
        gt=0,
    )
    invocation_budget_seconds: float = env(
        "PROVISIONER_BUDGET_SECONDS",
        480.0,
        "One provisioner invocation waits at most this long, then asks for redelivery.",
        gt=0,
    )
    # How often the provisioner re-reads desired state and renews its lease while waiting.
    watch_tick_seconds: float = 1.0
    lease_seconds: int = 60
    max_attempts: int = env(
        "PROVISIONER_MAX_ATTEMPTS",
        5,
        "Delivery attempts of the reconcile subscription (equal to its dead-letter policy).",
        gt=0,
    )
    # Reconcile messages older than this are dropped (a newer one exists by then).
    max_message_age_seconds: int = 3600
    # Repeated FailedMount events before a start is failed.
    failed_mount_limit: int = 3
    # Idle cleanup: candidates handled per transaction.
    cleanup_batch: int = 100
    resync_after_seconds: int = env(
        "WORKSPACE_RESYNC_AFTER_SECONDS",
        900,
        "A workspace still converging this long after its last write has its reconcile "
        "published again (longer than a start may take).",
        gt=0,
    )
    resync_batch: int = env(
        "WORKSPACE_RESYNC_BATCH", 200, "Most workspaces re-published per resync pass.", gt=0
    )
    scheduler_audience: str = env(
        "IDLE_CLEANUP_AUDIENCE", "", "Audience of Cloud Scheduler's OIDC token (idle cleanup)."
    )
    scheduler_service_account: str = env(
        "IDLE_CLEANUP_INVOKER", "", "Service account Cloud Scheduler calls idle cleanup as."
    )

    ENV_PATTERNS = (
        (
            IDLE_BY_PLAN_PREFIX + "<PLAN>",
            "",
            "Idle time for one plan (FREE, STARTER, PRO), else WORKSPACE_IDLE_SECONDS.",
        ),
    )

    @classmethod
    def from_variables(cls, values: Mapping[str, str]) -> dict[str, Any]:
        by_plan = {}
        for plan in CATALOG:
            name = IDLE_BY_PLAN_PREFIX + plan.upper()
            raw = values.get(name, "0").strip()
            if raw == "0":
                continue
            if not raw.isdigit():
                raise ValueError(f"{name}: not a positive number of seconds: {raw!r}")
            by_plan[plan] = int(raw)
        return {"idle_seconds_by_plan": by_plan} if by_plan else {}

    def idle_for(self, plan_name: str) -> int:
        return self.idle_seconds_by_plan.get(plan_name, self.idle_seconds)

    @property
    def min_idle_seconds(self) -> int:
        return min([self.idle_seconds, *self.idle_seconds_by_plan.values()])
