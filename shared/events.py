"""The events port: Pub/Sub in production, in-process delivery of the same CloudEvents locally.

Publishers call ``publish(topic, data, attributes)``. Subscribers are CloudEvent functions, as
Cloud Functions receives them from a Pub/Sub trigger: the event's data is
``{"message": {"data": <base64 JSON>, "attributes", "messageId", "publishTime"}, "subscription"}``.
Local delivery keeps Pub/Sub's contract: at least once, retried with exponential backoff while the
handler raises, and after ``max_attempts`` the message goes to ``<topic>-dead-letter``.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger("coditect.events")

PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
RECONCILE_TOPIC = "workspace-reconcile"


class EventsPort(Protocol):
    def publish(
        self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None
    ) -> str:
        """Publish a JSON message; returns its message id."""
        ...


@dataclass(frozen=True)
class PubSubMessage:
    data: dict[str, Any]
    attributes: dict[str, str]
    message_id: str
    publish_time: str
    delivery_attempt: int


def decode_event(event: Any) -> PubSubMessage:
    """The Pub/Sub message inside a CloudEvent, however it was delivered."""
    body = event.data if hasattr(event, "data") else event["data"]
    if isinstance(body, bytes | str):
        body = json.loads(body)
    message = body.get("message", {})
    raw = message.get("data") or ""
    data = json.loads(base64.b64decode(raw)) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("message data is not a JSON object")
    return PubSubMessage(
        data=data,
        attributes=dict(message.get("attributes") or {}),
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        publish_time=str(message.get("publishTime") or message.get("publish_time") or ""),
        delivery_attempt=int(body.get("deliveryAttempt") or message.get("deliveryAttempt") or 1),
    )


def make_cloud_event(
    project: str,
    topic: str,
    subscription: str,
    data: dict[str, Any],
    attributes: dict[str, str],
    message_id: str,
    publish_time: str,
    delivery_attempt: int,
) -> Any:
    from cloudevents.http import CloudEvent

    return CloudEvent(
        {
            "type": PUBSUB_EVENT_TYPE,
            "source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
            "id": message_id,
            "time": publish_time,
            "specversion": "1.0",
            "datacontenttype": "application/json",
        },
        {
            "message": {
                "data": base64.b64encode(json.dumps(data).encode()).decode(),
                "attributes": attributes,
                "messageId": message_id,
                "publishTime": publish_time,
            },
            "subscription": f"projects/{project}/subscriptions/{subscription}",
            "deliveryAttempt": delivery_attempt,
        },
    )


@dataclass
class Subscription:
    name: str
    topic: str
    handler: Callable[[Any], None]
    max_attempts: int = 5
    min_backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    subscription: Subscription = field(compare=False)
    data: dict[str, Any] = field(compare=False)
    attributes: dict[str, str] = field(compare=False)
    message_id: str = field(compare=False)
    publish_time: str = field(compare=False)
    attempt: int = field(compare=False, default=1)


class LocalEvents:
    """In-process Pub/Sub: real CloudEvents, at-least-once delivery, backoff, dead letters."""

    def __init__(self, project: str = "coditect-local", workers: int = 4) -> None:
        self.project = project
        self._subs: dict[str, list[Subscription]] = {}
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="events")
        self._in_flight = 0
        self._stopped = False
        self.dead_letters: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="events-scheduler", daemon=True)
        self._thread.start()

    def subscribe(
        self,
        topic: str,
        handler: Callable[[Any], None],
        *,
        name: str | None = None,
        max_attempts: int = 5,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> Subscription:
        sub = Subscription(
            name or f"{topic}-sub", topic, handler, max_attempts, min_backoff, max_backoff
        )
        with self._cond:
            self._subs.setdefault(topic, []).append(sub)
        return sub

    def publish(
        self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None
    ) -> str:
        json.dumps(data)  # fail at the publisher, as the real client does, on non-JSON data
        message_id = uuid.uuid4().hex
        publish_time = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        with self._cond:
            for sub in self._subs.get(topic, []):
                heapq.heappush(
                    self._queue,
                    _Delivery(
                        time.monotonic(),
                        next(self._seq),
                        sub,
                        data,
                        dict(attributes or {}),
                        message_id,
                        publish_time,
                    ),
                )
            self._cond.notify_all()
        return message_id

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                    not self._queue or self._queue[0].due > time.monotonic()
                ):
                    timeout = self._queue[0].due - time.monotonic() if self._queue else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                delivery = heapq.heappop(self._queue)
                self._in_flight += 1
            self._pool.submit(self._deliver, delivery)

    def _deliver(self, d: _Delivery) -> None:
        sub = d.subscription
        event = make_cloud_event(
            self.project,
            sub.topic,
            sub.name,
            d.data,
            d.attributes,
            d.message_id,
            d.publish_time,
            d.attempt,
        )
        try:
            sub.handler(event)
        except Exception as error:
            self._retry_or_dead_letter(d, error)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _retry_or_dead_letter(self, d: _Delivery, error: Exception) -> None:
        sub = d.subscription
        fields = {
            "topic": sub.topic,
            "subscription": sub.name,
            "message_id": d.message_id,
            "attempt": d.attempt,
            "error": type(error).__name__,
        }
        if d.attempt >= sub.max_attempts:
            log.error("message dead-lettered", extra={"fields": fields})
            record = {
                "subscription": sub.name,
                "message_id": d.message_id,
                "data": d.data,
                "attributes": d.attributes,
                "attempts": d.attempt,
            }
            self.dead_letters.append(record)
            self.publish(
                f"{sub.topic}-dead-letter",
                d.data,
                {
                    **d.attributes,
                    "CloudPubSubDeadLetterSourceSubscription": sub.name,
                    "CloudPubSubDeadLetterSourceDeliveryCount": str(d.attempt),
                },
            )
            return
        log.warning("delivery failed; will retry", extra={"fields": fields})
        backoff = min(sub.min_backoff * 2 ** (d.attempt - 1), sub.max_backoff)
        with self._cond:
            d.attempt += 1
            d.due = time.monotonic() + backoff
            d.seq = next(self._seq)
            heapq.heappush(self._queue, d)
            self._cond.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight (tests and shutdown); True if drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def close(self) -> None:
        """Stop scheduling; deliveries in flight finish. Safe to call more than once."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)


class PubSubEvents:
    """Google Pub/Sub; the client is created on first publish (it is heavy to import)."""

    def __init__(self, project: str, *, publisher: Any = None, timeout: float = 30.0) -> None:
        if not project:
            raise ValueError("GOOGLE_CLOUD_PROJECT is required for Pub/Sub")
        self.project = project
        self._publisher = publisher
        self._timeout = timeout
        self._lock = threading.Lock()

    def _client(self) -> Any:
        with self._lock:
            if self._publisher is None:
                from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # no stubs

                self._publisher = pubsub_v1.PublisherClient()
            return self._publisher

    def publish(
        self, topic: str, data: dict[str, Any], attributes: dict[str, str] | None = None
    ) -> str:
        client = self._client()
        future = client.publish(
            client.topic_path(self.project, topic), json.dumps(data).encode(), **(attributes or {})
        )
        return str(future.result(timeout=self._timeout))
