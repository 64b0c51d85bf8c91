"""Manifests are pure functions of plain values: compared to expected dicts, no cluster."""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json

import kubernetes_validate
import pytest

from shared.llm.theia_settings import models_for_plan, render_settings
from shared.provisioner import objects as o
from shared.provisioner.slugs import is_dns_label, label_value, safe_slug, user_namespace
from shared.workspaces.config import WorkspaceSettings

UID, TID, WID = "a" * 32, "b" * 32, "c" * 32
GATEWAY = "https://app.example/api/llm/v1"
LLM_KEY = "cdt_llm_0123456789abcdef01234567_" + "k" * 43
THEIA = render_settings(models_for_plan("starter"), GATEWAY, LLM_KEY)
SETTINGS = WorkspaceSettings(domain="ws.example.com", sidecar_image="registry.example/sidecar:1")
WS = {
    "workspace_id": WID,
    "user_id": UID,
    "tenant_id": TID,
    "plan": "starter",
    "disk_gb": 3,
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        ("abc", "abc"),
        ("ABC", "abc---" + __import__("hashlib").sha256(b"ABC").hexdigest()[:8]),
        ("a_b", "a-b---" + __import__("hashlib").sha256(b"a_b").hexdigest()[:8]),
        ("-lead", "lead---" + __import__("hashlib").sha256(b"-lead").hexdigest()[:8]),
        ("___", "x---" + __import__("hashlib").sha256(b"___").hexdigest()[:8]),
        (
            "user@example.com",
            "user-example-com---"
            + __import__("hashlib").sha256(b"user@example.com").hexdigest()[:8],
        ),
    ],
)
def test_safe_slug(value, expected):
    assert safe_slug(value) == expected
    assert is_dns_label(safe_slug(value))


def test_long_and_colliding_ids_stay_distinct_and_short():
    long_a, long_b = "a" * 80, "a" * 79 + "b"
    assert safe_slug(long_a) != safe_slug(long_b)
    assert len(safe_slug(long_a)) <= 40
    assert safe_slug("A") != safe_slug("a")
    assert is_dns_label(user_namespace("x" * 200))
    assert label_value(UID) == UID
    assert len(label_value("z" * 100)) <= 63


def test_empty_id_is_refused():
    with pytest.raises(ValueError):
        safe_slug("")


def test_namespace_is_restricted_and_labelled():
    labels = o.owner_labels(UID, TID)
    assert o.make_namespace(f"u-{UID}", labels) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": f"u-{UID}",
            "labels": {
                "app.kubernetes.io/name": "coditect-workspace",
                "app.kubernetes.io/managed-by": "coditect-provisioner",
                "coditect.dev/tenant": TID,
                "coditect.dev/user": UID,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def test_service_account_mounts_no_token():
    sa = o.make_service_account("ns", {"k": "v"})
    assert sa["automountServiceAccountToken"] is False
    assert sa["metadata"] == {"name": "workspace", "namespace": "ns", "labels": {"k": "v"}}


def test_quota_by_plan():
    quota = o.make_resource_quota("ns", {}, plan="starter", running=3, storage_gb=10, volumes=3)
    assert quota["spec"]["hard"] == {
        "pods": "3",
        "requests.cpu": "1650m",  # (500m + 50m sidecar) x 3
        "limits.cpu": "6750m",  # (2 + 250m) x 3
        "requests.memory": "6336Mi",  # (2Gi + 64Mi) x 3
        "limits.memory": "12672Mi",  # (4Gi + 128Mi) x 3
        "requests.storage": "10Gi",
        "persistentvolumeclaims": "3",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


def test_network_policy_allows_only_the_ingress_controller_metrics_dns_and_the_internet():
    policy = o.make_network_policy("ns", {}, ingress_namespace="ingress-nginx")
    spec = policy["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8080}],
        },
        {
            # Google Managed Prometheus scrapes the sidecar's metrics port, and nothing else.
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9090}],
        },
    ]
    dns, internet = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    block = internet["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        block["except"]
    )


def egress_allowed(policy: dict, address: str, port: int = 443) -> bool:
    """NetworkPolicy semantics for an address outside the cluster's DNS pods: allowed when some
    egress rule's ipBlock holds it (and none of its exceptions does) on that port."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        ports = [p["port"] for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if block is None:
                continue
            inside = ip.version == 4 and ip in ipaddress.ip_network(block["cidr"])
            if inside and not any(ip in ipaddress.ip_network(e) for e in block.get("except", [])):
                return True
    return False


def test_egress_reaches_only_dns_and_the_public_internet():
    policy = o.make_network_policy("ns", {}, ingress_namespace="ingress-nginx")
    dns, internet = policy["spec"]["egress"]
    # DNS: only kube-dns pods in kube-system, only port 53, and no address range at all.
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert sorted((p["protocol"], p["port"]) for p in dns["ports"]) == [("TCP", 53), ("UDP", 53)]
    assert "ports" not in internet
    denied = [
        "169.254.169.254",  # the metadata server
        "169.254.169.252",  # GKE's metadata server for Workload Identity
        "10.20.0.7",  # pods (terraform's default range)
        "10.24.0.1",  # services
        "10.10.0.2",  # nodes
        "172.16.0.2",  # the control plane
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "127.0.0.1",
        "0.0.0.0",
        "240.0.0.1",  # reserved; GKE may put pods there
        "224.0.0.251",  # multicast
        "255.255.255.255",
    ]
    for address in denied:
        for port in (53, 80, 443, 8080):
            assert not egress_allowed(policy, address, port), address
    for address in ("8.8.8.8", "1.1.1.1", "142.250.74.110", "140.82.112.3", "151.101.1.1"):
        assert egress_allowed(policy, address, 443), address
    assert not egress_allowed(policy, "2001:4860:4860::8888")  # no IPv6 rule: denied
    # Over the whole IPv4 space (one address per /16): allowed exactly where it is public.
    for high in range(256):
        for low in range(0, 256, 17):
            ip = ipaddress.IPv4Address(f"{high}.{low}.3.9")
            public = ip.is_global and not ip.is_multicast
            assert egress_allowed(policy, str(ip)) == public, str(ip)


def test_extra_denied_ranges_for_publicly_routed_cluster_ranges():
    settings = WorkspaceSettings.from_env(
        {"WORKSPACE_EGRESS_DENY_CIDRS": "34.118.224.0/20, 5.6.7.8"}
    )
    assert settings.egress_deny_cidrs == ("34.118.224.0/20", "5.6.7.8/32")
    policy = next(
        obj
        for obj in o.user_objects(WS, settings, running=3, storage_gb=10, volumes=3)
        if obj["kind"] == "NetworkPolicy"
    )
    assert not egress_allowed(policy, "34.118.230.1")
    assert not egress_allowed(policy, "5.6.7.8")
    assert egress_allowed(policy, "34.117.0.1")
    with pytest.raises(ValueError, match="WORKSPACE_EGRESS_DENY_CIDRS"):
        WorkspaceSettings.from_env({"WORKSPACE_EGRESS_DENY_CIDRS": "10.0.0.0/33"})
    # A changed policy input changes the namespace's setup marker, so it is applied again.
    assert o.setup_marker("free", settings) != o.setup_marker("free", SETTINGS)
    assert o.setup_marker("free", SETTINGS) != o.setup_marker("pro", SETTINGS)


def test_pvc_does_not_wait_for_binding_and_uses_the_class():
    pvc = o.make_pvc("d", "ns", {}, storage_gb=3, storage_class="fast")
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "fast",
        "resources": {"requests": {"storage": "3Gi"}},
    }


def build_all() -> list[dict]:
    objs = o.user_objects(WS, SETTINGS, running=3, storage_gb=10, volumes=3)
    return objs + o.workspace_objects(
        WS,
        SETTINGS,
        activity_token="tok",
        public_url="https://app.example",
        issuer="https://app.example",
        theia_settings=THEIA,
    )


def build() -> dict[str, dict]:
    return {obj["kind"]: obj for obj in build_all()}


def test_pod_is_locked_down_and_wired_to_the_sidecar():
    pod = build()["Pod"]
    assert pod["metadata"]["name"] == f"ws-{WID}"
    assert pod["metadata"]["namespace"] == f"u-{UID}"
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "workspace"
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    theia, sidecar = spec["containers"]
    assert theia["image"] == SETTINGS.theia_image
    assert theia["ports"][0]["containerPort"] == 3000
    assert sidecar["image"] == "registry.example/sidecar:1"
    for container in (theia, sidecar):
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
            "readOnlyRootFilesystem": True,
        }
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert container["readinessProbe"] and container["livenessProbe"]
        assert container["imagePullPolicy"] == "Always"  # tags: re-resolved on every start
    assert theia["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "5Gi"},
    }
    # Theia writes only to the disk and two scratch directories; it never sees the activity
    # credential. Its settings (with the workspace's LLM key) are a whole Secret volume.
    assert theia["env"] == [
        {"name": "HOME", "value": "/home/coditect"},
        {"name": "CODITECT_THEIA_SETTINGS", "value": "/etc/coditect/theia"},
    ]
    assert theia["volumeMounts"] == [
        {"name": "home", "mountPath": "/home/project"},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "user-home", "mountPath": "/home/coditect"},
        {"name": "theia-settings", "mountPath": "/etc/coditect/theia", "readOnly": True},
    ]
    assert theia["livenessProbe"]["tcpSocket"] == {"port": 3000}
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in sidecar["env"]}
    assert env == {
        # The app's origin: the only page that may frame the IDE (workspaces are another site).
        "APP_ORIGIN": "https://app.example",
        "UPSTREAM_URL": "http://127.0.0.1:3000",
        "LISTEN_PORT": "8080",
        "METRICS_PORT": "9090",
        "JWKS_URL": "https://app.example/.well-known/jwks.json",
        "TOKEN_ISSUER": "https://app.example",
        "WORKSPACE_ID": WID,
        "USER_ID": UID,
        "TENANT_ID": TID,
        "ACTIVITY_URL": f"https://app.example/api/workspaces/{WID}/activity",
        # The credential is a file from the namespace's Secret, never a literal nor an env var.
        "ACTIVITY_TOKEN_FILE": "/var/run/coditect/activity/activity-token",
    }
    assert sidecar["volumeMounts"] == [
        {"name": "activity-token", "mountPath": "/var/run/coditect/activity", "readOnly": True}
    ]
    assert spec["volumes"] == [
        {"name": "home", "persistentVolumeClaim": {"claimName": f"ws-{WID}-home"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "user-home", "emptyDir": {"sizeLimit": "2Gi"}},
        {
            "name": "activity-token",
            "secret": {
                "secretName": f"ws-{WID}-secrets",
                "items": [{"key": "activity-token", "path": "activity-token"}],
                "defaultMode": 0o440,
            },
        },
        {
            "name": "theia-settings",
            "secret": {
                "secretName": f"ws-{WID}-secrets",
                "items": [{"key": "settings.json", "path": "settings.json"}],
                "defaultMode": 0o440,
            },
        },
    ]


def test_image_digests_are_pulled_if_not_present_and_need_no_checkov_skip():
    by_tag = build()["Pod"]
    reasons = by_tag["metadata"]["annotations"]
    assert list(reasons) == ["checkov.io/skip1"]
    assert reasons["checkov.io/skip1"].startswith("CKV_K8S_43=")
    digest = "registry.example/sidecar@sha256:" + "a" * 64
    pinned = dataclasses.replace(
        SETTINGS, theia_image="registry.example/theia@sha256:" + "b" * 64, sidecar_image=digest
    )
    pod = next(
        obj
        for obj in o.workspace_objects(
            WS,
            pinned,
            activity_token="tok",
            public_url="https://a.example",
            issuer="https://a",
            theia_settings=THEIA,
        )
        if obj["kind"] == "Pod"
    )
    assert "annotations" not in pod["metadata"]
    assert [c["imagePullPolicy"] for c in pod["spec"]["containers"]] == ["IfNotPresent"] * 2
    # One of the two by tag: still skipped, with its reason.
    half = dataclasses.replace(pinned, theia_image=SETTINGS.theia_image)
    assert o.make_pod(
        o.Names.of(UID, WID),
        {},
        theia_image=half.theia_image,
        sidecar_image=half.sidecar_image,
        size=o.POD_SIZES["free"],
        sidecar_env={},
    )["metadata"]["annotations"]["checkov.io/skip1"].startswith("CKV_K8S_43=")


def test_service_selects_exactly_this_workspace_and_hides_metrics():
    service = build()["Service"]
    assert service["spec"]["selector"] == {
        "coditect.dev/workspace": WID,
        "app.kubernetes.io/managed-by": "coditect-provisioner",
    }
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_ingress_has_tls_from_cert_manager_and_long_timeouts():
    ingress = build()["Ingress"]
    host = f"ws-{WID}.ws.example.com"
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": f"ws-{WID}-tls"}]
    assert ingress["spec"]["rules"][0]["host"] == host
    notes = ingress["metadata"]["annotations"]
    assert notes["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert notes["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"


def _gibi(quantity: str) -> float:
    number, unit = quantity[:-2], quantity[-2:]
    return int(number) / (1024 if unit == "Mi" else 1) if unit in ("Mi", "Gi") else int(quantity)


def test_pod_runs_sandboxed_on_the_workspace_pool_only():
    spec = build()["Pod"]["spec"]
    # gVisor (GKE Sandbox): the user's code talks to a user-space kernel, not the node's.
    assert spec["runtimeClassName"] == "gvisor"
    # Only the tainted workspace pool: selected by its label, and its taint tolerated exactly
    # (no blanket "Exists" toleration that would also let the pod onto other tainted nodes).
    assert spec["nodeSelector"] == {"coditect.dev/pool": "workspaces"}
    assert spec["tolerations"] == [
        {
            "key": "coditect.dev/workspaces",
            "operator": "Equal",
            "value": "true",
            "effect": "NoSchedule",
        }
    ]


def test_every_container_bounds_its_ephemeral_storage():
    spec = build()["Pod"]["spec"]
    limits = 0.0
    for container in spec["containers"] + spec.get("initContainers", []):
        resources = container["resources"]
        request = _gibi(resources["requests"]["ephemeral-storage"])
        limit = _gibi(resources["limits"]["ephemeral-storage"])
        assert 0 < request <= limit, container["name"]
        limits += limit
    # The kubelet counts emptyDirs against the pod's total: the containers' limits cover them.
    scratch = sum(_gibi(v["emptyDir"]["sizeLimit"]) for v in spec["volumes"] if "emptyDir" in v)
    assert limits > scratch


def test_placement_can_be_given():
    names = o.Names.of(UID, WID)
    placement = o.Placement(pool="sandbox-b", runtime_class="gvisor-b")
    pod = o.make_pod(
        names,
        o.owner_labels(UID, TID, WID),
        theia_image="t:1",
        sidecar_image="s:1",
        size=o.POD_SIZES["pro"],
        sidecar_env={},
        placement=placement,
    )
    assert pod["spec"]["runtimeClassName"] == "gvisor-b"
    assert pod["spec"]["nodeSelector"] == {"coditect.dev/pool": "sandbox-b"}


def test_one_secret_holds_the_credential_and_theia_settings():
    secrets = [s for s in build_all() if s["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == [f"ws-{WID}-secrets"]
    data = secrets[0]["data"]
    assert set(data) == {"activity-token", "settings.json"}
    assert base64.b64decode(data["activity-token"]) == b"tok"
    settings = json.loads(base64.b64decode(data["settings.json"]))
    assert settings == THEIA
    models = settings["ai-features.openAiCustom.customOpenAiModels"]
    assert models and all(m["url"] == GATEWAY and m["apiKey"] == LLM_KEY for m in models)
    assert secrets[0]["metadata"]["labels"]["coditect.dev/workspace"] == WID


def test_every_object_is_labelled_and_valid_against_the_official_schema():
    for obj in build_all():
        kind = obj["kind"]
        labels = obj["metadata"]["labels"]
        assert labels["coditect.dev/user"] == UID and labels["coditect.dev/tenant"] == TID
        assert labels["app.kubernetes.io/managed-by"] == "coditect-provisioner"
        if kind in ("Secret", "PersistentVolumeClaim", "Pod", "Service", "Ingress"):
            assert labels["coditect.dev/workspace"] == WID
        kubernetes_validate.validate(obj, "1.31", strict=True)
    kubernetes_validate.validate(
        o.make_namespace("u-x", o.owner_labels(UID, TID)), "1.31", strict=True
    )


def test_adoption_requires_every_label():
    labels = o.owner_labels(UID, TID, WID)
    assert o.is_ours({"metadata": {"labels": {**labels, "extra": "1"}}}, labels)
    assert not o.is_ours({"metadata": {"labels": {**labels, "coditect.dev/user": "x"}}}, labels)
    assert not o.is_ours({"metadata": {}}, labels)
