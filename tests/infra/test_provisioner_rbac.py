"""The provisioner's rights on the cluster (terraform/modules/cluster/provisioner.tf), offline.

RBAC is read from the HCL; the ValidatingAdmissionPolicy's CEL is evaluated with cel-python
against admission requests built from the provisioner's own rendered objects, so the policy is
checked to admit what the provisioner really sends and to refuse the same writes elsewhere.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import celpy
import pytest

from shared.provisioner import identity
from shared.provisioner.slugs import user_namespace
from tests.infra.test_checkov import rendered_workspace
from tests.infra.test_terraform import local, resources

PROVISIONER = "provisioner@coditect-test.iam.gserviceaccount.com"
PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "ResourceQuota": "resourcequotas",
    "LimitRange": "limitranges",
    "NetworkPolicy": "networkpolicies",
    "Secret": "secrets",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Pod": "pods",
    "Service": "services",
    "Ingress": "ingresses",
}
WRITES = {"create", "update", "patch", "delete"}


@pytest.fixture(scope="module")
def cluster(modules: dict) -> dict[str, Any]:
    return modules["cluster"]


def resolve(value: Any, cluster: dict[str, Any]) -> Any:
    """Substitute the module's locals and the provisioner's identity into HCL strings."""
    labels = local(cluster, "provisioner_labels")
    kinds = local(cluster, "provisioner_kinds")
    if isinstance(value, dict):
        return {k: resolve(v, cluster) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, cluster) for v in value]
    if not isinstance(value, str):
        return value
    if value == '${concat(local.provisioner_kinds.core, ["secrets"])}':
        return [*kinds["core"], "secrets"]
    whole = re.fullmatch(r"\$\{local\.provisioner_kinds\.(\w+)\}", value)
    if whole:
        return kinds[whole.group(1)]
    value = re.sub(r"\$\{local\.provisioner_labels\.(\w+)\}", lambda m: labels[m.group(1)], value)
    value = value.replace(
        "${local.provisioner_namespace_prefix}", local(cluster, "provisioner_namespace_prefix")
    )
    value = value.replace("${var.provisioner_service_account}", PROVISIONER)
    assert "${" not in value, value
    return value


@pytest.fixture(scope="module")
def rules(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    role = resources(cluster, "kubernetes_cluster_role_v1")["provisioner"]
    return resolve(role["rule"], cluster)


@pytest.fixture(scope="module")
def policy(cluster: dict[str, Any]) -> dict[str, Any]:
    manifests = resources(cluster, "kubernetes_manifest")
    return resolve(manifests["provisioner_policy"]["manifest"], cluster)


def test_label_keys_are_the_provisioners(cluster: dict[str, Any]) -> None:
    labels = local(cluster, "provisioner_labels")
    assert labels == {
        "managed_by": identity.L_MANAGED,
        "manager": identity.MANAGED_BY,
        "user": identity.L_USER,
        "tenant": identity.L_TENANT,
    }
    prefix = local(cluster, "provisioner_namespace_prefix")
    assert user_namespace("0123456789abcdef").startswith(prefix)


def test_no_secret_reads_no_wildcards_no_rbac(rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        assert "rbac.authorization.k8s.io" not in rule["api_groups"], rule
        if "secrets" in rule["resources"]:
            assert not {"get", "list", "watch"} & set(rule["verbs"]), rule
    secret_rules = [r for r in rules if "secrets" in r["resources"]]
    assert secret_rules and all(r["resources"] == ["secrets"] for r in secret_rules)


def test_every_kind_the_provisioner_writes_is_granted_and_policed(
    rules: list[dict[str, Any]], policy: dict[str, Any]
) -> None:
    writable = {
        (group, resource)
        for rule in rules
        if WRITES & set(rule["verbs"])
        for group in rule["api_groups"]
        for resource in rule["resources"]
    }
    policed = {
        (group, resource)
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        if {"CREATE", "UPDATE", "DELETE"} <= set(rule["operations"])
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert writable == policed, writable ^ policed
    for obj in rendered_workspace():
        group = obj["apiVersion"].rpartition("/")[0]
        assert (group, PLURALS[obj["kind"]]) in writable, obj["kind"]
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_the_binding_denies(cluster: dict[str, Any]) -> None:
    manifests = resources(cluster, "kubernetes_manifest")
    binding = manifests["provisioner_policy_binding"]["manifest"]
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["policyName"] == (
        "${kubernetes_manifest.provisioner_policy.manifest.metadata.name}"
    )


# -- the policy's CEL, evaluated ------------------------------------------------------------------
ENV = celpy.Environment()


@functools.cache
def _cel(expression: str) -> Any:
    return ENV.program(ENV.compile(expression))


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    value = _cel(expression).evaluate(activation)
    assert not isinstance(value, celpy.CELEvalError), (expression, value)
    return value


def admit(policy: dict[str, Any], request: dict[str, Any], obj: Any, old: Any) -> bool | None:
    """True: admitted; False: denied; None: the policy does not apply (another user)."""
    activation: dict[str, Any] = {
        "request": celpy.json_to_cel(request),
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
    }
    spec = policy["spec"]
    if not all(_evaluate(c["expression"], activation) for c in spec["matchConditions"]):
        return None
    variables: dict[Any, Any] = {}
    for variable in spec["variables"]:
        activation["variables"] = celpy.celtypes.MapType(variables)
        value = _evaluate(variable["expression"], activation)
        variables[celpy.celtypes.StringType(variable["name"])] = value
    activation["variables"] = celpy.celtypes.MapType(variables)
    results = [_evaluate(v["expression"], activation) for v in spec["validations"]]
    for result in results:
        assert isinstance(result, celpy.celtypes.BoolType), result
    return all(results)


def request(operation: str, obj: dict[str, Any], user: str = PROVISIONER) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "operation": operation,
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
        "resource": {
            "group": obj["apiVersion"].rpartition("/")[0],
            "version": "v1",
            "resource": PLURALS[obj["kind"]],
        },
        "userInfo": {"username": user},
    }


def moved(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    other = copy.deepcopy(obj)
    if other["kind"] == "Namespace":
        other["metadata"]["name"] = namespace
    else:
        other["metadata"]["namespace"] = namespace
    return other


def unlabelled(obj: dict[str, Any]) -> dict[str, Any]:
    other = copy.deepcopy(obj)
    other["metadata"]["labels"] = {"app": "something-else"}
    return other


def test_the_provisioners_own_writes_are_admitted(policy: dict[str, Any]) -> None:
    for obj in rendered_workspace():
        assert admit(policy, request("CREATE", obj), obj, None), obj["kind"]
        assert admit(policy, request("UPDATE", obj), obj, obj), obj["kind"]
        assert admit(policy, request("DELETE", obj), None, obj), obj["kind"]


def test_writes_outside_u_namespaces_are_denied(policy: dict[str, Any]) -> None:
    for namespace in ("fdb", "ingress-nginx", "kube-system", "default"):
        for obj in rendered_workspace():
            there = moved(obj, namespace)
            assert admit(policy, request("CREATE", there), there, None) is False, there["kind"]
            assert admit(policy, request("DELETE", there), None, there) is False, there["kind"]


def test_objects_without_our_labels_are_denied(policy: dict[str, Any]) -> None:
    for obj in rendered_workspace():
        foreign = unlabelled(obj)
        assert admit(policy, request("CREATE", foreign), foreign, None) is False, obj["kind"]
        assert admit(policy, request("DELETE", foreign), None, foreign) is False, obj["kind"]
        # No adopting another controller's object by putting our labels on it.
        assert admit(policy, request("UPDATE", obj), obj, foreign) is False, obj["kind"]


def test_cert_managers_tls_secret_may_be_deleted_in_u_namespaces_only(
    policy: dict[str, Any],
) -> None:
    namespace = next(o for o in rendered_workspace() if o["kind"] == "Namespace")
    tls = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": "ws-x-tls",
            "namespace": namespace["metadata"]["name"],
            "labels": {"controller.cert-manager.io/fao": "true"},
            "annotations": {"cert-manager.io/certificate-name": "ws-x-tls"},
        },
    }
    assert admit(policy, request("DELETE", tls), None, tls)
    assert admit(policy, request("UPDATE", tls), tls, tls) is False
    elsewhere = moved(tls, "ingress-nginx")
    assert admit(policy, request("DELETE", elsewhere), None, elsewhere) is False


def test_other_users_are_left_to_rbac(policy: dict[str, Any]) -> None:
    obj = moved(rendered_workspace()[0], "kube-system")
    assert admit(policy, request("CREATE", obj, user="admin@example.com"), obj, None) is None
