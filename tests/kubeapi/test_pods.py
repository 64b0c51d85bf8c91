"""Pod lifecycle: Pending -> Running/Ready after ready_delay, and the injectable failures."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client

from devstack.kubeapi import FAULT_ANNOTATION, READY_DELAY_ANNOTATION
from devstack.kubeapi.testing import Kube, kube_session

NS = "u-pods"


def _pod(name: str = "ide", annotations: dict[str, str] | None = None, **extra: Any) -> dict:
    return {
        "metadata": {"name": name, "annotations": annotations or {}, "labels": {"app": "ide"}},
        "spec": {"containers": [{"name": "theia", "image": "theia:1.0"}], **extra},
    }


def _events(kube: Kube, pod: str) -> list[tuple[str, str, int]]:
    items = kube.core.list_namespaced_event(NS, field_selector=f"involvedObject.name={pod}").items
    return [(e.type, e.reason, e.count) for e in items]


def _reasons(kube: Kube, pod: str) -> list[str]:
    return [r for _, r, _ in _events(kube, pod)]


def _cond(pod: client.V1Pod, type_: str) -> client.V1PodCondition | None:
    return next((c for c in pod.status.conditions or [] if c.type == type_), None)


def test_pod_pending_then_ready_after_delay() -> None:
    with kube_session(ready_delay=0.3) as kube:
        kube.namespace(NS)
        start = time.monotonic()
        created = kube.core.create_namespaced_pod(NS, _pod())
        assert created.status.phase == "Pending"
        time.sleep(0.1)
        pod = kube.core.read_namespaced_pod("ide", NS)
        assert pod.status.phase == "Pending"
        assert _cond(pod, "PodScheduled").status == "True"
        assert _cond(pod, "Ready").status == "False"
        assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
        pod = kube.wait_for_pod_phase(NS, "ide", "Running", timeout=3)
        assert time.monotonic() - start >= 0.3
        assert _cond(pod, "Ready").status == "True"
        cs = pod.status.container_statuses[0]
        assert cs.ready and cs.started and cs.state.running.started_at
        assert pod.status.pod_ip and pod.spec.node_name
        assert _reasons(kube, "ide") == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
        ev = kube.core.list_namespaced_event(NS).items[0]
        assert ev.involved_object.kind == "Pod" and ev.involved_object.uid == created.metadata.uid


def test_per_pod_ready_delay_annotation(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.ready_delay = 5.0
    kube.core.create_namespaced_pod(NS, _pod(annotations={READY_DELAY_ANNOTATION: "0"}))
    kube.wait_for_pod_phase(NS, "ide", "Running", timeout=2)


def test_fault_image_pull(kube: Kube) -> None:
    kube.namespace(NS)
    kube.core.create_namespaced_pod(NS, _pod(annotations={FAULT_ANNOTATION: "image-pull"}))

    def backoff() -> Any:
        pod = kube.core.read_namespaced_pod("ide", NS)
        w = pod.status.container_statuses and pod.status.container_statuses[0].state.waiting
        return w and w.reason == "ImagePullBackOff" and pod

    pod = kube.wait_for(backoff)
    assert pod.status.phase == "Pending"
    events = _events(kube, "ide")
    assert ("Warning", "Failed") in [(t, r) for t, r, _ in events]
    assert "BackOff" in _reasons(kube, "ide")
    messages = [e.message for e in kube.core.list_namespaced_event(NS).items]
    assert "Error: ErrImagePull" in messages and "Error: ImagePullBackOff" in messages
    # The back-off repeats: the kubelet aggregates into a growing count.
    kube.wait_for(lambda: any(r == "BackOff" and n >= 2 for _, r, n in _events(kube, "ide")))


def test_fault_crash_loop(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.fail_next_pods("crash")
    kube.core.create_namespaced_pod(NS, _pod())

    def restarted_twice() -> Any:
        pod = kube.core.read_namespaced_pod("ide", NS)
        cs = (pod.status.container_statuses or [None])[0]
        return cs and cs.restart_count >= 2 and pod

    pod = kube.wait_for(restarted_twice, timeout=5)
    assert pod.status.phase == "Running"
    assert _cond(pod, "Ready").status == "False"
    kube.wait_for(
        lambda: any(
            cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff"
            for cs in kube.core.read_namespaced_pod("ide", NS).status.container_statuses
        )
    )
    cs = kube.core.read_namespaced_pod("ide", NS).status.container_statuses[0]
    assert cs.last_state.terminated.exit_code == 1
    assert ("Warning", "BackOff") in [(t, r) for t, r, _ in _events(kube, "ide")]
    assert "Started" in _reasons(kube, "ide")
    # The rule was for one pod only.
    kube.core.create_namespaced_pod(NS, _pod("next"))
    kube.wait_for_pod_phase(NS, "next", "Running")
    assert _cond(kube.core.read_namespaced_pod("next", NS), "Ready").status == "True"


def test_fault_unschedulable(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.fail_pods("unschedulable", namespace=NS, label_selector="app=ide")
    kube.core.create_namespaced_pod(NS, _pod())
    kube.wait_for(lambda: "FailedScheduling" in _reasons(kube, "ide"))
    time.sleep(0.15)
    pod = kube.core.read_namespaced_pod("ide", NS)
    assert pod.status.phase == "Pending" and not pod.spec.node_name
    cond = _cond(pod, "PodScheduled")
    assert cond.status == "False" and cond.reason == "Unschedulable"
    assert _events(kube, "ide")[0][:2] == ("Warning", "FailedScheduling")
    assert "Scheduled" not in _reasons(kube, "ide")


def test_fault_mount(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.fail_next_pods("mount", image="theia:*")
    kube.core.create_namespaced_pod(NS, _pod())
    kube.wait_for(lambda: any(r == "FailedMount" and n >= 2 for _, r, n in _events(kube, "ide")))
    pod = kube.core.read_namespaced_pod("ide", NS)
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"


def test_missing_pvc_keeps_pod_pending(kube: Kube) -> None:
    kube.namespace(NS)
    kube.core.create_namespaced_pod(
        NS, _pod(volumes=[{"name": "home", "persistentVolumeClaim": {"claimName": "home"}}])
    )
    kube.wait_for(lambda: "FailedScheduling" in _reasons(kube, "ide"))
    msg = kube.core.list_namespaced_event(NS).items[0].message
    assert 'persistentvolumeclaim "home" not found' in msg


def test_faults_over_http_admin_endpoint(kube: Kube) -> None:
    kube.namespace(NS)
    req = urllib.request.Request(
        f"{kube.url}/_standin/faults",
        data=json.dumps({"mode": "image-pull", "count": 1, "namespace": NS}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 201
    with urllib.request.urlopen(f"{kube.url}/_standin/faults") as resp:
        assert json.loads(resp.read())["faults"][0]["mode"] == "image-pull"
    kube.core.create_namespaced_pod(NS, _pod())
    kube.wait_for(lambda: "Failed" in _reasons(kube, "ide"))
    assert kube.server.faults() == []  # consumed


def test_unknown_fault_mode_rejected(kube: Kube) -> None:
    with pytest.raises(ValueError):
        kube.server.fail_next_pods("explode")


def test_pod_graceful_delete() -> None:
    with kube_session(pod_delete_grace=0.2) as kube:
        kube.namespace(NS)
        kube.core.create_namespaced_pod(NS, _pod())
        deleted = kube.core.delete_namespaced_pod("ide", NS)
        assert deleted.metadata.deletion_timestamp is not None
        assert kube.core.read_namespaced_pod("ide", NS).metadata.deletion_timestamp
        kube.wait_for(lambda: kube.core.list_namespaced_pod(NS).items == [], timeout=2)
        # grace_period_seconds=0 is immediate
        kube.core.create_namespaced_pod(NS, _pod("now"))
        kube.core.delete_namespaced_pod("now", NS, grace_period_seconds=0)
        assert kube.core.list_namespaced_pod(NS).items == []
