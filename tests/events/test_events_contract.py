"""One contract for the events port: local delivery always, Google's Pub/Sub emulator here too.

Publishing goes through the adapter; delivery reaches a CloudEvent function the way Cloud
Functions receives it (for the emulator: a push subscription to a functions-framework app).
The emulator cases carry the ``emulator`` marker (Cloud Build's contract step selects them).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.events import LocalEvents, PubSubEvents, decode_event
from tests.conftest import free_port
from tests.events import handler_slot, push_target
from tests.events.conftest import push_host

PROJECT = "coditect-test"


class LocalHarness:
    def __init__(self) -> None:
        self.bus = LocalEvents(project=PROJECT)
        self.publisher = self.bus

    def subscribe(self, topic: str, handler: Callable[[Any], None]) -> None:
        self.bus.subscribe(topic, handler, min_backoff=0.05, max_backoff=0.2)

    def close(self) -> None:
        self.bus.close()


class EmulatorHarness:
    """Topics and push subscriptions on the emulator; pushes land on a functions-framework app."""

    def __init__(self) -> None:
        import functions_framework
        from google.cloud import pubsub_v1
        from werkzeug.serving import make_server

        self.publisher = PubSubEvents(PROJECT)
        self._admin = pubsub_v1.PublisherClient()
        self._subscriber = pubsub_v1.SubscriberClient()
        app = functions_framework.create_app("receive", push_target.__file__, "cloudevent")
        port = free_port()
        host = push_host()
        bind = "127.0.0.1" if host == "127.0.0.1" else "0.0.0.0"
        self._server = make_server(bind, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.endpoint = f"http://{host}:{port}/"

    def subscribe(self, topic: str, handler: Callable[[Any], None]) -> None:
        handler_slot.HANDLER[:] = [handler]
        topic_path = self._admin.topic_path(PROJECT, topic)
        self._admin.create_topic(name=topic_path)
        self._subscriber.create_subscription(
            name=self._subscriber.subscription_path(PROJECT, f"{topic}-push"),
            topic=topic_path,
            push_config={"push_endpoint": self.endpoint},
            ack_deadline_seconds=10,
        )

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture(params=["local", pytest.param("emulator", marks=pytest.mark.emulator)])
def harness(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "emulator":
        request.getfixturevalue("pubsub_emulator")
        made: Any = EmulatorHarness()
    else:
        made = LocalHarness()
    yield made
    made.close()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_published_message_arrives_as_a_cloud_event(harness):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    received: list[Any] = []
    harness.subscribe(topic, received.append)
    message_id = harness.publisher.publish(topic, {"workspace_id": "w1", "n": 1}, {"trace": "abc"})
    assert wait_for(lambda: received)
    event = received[0]
    assert event["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert event["source"].startswith("//pubsub.googleapis.com/")
    message = decode_event(event)
    assert message.data == {"workspace_id": "w1", "n": 1}
    assert message.attributes == {"trace": "abc"}
    assert message.message_id == message_id


def test_a_failing_handler_gets_the_message_again(harness):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    calls: list[str] = []

    def flaky(event: Any) -> None:
        calls.append(decode_event(event).message_id)
        if len(calls) < 3:
            raise RuntimeError("transient")

    harness.subscribe(topic, flaky)
    message_id = harness.publisher.publish(topic, {"workspace_id": "w2"})
    assert wait_for(lambda: len(calls) >= 3, timeout=60)
    assert set(calls) == {message_id}


def test_local_delivery_dead_letters_after_max_attempts():
    bus = LocalEvents(project=PROJECT)
    try:
        attempts: list[int] = []
        dead: list[Any] = []

        def broken(event: Any) -> None:
            attempts.append(decode_event(event).delivery_attempt)
            raise RuntimeError("permanent bug")

        bus.subscribe("jobs", broken, max_attempts=3, min_backoff=0.01, max_backoff=0.02)
        bus.subscribe("jobs-dead-letter", dead.append)
        bus.publish("jobs", {"id": 7})
        assert bus.drain(10)
        assert attempts == [1, 2, 3]
        assert decode_event(dead[0]).data == {"id": 7}
        assert decode_event(dead[0]).attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "3"
        assert bus.dead_letters[0]["attempts"] == 3
    finally:
        bus.close()


def test_publish_rejects_non_json_data():
    bus = LocalEvents()
    try:
        with pytest.raises(TypeError):
            bus.publish("x", {"when": object()})
    finally:
        bus.close()


def test_pubsub_adapter_needs_a_project():
    with pytest.raises(ValueError):
        PubSubEvents("")
