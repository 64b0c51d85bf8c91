"""Objects are checked like the real server does: schema (strict) and name rules -> 422."""

from __future__ import annotations

import json
import time

import pydantic
import pytest
from kubernetes.client import ApiException

from devstack.kubeapi.testing import Kube, kube_session
from devstack.kubeapi.validation import check_object, schema_validate

NS = "u-val"


def _pod(**container: object) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", **container}]}}


def _status(e: pytest.ExceptionInfo[ApiException]) -> dict:
    return json.loads(e.value.body)


def _raw_pod(**container: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", **_pod(**container)}


def test_unknown_field_is_422(kube: Kube) -> None:
    kube.namespace(NS)
    # kubernetes 37's typed APIs already refuse unknown fields client-side (pydantic)...
    with pytest.raises(pydantic.ValidationError):
        kube.core.create_namespaced_pod(NS, _pod(image="i:1", imagee="typo"))
    # ...so send the raw object with the official client's dynamic API.
    with pytest.raises(ApiException) as e:
        kube.resource("v1", "Pod").create(namespace=NS, body=_raw_pod(image="i:1", imagee="typo"))
    assert e.value.status == 422
    body = json.loads(e.value.body)
    assert body["reason"] == "Invalid" and body["details"]["kind"] == "Pod"
    assert "'imagee' was unexpected" in body["message"]
    assert body["details"]["causes"][0]["field"] == "spec.containers[0]"


def test_wrong_type_is_422(kube: Kube) -> None:
    kube.namespace(NS)
    with pytest.raises(ApiException) as e:
        kube.resource("v1", "ConfigMap").create(
            namespace=NS,
            body={
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c"},
                "data": {"a": 1},
            },
        )
    assert e.value.status == 422


def test_container_without_image_is_422(kube: Kube) -> None:
    kube.namespace(NS)
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_pod(NS, _pod())
    assert e.value.status == 422
    assert _status(e)["message"] == 'Pod "p" is invalid: spec.containers[0].image: Required value'


@pytest.mark.parametrize(
    ("plural", "name"),
    [
        ("namespaces", "User_Alice"),
        ("namespaces", "a" * 64),
        ("services", "1st-svc"),  # services are DNS-1035: must start with a letter
        ("configmaps", "Has.Capitals"),
        ("configmaps", "x" * 254),
    ],
)
def test_invalid_names_are_422(kube: Kube, plural: str, name: str) -> None:
    kube.namespace(NS)
    with pytest.raises(ApiException) as e:
        if plural == "namespaces":
            kube.core.create_namespace({"metadata": {"name": name}})
        elif plural == "services":
            kube.core.create_namespaced_service(
                NS, {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}
            )
        else:
            kube.core.create_namespaced_config_map(NS, {"metadata": {"name": name}})
    assert e.value.status == 422
    assert _status(e)["details"]["causes"][0]["field"] == "metadata.name"


def test_valid_edge_names(kube: Kube) -> None:
    kube.namespace("a" * 63)
    kube.core.create_namespaced_config_map("a" * 63, {"metadata": {"name": "a.b-c." + "d" * 200}})
    kube.rbac.create_namespaced_role("a" * 63, {"metadata": {"name": "system:Weird_Name"}})


def test_invalid_label_value_is_422(kube: Kube) -> None:
    kube.namespace(NS)
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_config_map(
            NS, {"metadata": {"name": "c", "labels": {"user": "alice@example.com"}}}
        )
    assert e.value.status == 422


def test_invalid_patch_result_is_422(kube: Kube) -> None:
    kube.namespace(NS)
    kube.core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as e:
        kube.resource("v1", "ConfigMap").patch(
            name="c",
            namespace=NS,
            body={"bogus": True},
            content_type="application/merge-patch+json",
        )
    assert e.value.status == 422
    assert kube.core.read_namespaced_config_map("c", NS).to_dict().get("bogus") is None


def test_missing_service_account_is_403(kube: Kube) -> None:
    kube.namespace(NS)
    with pytest.raises(ApiException) as e:
        kube.core.create_namespaced_pod(
            NS,
            {
                **_pod(image="i:1"),
                "spec": {
                    "serviceAccountName": "ide",
                    "containers": [{"name": "c", "image": "i:1"}],
                },
            },
        )
    assert e.value.status == 403
    assert 'serviceaccount "ide" not found' in _status(e)["message"]


def test_validation_off_accepts_schema_invalid_objects() -> None:
    with kube_session(validate=False) as kube:
        kube.namespace(NS)
        pod = kube.resource("v1", "Pod").create(
            namespace=NS, body=_raw_pod(image="i:1", imagee="typo")
        )
        assert pod.metadata.name == "p"
        assert kube.core.read_namespaced_pod("p", NS).metadata.uid == pod.metadata.uid
        # Cheap real-server rules still apply.
        with pytest.raises(ApiException) as e:
            kube.core.create_namespace({"metadata": {"name": "Bad_Name"}})
        assert e.value.status == 422


def test_schema_check_matches_kubernetes_validate_and_is_cached() -> None:
    import kubernetes_validate

    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    bad = {**good, "extra": 1}
    kubernetes_validate.validate(good, "1.31", strict=True)
    schema_validate(good)
    for fn in (lambda o: kubernetes_validate.validate(o, "1.31", strict=True), schema_validate):
        with pytest.raises(kubernetes_validate.ValidationError):
            fn(bad)
    start = time.perf_counter()
    for _ in range(200):
        schema_validate(good)
    per_object = (time.perf_counter() - start) / 200
    assert per_object < 0.005  # cached; the uncached library call is ~7 ms


def test_check_object_direct() -> None:
    from devstack.kubeapi.errors import ApiError
    from devstack.kubeapi.kinds import BY_PLURAL

    with pytest.raises(ApiError) as e:
        check_object(
            BY_PLURAL["pods"],
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"containers": []},
            },
        )
    assert e.value.code == 422
