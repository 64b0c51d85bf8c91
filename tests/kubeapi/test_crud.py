"""CRUD for every kind the provisioner uses, through the official client's typed APIs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from devstack.kubeapi import READY_DELAY_ANNOTATION
from devstack.kubeapi.testing import Kube

NS = "u-alice"


def _pod(name: str, **labels: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or None),
        spec=client.V1PodSpec(containers=[client.V1Container(name="ide", image="theia:1.0")]),
    )


def _held_pod(name: str, **labels: str) -> client.V1Pod:
    """A pod the stand-in keeps Pending, so its status does not move under a read-modify-write."""
    pod = _pod(name, **labels)
    pod.metadata.annotations = {READY_DELAY_ANNOTATION: "60"}
    return pod


@dataclass
class KindCase:
    plural: str
    api: str  # attribute of Kube: core / networking / rbac
    suffix: str  # e.g. "config_map" for create_namespaced_config_map
    body: Callable[[str], Any]
    change: Callable[[Any], None]  # edits a read object for replace

    def fn(self, kube: Kube, verb: str) -> Any:
        return getattr(getattr(kube, self.api), f"{verb}_namespaced_{self.suffix}")


def _set_label(obj: Any) -> None:
    obj.metadata.labels = {**(obj.metadata.labels or {}), "changed": "yes"}


CASES = [
    KindCase(
        "serviceaccounts",
        "core",
        "service_account",
        lambda n: client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=n)),
        _set_label,
    ),
    KindCase(
        "resourcequotas",
        "core",
        "resource_quota",
        lambda n: client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name=n),
            spec=client.V1ResourceQuotaSpec(hard={"pods": "2", "requests.cpu": "4"}),
        ),
        _set_label,
    ),
    KindCase(
        "limitranges",
        "core",
        "limit_range",
        lambda n: client.V1LimitRange(
            metadata=client.V1ObjectMeta(name=n),
            spec=client.V1LimitRangeSpec(
                limits=[client.V1LimitRangeItem(type="Container", default={"cpu": "500m"})]
            ),
        ),
        _set_label,
    ),
    KindCase(
        "networkpolicies",
        "networking",
        "network_policy",
        lambda n: client.V1NetworkPolicy(
            metadata=client.V1ObjectMeta(name=n),
            spec=client.V1NetworkPolicySpec(
                pod_selector=client.V1LabelSelector(), policy_types=["Ingress"]
            ),
        ),
        _set_label,
    ),
    KindCase(
        "persistentvolumeclaims",
        "core",
        "persistent_volume_claim",
        lambda n: client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name=n),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1VolumeResourceRequirements(requests={"storage": "10Gi"}),
            ),
        ),
        _set_label,
    ),
    KindCase("pods", "core", "pod", lambda n: _held_pod(n), _set_label),
    KindCase(
        "services",
        "core",
        "service",
        lambda n: client.V1Service(
            metadata=client.V1ObjectMeta(name=n),
            spec=client.V1ServiceSpec(
                selector={"app": "ide"}, ports=[client.V1ServicePort(port=80, target_port=3000)]
            ),
        ),
        _set_label,
    ),
    KindCase(
        "ingresses",
        "networking",
        "ingress",
        lambda n: client.V1Ingress(
            metadata=client.V1ObjectMeta(name=n),
            spec=client.V1IngressSpec(
                rules=[
                    client.V1IngressRule(
                        host="alice.ws.example.com",
                        http=client.V1HTTPIngressRuleValue(
                            paths=[
                                client.V1HTTPIngressPath(
                                    path="/",
                                    path_type="Prefix",
                                    backend=client.V1IngressBackend(
                                        service=client.V1IngressServiceBackend(
                                            name="ide", port=client.V1ServiceBackendPort(number=80)
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ]
            ),
        ),
        _set_label,
    ),
    KindCase(
        "secrets",
        "core",
        "secret",
        lambda n: client.V1Secret(
            metadata=client.V1ObjectMeta(name=n), string_data={"token": "s3cret"}
        ),
        _set_label,
    ),
    KindCase(
        "configmaps",
        "core",
        "config_map",
        lambda n: client.V1ConfigMap(metadata=client.V1ObjectMeta(name=n), data={"a": "1"}),
        _set_label,
    ),
    KindCase(
        "events",
        "core",
        "event",
        lambda n: client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=n),
            involved_object=client.V1ObjectReference(kind="Pod", name="ide", namespace=NS),
            reason="Provisioned",
            message="workspace provisioned",
            type="Normal",
        ),
        _set_label,
    ),
    KindCase(
        "roles",
        "rbac",
        "role",
        lambda n: client.V1Role(
            metadata=client.V1ObjectMeta(name=n),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get"])],
        ),
        _set_label,
    ),
    KindCase(
        "rolebindings",
        "rbac",
        "role_binding",
        lambda n: client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=n),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="ide"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="default", namespace=NS)],
        ),
        _set_label,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.plural for c in CASES])
def test_crud_each_kind(kube: Kube, case: KindCase) -> None:
    kube.namespace(NS)
    created = case.fn(kube, "create")(NS, case.body("ide"))
    meta = created.metadata
    assert meta.name == "ide" and meta.namespace == NS
    assert re.fullmatch(r"[0-9a-f-]{36}", meta.uid)
    assert int(meta.resource_version) > 0
    assert meta.creation_timestamp is not None

    got = case.fn(kube, "read")("ide", NS)
    assert got.metadata.uid == meta.uid

    listed = case.fn(kube, "list")(NS)
    assert "ide" in [i.metadata.name for i in listed.items]
    assert int(listed.metadata.resource_version) >= int(got.metadata.resource_version)

    case.change(got)
    replaced = case.fn(kube, "replace")("ide", NS, got)
    assert replaced.metadata.labels["changed"] == "yes"
    assert int(replaced.metadata.resource_version) > int(got.metadata.resource_version)
    assert replaced.metadata.uid == meta.uid

    patched = case.fn(kube, "patch")("ide", NS, {"metadata": {"labels": {"patched": "1"}}})
    assert patched.metadata.labels == {"changed": "yes", "patched": "1"}

    with pytest.raises(ApiException) as conflict:
        case.fn(kube, "create")(NS, case.body("ide"))
    assert conflict.value.status == 409 and conflict.value.reason == "Conflict"

    case.fn(kube, "delete")("ide", NS)
    with pytest.raises(ApiException) as missing:
        case.fn(kube, "read")("ide", NS)
    assert missing.value.status == 404
    with pytest.raises(ApiException) as missing_delete:
        case.fn(kube, "delete")("ide", NS)
    assert missing_delete.value.status == 404


def test_status_bodies_parse(kube: Kube) -> None:
    kube.namespace(NS)
    with pytest.raises(ApiException) as e:
        kube.core.read_namespaced_pod("nope", NS)
    body = json.loads(e.value.body)
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"},
        "code": 404,
    }
    kube.core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}})
    body = json.loads(e.value.body)
    assert body["reason"] == "AlreadyExists" and body["code"] == 409
    assert body["details"] == {"name": "c", "kind": "configmaps"}
    with pytest.raises(ApiException) as e:
        kube.networking.read_namespaced_ingress("x", NS)
    body = json.loads(e.value.body)
    assert body["message"] == 'ingresses.networking.k8s.io "x" not found'
    assert body["details"] == {"name": "x", "kind": "ingresses", "group": "networking.k8s.io"}


def test_stamping_kind_generation_and_defaults(kube: Kube) -> None:
    ns = kube.core.create_namespace({"metadata": {"name": NS}})
    assert ns.kind == "Namespace" and ns.api_version == "v1"
    assert ns.status.phase == "Active"
    assert ns.metadata.labels == {"kubernetes.io/metadata.name": NS}
    pol = kube.networking.create_namespaced_network_policy(
        NS, {"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}
    )
    assert pol.kind == "NetworkPolicy" and pol.api_version == "networking.k8s.io/v1"
    assert pol.metadata.generation == 1
    pol2 = kube.networking.patch_namespaced_network_policy(
        "deny", NS, {"spec": {"policyTypes": ["Ingress", "Egress"]}}
    )
    assert pol2.metadata.generation == 2
    pol3 = kube.networking.patch_namespaced_network_policy(
        "deny", NS, {"metadata": {"labels": {"a": "b"}}}
    )
    assert pol3.metadata.generation == 2
    # Resource versions are one global increasing counter.
    assert int(pol.metadata.resource_version) < int(pol2.metadata.resource_version)
    assert int(pol2.metadata.resource_version) < int(pol3.metadata.resource_version)
    svc = kube.core.create_namespaced_service(
        NS, {"metadata": {"name": "ide"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.type == "ClusterIP"
    secret = kube.core.create_namespaced_secret(
        NS, {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    assert secret.data == {"k": "dg=="} and secret.string_data is None and secret.type == "Opaque"
    pvc = kube.core.read_namespaced_persistent_volume_claim(
        kube.core.create_namespaced_persistent_volume_claim(
            NS,
            {
                "metadata": {"name": "home"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        ).metadata.name,
        NS,
    )
    assert pvc.status.phase == "Bound" and pvc.status.capacity == {"storage": "1Gi"}
    # Each namespace gets what the controllers of a real cluster put there.
    assert kube.core.read_namespaced_service_account("default", NS)
    assert kube.core.read_namespaced_config_map("kube-root-ca.crt", NS)


def test_generate_name(kube: Kube) -> None:
    kube.namespace(NS)
    a = kube.core.create_namespaced_config_map(NS, {"metadata": {"generateName": "ws-"}})
    b = kube.core.create_namespaced_config_map(NS, {"metadata": {"generateName": "ws-"}})
    assert a.metadata.name.startswith("ws-") and len(a.metadata.name) == 8
    assert a.metadata.name != b.metadata.name
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_config_map(NS, {"metadata": {}})
    assert e.value.status == 422


def test_label_selectors(kube: Kube) -> None:
    kube.namespace(NS)
    labels = {
        "a": {"app": "ide", "tier": "gold"},
        "b": {"app": "ide", "tier": "free"},
        "c": {"app": "db"},
        "d": {},
    }
    for name, ls in labels.items():
        kube.core.create_namespaced_config_map(NS, {"metadata": {"name": name, "labels": ls}})

    def names(selector: str) -> list[str]:
        items = kube.core.list_namespaced_config_map(NS, label_selector=selector).items
        return [i.metadata.name for i in items if i.metadata.name != "kube-root-ca.crt"]

    assert names("app=ide") == ["a", "b"]
    assert names("app==ide,tier=gold") == ["a"]
    assert names("app!=ide") == ["c", "d"]
    assert names("tier in (gold, free)") == ["a", "b"]
    assert names("tier notin (gold)") == ["b", "c", "d"]
    assert names("tier") == ["a", "b"]
    assert names("!tier,app") == ["c"]
    assert names("app in (ide),tier notin (free)") == ["a"]
    with pytest.raises(ApiException) as e:
        names("app in ()")
    assert e.value.status == 400


def test_field_selectors_and_cluster_wide_list(kube: Kube) -> None:
    for ns in ("u-a", "u-b"):
        kube.namespace(ns)
        # Held Pending for the phase selector below, however slow the machine is.
        kube.core.create_namespaced_pod(ns, _held_pod("ide", app="ide"))
        kube.core.create_namespaced_pod(ns, _held_pod("other", app="x"))
    pods = kube.core.list_pod_for_all_namespaces(label_selector="app=ide").items
    assert [(p.metadata.namespace, p.metadata.name) for p in pods] == [
        ("u-a", "ide"),
        ("u-b", "ide"),
    ]
    one = kube.core.list_namespaced_pod("u-a", field_selector="metadata.name=other").items
    assert [p.metadata.name for p in one] == ["other"]
    not_other = kube.core.list_pod_for_all_namespaces(field_selector="metadata.name!=other").items
    assert {p.metadata.name for p in not_other} == {"ide"}
    ns_b = kube.core.list_pod_for_all_namespaces(field_selector="metadata.namespace=u-b").items
    assert {p.metadata.namespace for p in ns_b} == {"u-b"}
    pending = kube.core.list_namespaced_pod("u-a", field_selector="status.phase=Pending").items
    assert len(pending) == 2
    with pytest.raises(ApiException) as e:
        kube.core.list_namespaced_pod("u-a", field_selector="spec.bogus=1")
    assert e.value.status == 400 and "field label not supported" in e.value.body


def test_list_pagination(kube: Kube) -> None:
    kube.namespace(NS)
    for i in range(5):
        kube.core.create_namespaced_secret(NS, {"metadata": {"name": f"s{i}"}})
    first = kube.core.list_namespaced_secret(NS, limit=2)
    assert [s.metadata.name for s in first.items] == ["s0", "s1"]
    assert first.metadata.remaining_item_count == 3
    rest = kube.core.list_namespaced_secret(NS, limit=10, _continue=first.metadata._continue)
    assert [s.metadata.name for s in rest.items] == ["s2", "s3", "s4"]
    assert rest.metadata._continue is None


def test_replace_conflict_on_stale_resource_version(kube: Kube) -> None:
    kube.namespace(NS)
    cm = kube.core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    fresh = kube.core.read_namespaced_config_map("c", NS)
    fresh.data = {"a": "2"}
    kube.core.replace_namespaced_config_map("c", NS, fresh)
    cm.data = {"a": "3"}  # still carries the first resourceVersion
    with pytest.raises(ApiException) as e:
        kube.core.replace_namespaced_config_map("c", NS, cm)
    assert e.value.status == 409
    body = json.loads(e.value.body)
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert kube.core.read_namespaced_config_map("c", NS).data == {"a": "2"}
    # A no-op replace does not bump the resourceVersion (as on a real server).
    cur = kube.core.read_namespaced_config_map("c", NS)
    same = kube.core.replace_namespaced_config_map("c", NS, cur)
    assert same.metadata.resource_version == cur.metadata.resource_version


def test_patch_flavours(kube: Kube) -> None:
    kube.namespace(NS)
    kube.core.create_namespaced_config_map(
        NS, {"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}}
    )
    merge = kube.core.patch_namespaced_config_map(
        "c",
        NS,
        {"metadata": {"labels": {"a": None, "c": "3"}}, "data": {"y": "2"}},
        _content_type="application/merge-patch+json",
    )
    assert merge.metadata.labels == {"b": "2", "c": "3"}
    assert merge.data == {"x": "1", "y": "2"}
    jp = kube.core.patch_namespaced_config_map(
        "c",
        NS,
        [
            {"op": "replace", "path": "/data/x", "value": "9"},
            {"op": "remove", "path": "/metadata/labels/b"},
        ],
    )
    assert jp.data == {"x": "9", "y": "2"} and jp.metadata.labels == {"c": "3"}
    # Strategic merge patch merges containers by name, the way kubectl patch does.
    kube.core.create_namespaced_pod(NS, _pod("p"))
    smp = kube.core.patch_namespaced_pod(
        "p", NS, {"spec": {"containers": [{"name": "ide", "image": "theia:2.0"}]}}
    )
    assert [(c.name, c.image) for c in smp.spec.containers] == [("ide", "theia:2.0")]
    # A resourceVersion inside a patch is a precondition.
    with pytest.raises(ApiException) as e:
        kube.core.patch_namespaced_config_map("c", NS, {"metadata": {"resourceVersion": "1"}})
    assert e.value.status == 409
    with pytest.raises(ApiException) as e:
        kube.core.patch_namespaced_config_map("missing", NS, {"data": {}})
    assert e.value.status == 404


def test_delete_responses(kube: Kube) -> None:
    kube.namespace(NS)
    kube.core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}})
    status = kube.core.delete_namespaced_config_map("c", NS)
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "c"
    kube.core.create_namespaced_pod(NS, _pod("p"))
    pod = kube.core.delete_namespaced_pod("p", NS)
    assert pod.metadata.name == "p"  # pods come back as the deleted object
    for i in range(3):
        kube.core.create_namespaced_pod(NS, _pod(f"q{i}", app="q"))
    kube.core.delete_collection_namespaced_pod(NS, label_selector="app=q")
    assert kube.core.list_namespaced_pod(NS).items == []


def test_update_rules_like_the_real_server(kube: Kube) -> None:
    kube.namespace(NS)
    kube.core.create_namespaced_pod(NS, _pod("p"))
    with pytest.raises(ApiException) as e:
        kube.core.patch_namespaced_pod("p", NS, {"spec": {"restartPolicy": "Never"}})
    assert e.value.status == 422 and "pod updates may not change fields" in e.value.body
    kube.rbac.create_namespaced_role_binding(NS, CASES[-1].body("rb"))
    with pytest.raises(ApiException) as e:
        kube.rbac.patch_namespaced_role_binding("rb", NS, {"roleRef": {"name": "other"}})
    assert e.value.status == 422 and "cannot change roleRef" in e.value.body
    # Main-resource writes keep the status; /status writes keep the rest.
    pod = kube.core.patch_namespaced_pod("p", NS, {"status": {"phase": "Failed"}})
    assert pod.status.phase != "Failed"
    pod = kube.core.patch_namespaced_pod_status(
        "p", NS, {"status": {"message": "hi"}, "metadata": {"labels": {"z": "1"}}}
    )
    assert pod.status.message == "hi" and not (pod.metadata.labels or {}).get("z")
