"""Namespace lifecycle: missing -> 404, delete -> Terminating (403 on creates) -> gone."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from devstack.kubeapi.testing import Kube


def test_missing_namespace_is_404(kube: Kube) -> None:
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_config_map("nope", {"metadata": {"name": "c"}})
    assert e.value.status == 404
    body = json.loads(e.value.body)
    assert body["message"] == 'namespaces "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "namespaces"}
    with pytest.raises(ApiException) as e:
        kube.core.read_namespace("nope")
    assert e.value.status == 404


def test_namespace_delete_terminates_then_cascades(kube: Kube) -> None:
    ns = kube.namespace("u-bob")
    kube.core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    kube.core.create_namespaced_pod(
        ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    )
    kube.core.create_namespace({"metadata": {"name": "u-other"}})
    kube.core.create_namespaced_config_map("u-other", {"metadata": {"name": "keep"}})
    kube.server.cluster.config.namespace_delete_delay = 0.3

    resp = kube.core.delete_namespace(ns)
    assert resp["status"]["phase"] == "Terminating"
    assert resp["metadata"]["deletionTimestamp"]
    read = kube.core.read_namespace(ns)
    assert read.status.phase == "Terminating" and read.metadata.deletion_timestamp

    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_config_map(ns, {"metadata": {"name": "new"}})
    assert e.value.status == 403
    body = json.loads(e.value.body)
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'configmaps "new" is forbidden: unable to create new content in namespace u-bob '
        "because it is being terminated"
    )
    # Deleting it again is a conflict, as kubectl users know.
    with pytest.raises(ApiException) as e:
        kube.core.delete_namespace(ns)
    assert e.value.status == 409
    # Objects are still readable while terminating.
    assert kube.core.read_namespaced_config_map("c", ns)

    def gone() -> bool:
        try:
            kube.core.read_namespace(ns)
        except ApiException as exc:
            return exc.status == 404
        return False

    kube.wait_for(gone, timeout=3)
    assert kube.core.list_pod_for_all_namespaces().items == []
    assert kube.server.objects("configmaps", ns) == []
    assert kube.core.read_namespaced_config_map("keep", "u-other")
    assert [n.metadata.name for n in kube.core.list_namespace().items] == ["u-other"]
    # The name can be reused once it is gone.
    kube.namespace(ns)


def test_namespace_label_patch_and_selector(kube: Kube) -> None:
    kube.namespace("u-a", labels={"coditect.dev/user": "a"})
    kube.namespace("u-b", labels={"coditect.dev/user": "b"})
    kube.core.patch_namespace("u-b", {"metadata": {"labels": {"coditect.dev/state": "idle"}}})
    idle = kube.core.list_namespace(label_selector="coditect.dev/state=idle").items
    assert [n.metadata.name for n in idle] == ["u-b"]
    byname = kube.core.list_namespace(field_selector="metadata.name=u-a").items
    assert [n.metadata.name for n in byname] == ["u-a"]
