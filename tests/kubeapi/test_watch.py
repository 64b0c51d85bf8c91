"""Watch streams, driven by kubernetes.watch.Watch like the provisioner does."""

from __future__ import annotations

import threading
import time
from collections import deque

import pytest
from kubernetes import watch
from kubernetes.client import ApiException

from devstack.kubeapi.store import Change
from devstack.kubeapi.testing import Kube

NS = "u-watch"


def _pod(name: str, app: str = "ide") -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "i:1"}]},
    }


def test_watch_added_modified_deleted(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.ready_delay = 0.05
    seen: list[tuple[str, str, str]] = []
    w = watch.Watch()
    started = threading.Event()

    def act() -> None:
        started.wait()
        time.sleep(0.05)
        kube.core.create_namespaced_pod(NS, _pod("ide"))
        kube.core.create_namespaced_pod(NS, _pod("db", app="db"))  # filtered out
        kube.wait_for_pod_phase(NS, "ide", "Running")
        kube.core.delete_namespaced_pod("ide", NS)

    t = threading.Thread(target=act)
    t.start()
    started.set()
    for event in w.stream(
        kube.core.list_namespaced_pod, NS, label_selector="app=ide", timeout_seconds=5
    ):
        pod = event["object"]
        seen.append((event["type"], pod.metadata.name, pod.status.phase))
        if event["type"] == "DELETED":
            w.stop()
    t.join()
    types = [s[0] for s in seen]
    assert types[0] == "ADDED" and types[-1] == "DELETED"
    assert "MODIFIED" in types
    assert ("MODIFIED", "ide", "Running") in seen
    assert {s[1] for s in seen} == {"ide"}


def test_watch_honours_timeout(kube: Kube) -> None:
    kube.namespace(NS)
    start = time.monotonic()
    events = list(watch.Watch().stream(kube.core.list_namespaced_pod, NS, timeout_seconds=1))
    elapsed = time.monotonic() - start
    assert events == []
    assert 0.9 <= elapsed < 3


def test_watch_initial_state_and_resume_from_resource_version(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.ready_delay = 60  # keep pods quiet
    kube.core.create_namespaced_pod(NS, _pod("a"))
    time.sleep(0.05)  # let the scheduler step land
    # Without a resourceVersion: synthetic ADDED for what exists.
    initial = list(watch.Watch().stream(kube.core.list_namespaced_pod, NS, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in initial] == [("ADDED", "a")]
    # From a list's resourceVersion: only what happened after it.
    rv = kube.core.list_namespaced_pod(NS).metadata.resource_version
    kube.core.create_namespaced_pod(NS, _pod("b"))
    kube.core.delete_namespaced_pod("a", NS)
    events = []
    for e in watch.Watch().stream(
        kube.core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=1
    ):
        events.append((e["type"], e["object"].metadata.name))
    assert events[0] == ("ADDED", "b")
    assert ("DELETED", "a") in events
    assert ("ADDED", "a") not in events


def test_watch_label_change_moves_object_in_and_out(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.ready_delay = 60
    kube.core.create_namespaced_config_map(NS, {"metadata": {"name": "c", "labels": {"on": "no"}}})
    rv = kube.core.list_namespaced_config_map(NS).metadata.resource_version
    kube.core.patch_namespaced_config_map("c", NS, {"metadata": {"labels": {"on": "yes"}}})
    kube.core.patch_namespaced_config_map("c", NS, {"metadata": {"labels": {"on": "no"}}})
    events = [
        e["type"]
        for e in watch.Watch().stream(
            kube.core.list_namespaced_config_map,
            NS,
            label_selector="on=yes",
            resource_version=rv,
            timeout_seconds=1,
        )
    ]
    assert events == ["ADDED", "DELETED"]


def test_watch_too_old_resource_version_is_410(kube: Kube) -> None:
    kube.namespace(NS)
    # Pretend history was compacted: drop everything older than the newest change.
    kube.server.call(lambda: _compact(kube.server.cluster.history))
    with pytest.raises(ApiException) as e:
        list(
            watch.Watch().stream(
                kube.core.list_namespaced_pod, NS, resource_version="1", timeout_seconds=1
            )
        )
    assert e.value.status == 410


def _compact(history: deque[Change]) -> None:
    while len(history) > 1:
        history.popleft()


def test_watch_events_by_involved_object(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.ready_delay = 0.05
    w = watch.Watch()
    reasons = []
    threading.Timer(0.1, lambda: kube.core.create_namespaced_pod(NS, _pod("ide"))).start()
    for e in w.stream(
        kube.core.list_namespaced_event,
        NS,
        field_selector="involvedObject.name=ide",
        timeout_seconds=3,
    ):
        reasons.append(e["object"].reason)
        if e["object"].reason == "Started":
            w.stop()
    assert reasons == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]


def test_many_concurrent_watches(kube: Kube) -> None:
    kube.namespace(NS)
    kube.server.ready_delay = 60
    n = 50
    got = [0] * n
    ready = threading.Barrier(n + 1)

    def watcher(i: int) -> None:
        ready.wait()
        w = watch.Watch()
        for _ in w.stream(
            kube.core.list_namespaced_pod, NS, label_selector="app=ide", timeout_seconds=5
        ):
            got[i] += 1
            w.stop()

    threads = [threading.Thread(target=watcher, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(0.3)
    kube.core.create_namespaced_pod(NS, _pod("ide"))
    for t in threads:
        t.join(timeout=10)
    assert got == [1] * n
