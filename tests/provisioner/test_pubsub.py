"""Pub/Sub rules through the real provisioner entry point (functions-framework CloudEvent app)."""

from __future__ import annotations

import base64
import json

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack.stack import load_function
from shared.events import PubSubMessage
from tests.workspaces.conftest import wait_status


def test_unreachable_cluster_is_retried_then_dead_lettered(platform, make_user, kube, events):
    kube.server.stop()
    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    assert events.drain(30)
    assert [d["data"]["workspace_id"] for d in events.dead_letters] == [wid]
    assert events.dead_letters[0]["attempts"] == 4
    ws = user.workspace(wid)
    assert ws["status"] == "failed"
    assert ws["reason"].startswith("gave up after 4 attempts")


def test_a_permanent_failure_is_recorded_and_acknowledged(platform, make_user, kube, events):
    user = make_user()
    kube.namespace(f"u-{user.user_id}")  # not labelled ours
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    ws = wait_status(user, wid, "failed")
    assert "not managed by Coditect" in ws["reason"]
    assert events.drain(10)
    assert events.dead_letters == []


def test_stale_and_malformed_messages_are_acknowledged(platform, make_user, kube, services):

    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    wait_status(user, wid, "ready")
    old = PubSubMessage(
        data={"tenant_id": user.tenant_id, "workspace_id": wid, "generation": 1},
        attributes={},
        message_id="m1",
        publish_time="2000-01-01T00:00:00Z",
        delivery_attempt=1,
    )
    kube.server.reset_counts()
    assert services.reconciler.handle(old) == "expired"
    assert (
        services.reconciler.handle(PubSubMessage({"workspace_id": 3}, {}, "m2", "", 1)) == "invalid"
    )
    assert kube.server.calls() == 0

    app = load_function("provisioner")
    event = CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//test", "id": "x"},
        {"message": {"data": base64.b64encode(b"not json").decode(), "messageId": "x"}},
    )
    headers, body = to_binary(event)
    assert app.test_client().post("/", headers=headers, data=body).status_code == 200
    good = CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//test", "id": "y"},
        {
            "message": {
                "data": base64.b64encode(
                    json.dumps({"tenant_id": user.tenant_id, "workspace_id": wid}).encode()
                ).decode(),
                "messageId": "y",
            }
        },
    )
    headers, body = to_binary(good)
    assert app.test_client().post("/", headers=headers, data=body).status_code == 200
    assert kube.server.calls() == 0  # a duplicate of a settled generation


def test_a_raw_push_body_keeps_its_delivery_attempt(services, kube, ws_settings, make_user):
    """Pub/Sub push bodies carry deliveryAttempt (functions-framework's conversion drops it):
    before the last attempt a retryable failure only asks for redelivery, on the last one the
    provisioner also gives up on the workspace and says why."""

    # Wired like production: nothing on the local bus, deliveries come as raw push bodies.
    services.replace_settings(workspaces=ws_settings)
    services.kube_api_client = kube.api_client
    user = make_user()
    wid = user.create("w").get_json()["workspace"]["workspace_id"]
    kube.server.stop()  # every attempt now fails with an error a retry could fix

    def push(attempt: int) -> int:
        body = {
            "message": {
                "data": base64.b64encode(
                    json.dumps(
                        {"tenant_id": user.tenant_id, "user_id": user.user_id, "workspace_id": wid}
                    ).encode()
                ).decode(),
                "messageId": f"push-{attempt}",
                "publishTime": "2030-01-01T00:00:00Z",
            },
            "subscription": "projects/p/subscriptions/workspace-reconcile-push",
            "deliveryAttempt": attempt,
        }
        return load_function("provisioner").test_client().post("/", json=body).status_code

    assert push(2) == 500  # retry, please
    assert user.workspace(wid)["status"] != "failed"
    # The last attempt records the failure, then still fails so Pub/Sub dead-letters it.
    assert push(ws_settings.max_attempts) == 500
    ws = user.workspace(wid)
    assert ws["status"] == "failed"
    assert ws["reason"].startswith(f"gave up after {ws_settings.max_attempts} attempts")
