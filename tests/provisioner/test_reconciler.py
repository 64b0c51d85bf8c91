"""The reconciler against the Kubernetes API stand-in, through the official client.

Idempotency is proved by crashing after every single API call and running again: the cluster
ends in the same state as an uninterrupted run, with no duplicate and no orphaned object.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.provisioner import objects as o
from shared.provisioner.base import TemporaryError
from shared.workspaces import model
from tests.provisioner.conftest import Crash

RESOURCES = (
    "serviceaccounts",
    "resourcequotas",
    "limitranges",
    "networkpolicies",
    "secrets",
    "persistentvolumeclaims",
    "pods",
    "services",
    "ingresses",
)


def new_workspace(make_user, name: str = "w") -> tuple[Any, str]:
    user = make_user()
    response = user.create(name)
    assert response.status_code == 202, response.get_data(as_text=True)
    return user, response.get_json()["workspace"]["workspace_id"]


def ids(user, wid) -> tuple[str, str, str]:
    return user.tenant_id, user.user_id, wid


def cluster_state(kube, user, wid) -> dict[str, list[str]]:
    """Objects in the user's namespace, with the workspace id masked (comparable across users)."""
    ns = f"u-{user.user_id}"
    state = {}
    for resource in RESOURCES:
        names = []
        for obj in kube.server.objects(resource, ns):
            name = obj["metadata"]["name"]
            if name == "default" and resource == "serviceaccounts":
                continue
            names.append(name.replace(wid, "<wid>"))
        state[resource] = sorted(names)
    namespaces = [n["metadata"]["name"] for n in kube.server.objects("namespaces")]
    state["namespace"] = [ns] if ns in namespaces else []
    return state


def record(services, user, wid) -> dict[str, Any]:
    return services.db.transact(lambda tr: model.get(tr, *ids(user, wid)))


RUNNING = {
    "serviceaccounts": ["workspace"],
    "resourcequotas": ["workspace-quota"],
    "limitranges": ["workspace-limits"],
    "networkpolicies": ["workspace-isolation"],
    "secrets": ["ws-<wid>-secrets"],
    "persistentvolumeclaims": ["ws-<wid>-home"],
    "pods": ["ws-<wid>"],
    "services": ["ws-<wid>"],
    "ingresses": ["ws-<wid>"],
}


def test_first_start_is_watched_not_polled_and_cheap(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    reconciler, gateway = make_reconciler()
    assert reconciler.reconcile(*ids(user, wid)) == "ready"
    assert cluster_state(kube, user, wid) == {**RUNNING, "namespace": [f"u-{user.user_id}"]}
    assert "read Pod" not in gateway.calls
    assert gateway.calls.count("watch Pod") == 1
    assert len(gateway.calls) <= 16, gateway.calls
    ws = record(services, user, wid)
    assert ws["status"] == "ready" and ws["observed_generation"] == 1
    assert ws["running_since"] == services.clock.now()


def test_second_workspace_of_a_user_skips_the_namespace_setup(
    services, make_user, make_reconciler, kube
):
    from shared.accounts.licenses import write_license

    user = make_user()
    services.db.transact(
        lambda tr: write_license(
            tr, user.tenant_id, 0, plan="starter", status="active", action="t", reason="t"
        )
    )
    first = user.create("first").get_json()["workspace"]["workspace_id"]
    reconciler, gateway = make_reconciler()
    assert reconciler.reconcile(*ids(user, first)) == "ready"
    second = user.create("second").get_json()["workspace"]["workspace_id"]
    gateway.calls.clear()
    assert reconciler.reconcile(*ids(user, second)) == "ready"
    assert not any(
        c.endswith(("ResourceQuota", "LimitRange", "ServiceAccount")) for c in gateway.calls
    )
    assert gateway.calls[2:4] == ["create NetworkPolicy", "read NetworkPolicy"]
    # namespace 409 + read, network policy 409 + read, 5 objects, 2 watches
    assert len(gateway.calls) == 11, gateway.calls
    quota = kube.server.objects("resourcequotas", f"u-{user.user_id}")[0]
    assert quota["spec"]["hard"]["pods"] == "3"


def test_the_network_policy_is_restored_on_every_start(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    ns = f"u-{user.user_id}"
    make_reconciler()[0].reconcile(*ids(user, wid))
    user.post(wid, "stop")
    make_reconciler()[0].reconcile(*ids(user, wid))
    kube.networking.delete_namespaced_network_policy("workspace-isolation", ns)
    user.post(wid, "start")
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "ready"
    policy = kube.server.objects("networkpolicies", ns)
    assert [p["metadata"]["name"] for p in policy] == ["workspace-isolation"]
    # Changed by someone: put back as it should be.
    kube.networking.patch_namespaced_network_policy(
        "workspace-isolation", ns, {"spec": {"egress": [{}]}}
    )
    user.post(wid, "stop")
    make_reconciler()[0].reconcile(*ids(user, wid))
    user.post(wid, "start")
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "ready"
    spec = kube.server.objects("networkpolicies", ns)[0]["spec"]
    assert len(spec["egress"]) == 2 and spec["egress"][1]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"


@pytest.mark.parametrize("step", range(1, 14))
def test_a_crash_after_any_step_of_a_start_converges(
    step, services, make_user, make_reconciler, kube
):
    user, wid = new_workspace(make_user)
    crashing, _ = make_reconciler(crash_after=step)
    with pytest.raises(Crash):
        crashing.reconcile(*ids(user, wid))
    assert record(services, user, wid)["status"] == "provisioning"
    again, _ = make_reconciler()
    assert again.reconcile(*ids(user, wid)) == "ready"
    assert cluster_state(kube, user, wid) == {**RUNNING, "namespace": [f"u-{user.user_id}"]}


def test_the_clean_start_makes_thirteen_calls(services, make_user, make_reconciler):
    # The parametrized crash test above covers every call of this sequence.
    user, wid = new_workspace(make_user)
    reconciler, gateway = make_reconciler()
    reconciler.reconcile(*ids(user, wid))
    assert len(gateway.calls) == 13, gateway.calls


@pytest.mark.parametrize(
    ("verb", "desired", "steps", "left"),
    [
        ("stop", "stopped", 3, {**RUNNING, "pods": [], "services": [], "ingresses": []}),
        (
            "delete",
            "deleted",
            7,
            {
                **RUNNING,
                "pods": [],
                "services": [],
                "ingresses": [],
                "secrets": [],
                "persistentvolumeclaims": [],
            },
        ),
    ],
)
def test_a_crash_after_any_step_of_a_stop_or_delete_converges(
    verb, desired, steps, left, services, make_user, make_reconciler, kube
):
    for step in range(1, steps + 1):
        user, wid = new_workspace(make_user)
        make_reconciler()[0].reconcile(*ids(user, wid))
        call = user.delete(wid) if verb == "delete" else user.post(wid, verb)
        assert call.status_code == 202
        crashing, _ = make_reconciler(crash_after=step)
        with pytest.raises(Crash):
            crashing.reconcile(*ids(user, wid))
        assert make_reconciler()[0].reconcile(*ids(user, wid)) == desired
        assert cluster_state(kube, user, wid) == {**left, "namespace": [f"u-{user.user_id}"]}


def test_a_dead_invocations_lease_is_waited_out(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    key = model.lease_key(*ids(user, wid))
    expires = services.clock.now() + 30
    services.db.transact(lambda tr: tr.set(key, model.dump({"holder": "dead", "expires": expires})))
    reconciler, gateway = make_reconciler()
    assert reconciler.reconcile(*ids(user, wid)) == "busy"
    assert gateway.calls == []
    services.clock.advance(31)
    assert reconciler.reconcile(*ids(user, wid)) == "ready"


def test_duplicate_and_out_of_order_messages_do_nothing(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    reconciler, gateway = make_reconciler()
    assert reconciler.reconcile(*ids(user, wid), 1) == "ready"
    gateway.calls.clear()
    assert reconciler.reconcile(*ids(user, wid), 1) == "duplicate"
    user.post(wid, "stop")
    assert reconciler.reconcile(*ids(user, wid), 1) == "stale"  # the create's, arriving late
    assert gateway.calls == []
    assert reconciler.reconcile(*ids(user, wid), 2) == "stopped"
    assert reconciler.reconcile(*ids(user, wid), 2) == "duplicate"


def test_a_change_during_a_start_is_picked_up_by_the_holder(
    services, make_user, make_reconciler, kube
):
    kube.server.ready_delay = 1.0
    user, wid = new_workspace(make_user)
    reconciler, _ = make_reconciler()
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(reconciler.reconcile(*ids(user, wid))))
    worker.start()
    deadline = time.monotonic() + 5
    while not kube.server.objects("pods", f"u-{user.user_id}"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert user.post(wid, "stop").status_code == 202
    assert reconciler.reconcile(*ids(user, wid), 2) == "busy"  # the stop's message
    worker.join(10)
    assert outcome == ["stopped"]
    assert kube.server.objects("pods", f"u-{user.user_id}") == []
    assert record(services, user, wid)["status"] == "stopped"


def test_an_object_that_is_not_ours_is_not_adopted(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    ns = f"u-{user.user_id}"
    make_reconciler()[0].reconcile(*ids(user, wid))
    user.post(wid, "stop")
    make_reconciler()[0].reconcile(*ids(user, wid))
    # Someone else's claim where this workspace's disk should be.
    kube.core.delete_namespaced_persistent_volume_claim(f"ws-{wid}-home", ns)
    kube.core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": f"ws-{wid}-home", "labels": {"app": "other"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    user.post(wid, "start")
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "failed"
    ws = record(services, user, wid)
    assert "not managed by Coditect" in ws["reason"]
    assert kube.server.objects("pods", ns) == []


def test_a_foreign_namespace_is_refused(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    kube.namespace(f"u-{user.user_id}")
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "failed"
    assert "Namespace" in record(services, user, wid)["reason"]


def test_our_existing_object_is_adopted(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    ns = f"u-{user.user_id}"
    labels = o.owner_labels(user.user_id, user.tenant_id)
    kube.core.create_namespace(o.make_namespace(ns, labels))
    names = o.Names.of(user.user_id, wid)
    ws_labels = o.owner_labels(user.user_id, user.tenant_id, wid)
    kube.core.create_namespaced_service(ns, o.make_service(names, ws_labels, wid))
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "ready"
    assert [s["metadata"]["name"] for s in kube.server.objects("services", ns)] == [f"ws-{wid}"]


def test_a_terminating_namespace_is_waited_out(services, make_user, make_reconciler, kube):
    user, wid = new_workspace(make_user)
    ns = f"u-{user.user_id}"
    make_reconciler()[0].reconcile(*ids(user, wid))
    user.post(wid, "stop")
    make_reconciler()[0].reconcile(*ids(user, wid))
    kube.server.cluster.config.namespace_delete_delay = 0.5
    kube.core.delete_namespace(ns)
    user.post(wid, "start")
    with pytest.raises(TemporaryError, match="terminating"):
        make_reconciler()[0].reconcile(*ids(user, wid))
    kube.wait_for(
        lambda: ns not in [n["metadata"]["name"] for n in kube.server.objects("namespaces")]
    )
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "ready"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("image-pull", "ImagePullBackOff"),
        ("crash", "CrashLoopBackOff"),
        ("mount", "the disk could not be mounted"),
    ],
)
def test_start_failures_fail_fast_and_leave_no_pod(
    mode, reason, services, make_user, make_reconciler, kube
):
    user, wid = new_workspace(make_user)
    ns = f"u-{user.user_id}"
    kube.server.fail_next_pods(mode, namespace=ns)
    started = time.monotonic()
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "failed"
    assert time.monotonic() - started < 5
    ws = record(services, user, wid)
    assert reason in ws["reason"]
    assert kube.server.objects("pods", ns) == []
    assert kube.server.objects("services", ns) == []
    assert [p["metadata"]["name"] for p in kube.server.objects("persistentvolumeclaims", ns)] == [
        f"ws-{wid}-home"
    ]
    progress = user.workspace(wid)["progress"]
    assert progress[-1]["message"].startswith("failed: ")
    assert user.workspace(wid)["reason"] == ws["reason"]


def test_failed_scheduling_waits_until_the_start_deadline(
    services, make_user, make_reconciler, kube, clock
):
    user, wid = new_workspace(make_user)
    kube.server.fail_next_pods("unschedulable", namespace=f"u-{user.user_id}")
    reconciler, _ = make_reconciler()
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(reconciler.reconcile(*ids(user, wid))))
    worker.start()
    kube.wait_for(
        lambda: any("FailedScheduling" in p["message"] for p in user.workspace(wid)["progress"]),
        timeout=5,
    )
    time.sleep(0.3)
    assert outcome == [] and user.workspace(wid)["status"] == "provisioning"
    clock.advance(301)
    worker.join(5)
    assert outcome == ["failed"]
    reason = record(services, user, wid)["reason"]
    assert reason.startswith("not ready within 300 s; last: FailedScheduling")
    assert kube.server.objects("pods", f"u-{user.user_id}") == []


def test_delete_removes_the_certificate_and_retired_secrets_too(
    services, make_user, make_reconciler, kube
):
    user, wid = new_workspace(make_user)
    ns = f"u-{user.user_id}"
    make_reconciler()[0].reconcile(*ids(user, wid))
    # What cert-manager makes for the Ingress's TLS; it outlives the Ingress on its own.
    kube.core.create_namespaced_secret(
        ns,
        {
            "metadata": {"name": f"ws-{wid}-tls"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "", "tls.key": ""},
        },
    )
    # A workspace started by an earlier version kept its credential and settings apart.
    for retired in (f"ws-{wid}-activity", f"ws-{wid}-theia"):
        kube.core.create_namespaced_secret(ns, {"metadata": {"name": retired}, "data": {}})
    user.post(wid, "stop")
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "stopped"
    assert f"ws-{wid}-tls" in [s["metadata"]["name"] for s in kube.server.objects("secrets", ns)]
    user.delete(wid)
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "deleted"
    left = {
        resource: [o["metadata"]["name"] for o in kube.server.objects(resource, ns)]
        for resource in ("secrets", "persistentvolumeclaims", "pods", "services", "ingresses")
    }
    assert all(wid not in name for names in left.values() for name in names), left


def message(user, wid, attempt: int, generation: int | None = None):
    from shared.events import PubSubMessage

    data = {"tenant_id": user.tenant_id, "user_id": user.user_id, "workspace_id": wid}
    if generation is not None:
        data["generation"] = generation
    return PubSubMessage(data, {}, f"m{attempt}", "", attempt)


def test_giving_up_removes_the_compute_and_says_why(
    services, make_user, make_reconciler, kube, ws_settings
):
    user, wid = new_workspace(make_user)
    ns = f"u-{user.user_id}"
    # The last attempt dies right after the Service was created: the pod is already there.
    crashing, gateway = make_reconciler(crash_after=10)
    with pytest.raises(Crash):
        crashing.handle(message(user, wid, ws_settings.max_attempts))
    assert gateway.calls[9] == "create Service"
    ws = record(services, user, wid)
    assert ws["status"] == "failed" and ws["reason"].startswith("gave up after 4 attempts")
    for resource in ("pods", "services", "ingresses"):
        assert kube.server.objects(resource, ns) == [], resource
    assert len(kube.server.objects("persistentvolumeclaims", ns)) == 1  # the files stay
    assert user.workspace(wid)["progress"][-1]["message"] == ws["reason"]
    # An earlier attempt only raises, for a redelivery.
    user2, wid2 = new_workspace(make_user)
    with pytest.raises(Crash):
        make_reconciler(crash_after=11)[0].handle(message(user2, wid2, 1))
    assert record(services, user2, wid2)["status"] == "provisioning"
    assert len(kube.server.objects("pods", f"u-{user2.user_id}")) == 1


def test_giving_up_leaves_a_newer_request_in_progress_alone(
    services, make_user, make_reconciler, kube, ws_settings
):
    user, wid = new_workspace(make_user)
    make_reconciler()[0].reconcile(*ids(user, wid))
    user.post(wid, "stop")
    # Another invocation is converging the workspace right now (a live lease of its own).
    key = model.lease_key(*ids(user, wid))
    expires = services.clock.now() + 30
    services.db.transact(lambda tr: tr.set(key, model.dump({"holder": "x", "expires": expires})))
    reconciler, gateway = make_reconciler()
    reconciler._give_up(*ids(user, wid), RuntimeError("boom"), ws_settings.max_attempts)
    assert gateway.calls == []
    assert record(services, user, wid)["status"] == "stopping"
    assert len(kube.server.objects("pods", f"u-{user.user_id}")) == 1


def test_a_delete_that_gave_up_can_be_asked_again(
    services, make_user, make_reconciler, kube, ws_settings
):
    user, wid = new_workspace(make_user, "dev")
    ns = f"u-{user.user_id}"
    make_reconciler()[0].reconcile(*ids(user, wid))
    assert user.delete(wid).status_code == 202
    # Every attempt at the delete fails (here: the PVC delete, the sixth call); then give up.
    for attempt in range(1, ws_settings.max_attempts + 1):
        with pytest.raises(Crash):
            make_reconciler(crash_after=6)[0].handle(message(user, wid, attempt, 2))
        services.clock.advance(1)
    ws = user.workspace(wid)
    assert ws["status"] == "failed" and ws["desired_state"] == "deleted"
    # The name was freed by the delete; a new workspace took it meanwhile.
    new_wid = user.create("dev").get_json()["workspace"]["workspace_id"]
    # Asking again is a new request (not dropped as a duplicate of the settled generation).
    again = user.delete(wid)
    assert again.status_code == 202 and again.get_json()["workspace"]["status"] == "deleting"
    assert make_reconciler()[0].reconcile(*ids(user, wid), 3) == "deleted"
    assert wid not in str(kube.server.objects("persistentvolumeclaims", ns))
    # The newer workspace keeps its name.
    assert user.create("dev").get_json()["error"]["code"] == "name_taken"
    assert user.workspace(new_wid)["name"] == "dev"


def test_a_stop_that_gave_up_can_be_asked_again(
    services, make_user, make_reconciler, kube, ws_settings
):
    user, wid = new_workspace(make_user)
    make_reconciler()[0].reconcile(*ids(user, wid))
    user.post(wid, "stop")
    with pytest.raises(Crash):
        make_reconciler(crash_after=1)[0].handle(message(user, wid, ws_settings.max_attempts, 2))
    assert record(services, user, wid)["status"] == "failed"
    assert user.post(wid, "stop").get_json()["workspace"]["status"] == "stopping"
    assert make_reconciler()[0].reconcile(*ids(user, wid), 3) == "stopped"
    assert kube.server.objects("pods", f"u-{user.user_id}") == []
