"""Re-publish dead-lettered reconcile messages once their cause is fixed.

Production: the dead-letter topic's ``workspace-reconcile-dead-letter-hold`` subscription (7 days
of messages), pulled with the Pub/Sub client. Locally: ``LocalEvents.dead_letters`` of the process
that delivered them (the local stack; its messages do not outlive it, and its start-up resync
re-checks running workspaces anyway). A message is acknowledged only after it was re-published,
so a failure half way leaves the rest for the next run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.events import RECONCILE_TOPIC, EventsPort, LocalEvents

HOLD_SUBSCRIPTION = f"{RECONCILE_TOPIC}-dead-letter-hold"
LOCAL_SUBSCRIPTION = "provisioner"  # the local stack's provisioner subscription
# Pub/Sub's own attributes on a dead letter: not carried into the re-published message.
DEAD_LETTER_ATTRIBUTES = (
    "CloudPubSubDeadLetterSourceSubscription",
    "CloudPubSubDeadLetterSourceDeliveryCount",
    "CloudPubSubDeadLetterSourceSubscriptionProject",
    "CloudPubSubDeadLetterSourceTopicPublishTime",
    "googclient_deliveryattempt",
)


@dataclass(frozen=True)
class DeadLetter:
    ack_id: str
    message_id: str
    data: dict[str, Any]
    attributes: dict[str, str]
    attempts: int


class DeadLetterSource(Protocol):
    def pull(self, max_messages: int) -> list[DeadLetter]: ...

    def ack(self, letters: list[DeadLetter]) -> None: ...


class LocalDeadLetters:
    def __init__(self, events: LocalEvents, subscription: str = LOCAL_SUBSCRIPTION) -> None:
        self._events = events
        self._subscription = subscription

    def pull(self, max_messages: int) -> list[DeadLetter]:
        held = [r for r in self._events.dead_letters if r["subscription"] == self._subscription]
        return [
            DeadLetter(r["message_id"], r["message_id"], r["data"], r["attributes"], r["attempts"])
            for r in held[:max_messages]
        ]

    def ack(self, letters: list[DeadLetter]) -> None:
        done = {letter.ack_id for letter in letters}
        self._events.dead_letters[:] = [
            r
            for r in self._events.dead_letters
            if not (r["subscription"] == self._subscription and r["message_id"] in done)
        ]


class PubSubDeadLetters:
    """Pulls the hold subscription; the client is created on first use (heavy import)."""

    def __init__(
        self,
        project: str,
        subscription: str = HOLD_SUBSCRIPTION,
        *,
        subscriber: Any = None,
        timeout: float = 30.0,
    ) -> None:
        if not project:
            raise ValueError("GOOGLE_CLOUD_PROJECT is required for Pub/Sub")
        self._project = project
        self._subscription = subscription
        self._subscriber = subscriber
        self._timeout = timeout

    def _client(self) -> Any:
        if self._subscriber is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # no stubs

            self._subscriber = pubsub_v1.SubscriberClient()
        return self._subscriber

    def _path(self) -> str:
        return str(self._client().subscription_path(self._project, self._subscription))

    def pull(self, max_messages: int) -> list[DeadLetter]:
        response = self._client().pull(
            request={"subscription": self._path(), "max_messages": max_messages},
            timeout=self._timeout,
        )
        letters = []
        for received in response.received_messages:
            message = received.message
            attributes = dict(message.attributes)
            letters.append(
                DeadLetter(
                    ack_id=received.ack_id,
                    message_id=message.message_id,
                    data=json.loads(message.data or b"{}"),
                    attributes=attributes,
                    attempts=int(attributes.get("CloudPubSubDeadLetterSourceDeliveryCount") or 0),
                )
            )
        return letters

    def ack(self, letters: list[DeadLetter]) -> None:
        if letters:
            self._client().acknowledge(
                request={"subscription": self._path(), "ack_ids": [x.ack_id for x in letters]},
                timeout=self._timeout,
            )


@dataclass(frozen=True)
class RequeueResult:
    republished: list[str] = field(default_factory=list)  # workspace ids sent again as they were
    retried: list[str] = field(default_factory=list)  # failed ones asked again (new generation)
    skipped: list[str] = field(default_factory=list)  # "<message id>: why", acknowledged or held


# ``retry(workspace_id) -> outcome`` (see shared.admin.workspaces.retry_failed).
Retry = Callable[[str], str]


def requeue(
    source: DeadLetterSource, events: EventsPort, *, limit: int = 100, retry: Retry | None = None
) -> RequeueResult:
    """Publish each held reconcile message to its topic again, then acknowledge it.

    The provisioner gives a workspace up as ``failed`` on its last attempt, and a failed
    generation is never converged again; with ``retry``, such a workspace is asked again (its
    desired state, as a new generation) instead, which is what re-running it after an outage
    means. Messages that are not reconciles stay held.
    """
    result = RequeueResult()
    done = []
    for letter in source.pull(limit):
        data = letter.data
        wid = data.get("workspace_id")
        if not (isinstance(data.get("tenant_id"), str) and isinstance(wid, str)):
            result.skipped.append(f"{letter.message_id}: not a reconcile message (kept)")
            continue
        outcome = retry(wid) if retry is not None else "not_failed"
        if outcome == "retried":
            result.retried.append(wid)
        elif outcome == "not_failed":
            attributes = {
                k: v for k, v in letter.attributes.items() if k not in DEAD_LETTER_ATTRIBUTES
            }
            events.publish(
                RECONCILE_TOPIC, {**data, "requeued_from": letter.message_id}, attributes
            )
            result.republished.append(wid)
        else:
            result.skipped.append(f"{letter.message_id}: workspace {wid} {outcome}")
        done.append(letter)
    source.ack(done)
    return result
