"""The provisioner function: a Pub/Sub-triggered reconciler of one workspace per message.

Raises (so Pub/Sub redelivers with backoff) only for errors a retry can fix; malformed, stale
and duplicate messages and permanent failures are acknowledged (the latter recorded on the
workspace). After the subscription's last attempt the message goes to the dead-letter topic.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from shared.events import decode_event
from shared.wiring import services

log = logging.getLogger("coditect.provisioner")


def push_delivery_attempt() -> int | None:
    """The attempt number of a Pub/Sub push delivery, read from the raw request.

    A push subscription with a dead-letter policy puts ``deliveryAttempt`` in the push body, but
    functions-framework's conversion of that body to a CloudEvent drops it; without it every
    delivery would look like the first, and the last one would never give up cleanly.
    """
    import flask

    if not flask.has_request_context():
        return None
    body = flask.request.get_json(silent=True)
    attempt = body.get("deliveryAttempt") if isinstance(body, dict) else None
    return attempt if isinstance(attempt, int) and attempt > 0 else None


def handle(cloud_event: Any) -> None:
    try:
        message = decode_event(cloud_event)
    except (ValueError, TypeError, KeyError):
        # Redelivering a message that cannot be read would only fill the dead-letter topic.
        log.error("malformed reconcile message; dropped")
        return
    attempt = push_delivery_attempt()
    if attempt is not None and attempt > message.delivery_attempt:
        message = dataclasses.replace(message, delivery_attempt=attempt)
    services().reconciler.handle(message)
