"""The production dead-letter source, through the real Pub/Sub client against the emulator."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from shared.admin.dead_letters import HOLD_SUBSCRIPTION, PubSubDeadLetters, requeue
from shared.events import RECONCILE_TOPIC, PubSubEvents
from tests.events.conftest import pubsub_emulator  # noqa: F401

pytestmark = pytest.mark.emulator


def test_held_dead_letters_are_republished_and_acknowledged(pubsub_emulator: str) -> None:  # noqa: F811
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    project = f"ops-{uuid.uuid4().hex[:8]}"
    admin = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = admin.topic_path(project, RECONCILE_TOPIC)
    dead = admin.topic_path(project, f"{RECONCILE_TOPIC}-dead-letter")
    admin.create_topic(name=topic)
    admin.create_topic(name=dead)
    hold = subscriber.subscription_path(project, HOLD_SUBSCRIPTION)
    check = subscriber.subscription_path(project, "check")
    subscriber.create_subscription(name=hold, topic=dead, ack_deadline_seconds=60)
    subscriber.create_subscription(name=check, topic=topic, ack_deadline_seconds=60)
    reconcile = {"tenant_id": "t1", "user_id": "u1", "workspace_id": "w1", "generation": 2}
    admin.publish(
        dead,
        json.dumps(reconcile).encode(),
        trace="abc",
        CloudPubSubDeadLetterSourceDeliveryCount="5",
        CloudPubSubDeadLetterSourceSubscription="workspace-reconcile-provisioner",
    ).result(timeout=30)
    admin.publish(dead, b'{"something": "else"}').result(timeout=30)
    time.sleep(0.5)

    source = PubSubDeadLetters(project)
    result = requeue(source, PubSubEvents(project), limit=10)
    assert result.republished == ["w1"]
    assert len(result.skipped) == 1 and "not a reconcile" in result.skipped[0]

    pulled: Any = subscriber.pull(request={"subscription": check, "max_messages": 10}, timeout=30)
    [received] = pulled.received_messages
    data = json.loads(received.message.data)
    assert {k: data[k] for k in reconcile} == reconcile and data["requeued_from"]
    assert dict(received.message.attributes) == {"trace": "abc"}
    # The re-published letter was acknowledged and the other is leased (60 s): nothing to pull.
    from google.api_core.exceptions import DeadlineExceeded

    try:
        again = PubSubDeadLetters(project, timeout=5).pull(10)
    except DeadlineExceeded:
        again = []
    assert again == []
