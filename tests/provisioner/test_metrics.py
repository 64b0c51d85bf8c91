"""What the provisioner records: request-to-ready times, failed starts by reason, attempts and
dead letters (against the Kubernetes API stand-in, as the reconciler's other tests)."""

from __future__ import annotations

import pytest

from shared import metrics
from shared.events import PubSubMessage
from shared.provisioner.triage import failure_reason
from tests.provisioner.conftest import Crash
from tests.provisioner.test_reconciler import ids, new_workspace


def reconcile_message(user, wid, attempt: int) -> PubSubMessage:
    data = {"tenant_id": user.tenant_id, "user_id": user.user_id, "workspace_id": wid}
    return PubSubMessage(data, {}, f"m{attempt}", "", attempt)


def test_a_start_is_measured_from_request_to_ready_once(
    services, make_user, make_reconciler, clock, recorded
):
    user, wid = new_workspace(make_user)
    clock.advance(42)
    reconciler = make_reconciler()[0]
    assert reconciler.handle(reconcile_message(user, wid, 1)) == "ready"
    assert recorded.of(metrics.WORKSPACE_PROVISIONING_SECONDS) == [
        (42.0, {"plan": "free", "kind": "create"})
    ]
    assert recorded.of(metrics.RECONCILE_ATTEMPTS) == [(1.0, {"outcome": "ready"})]
    # A duplicate message, and a resync of a ready workspace, measure nothing again.
    assert reconciler.handle(reconcile_message(user, wid, 1)) == "duplicate"
    assert reconciler.reconcile(*ids(user, wid), resync=True) == "ready"
    assert len(recorded.of(metrics.WORKSPACE_PROVISIONING_SECONDS)) == 1
    # Stop, then start again: a second start, of kind "start".
    assert user.post(wid, "stop").status_code == 202
    assert reconciler.reconcile(*ids(user, wid)) == "stopped"
    assert user.post(wid, "start").status_code == 202
    clock.advance(7)
    assert reconciler.reconcile(*ids(user, wid)) == "ready"
    assert recorded.of(metrics.WORKSPACE_PROVISIONING_SECONDS)[-1] == (
        7.0,
        {"plan": "free", "kind": "start"},
    )
    assert recorded.of(metrics.WORKSPACE_START_FAILURES) == []


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("image-pull", "image_pull"), ("crash", "crash_loop"), ("mount", "volume_mount")],
)
def test_a_failed_start_is_counted_by_reason(
    mode, reason, services, make_user, make_reconciler, kube, recorded
):
    user, wid = new_workspace(make_user)
    kube.server.fail_next_pods(mode, namespace=f"u-{user.user_id}")
    assert make_reconciler()[0].reconcile(*ids(user, wid)) == "failed"
    assert recorded.of(metrics.WORKSPACE_START_FAILURES) == [
        (1.0, {"plan": "free", "reason": reason})
    ]
    assert recorded.of(metrics.WORKSPACE_PROVISIONING_SECONDS) == []


def test_the_last_failed_attempt_is_a_dead_letter(
    services, make_user, make_reconciler, ws_settings, recorded
):
    user, wid = new_workspace(make_user)
    with pytest.raises(Crash):
        make_reconciler(crash_after=3)[0].handle(reconcile_message(user, wid, 1))
    assert recorded.of(metrics.RECONCILE_ATTEMPTS) == [(1.0, {"outcome": "error"})]
    assert recorded.of(metrics.RECONCILE_DEAD_LETTERS) == []
    last = ws_settings.max_attempts
    with pytest.raises(Crash):
        make_reconciler(crash_after=3)[0].handle(reconcile_message(user, wid, last))
    assert recorded.of(metrics.RECONCILE_DEAD_LETTERS) == [(1.0, {})]
    assert recorded.of(metrics.WORKSPACE_START_FAILURES) == [
        (1.0, {"plan": "free", "reason": "retries_exhausted"})
    ]


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("ImagePullBackOff: the image could not be pulled (container theia)", "image_pull"),
        ("CrashLoopBackOff: a container keeps crashing (container sidecar)", "crash_loop"),
        ("the disk could not be mounted: timeout", "volume_mount"),
        ("not ready within 300 s (FailedScheduling: 0/3 nodes)", "start_deadline"),
        ("the pod ended (Failed): OOMKilled", "pod_ended"),
        ("Pod ws-1 was rejected: forbidden", "rejected_by_cluster"),
        (
            "Service ws-1 already exists and is not managed by Coditect for this workspace",
            "name_conflict",
        ),
        ("something new", "other"),
    ],
)
def test_failure_reasons_map_to_a_closed_set(reason, label):
    assert failure_reason(reason) == label
