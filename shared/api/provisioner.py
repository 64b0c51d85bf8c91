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
from shared.wiring import Services, services
from shared.workspaces.config import workspace_settings

log = logging.getLogger("coditect.provisioner")

HOOKS = "workspace_hooks"  # services().extras key of the local stack's Hooks, if any
KUBE_CLIENT = "kube_api_client"  # services().extras key of the kubernetes ApiClient


class _InstalledHooks:
    """Looks the hooks up on each call, so the local stack may install them at any time."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc

    def workspace_url(self, ws: dict[str, Any]) -> str | None:
        hooks = self._svc.extras.get(HOOKS)
        return hooks.workspace_url(ws) if hooks is not None else None

    def on_status(self, ws: dict[str, Any], status: str) -> None:
        hooks = self._svc.extras.get(HOOKS)
        if hooks is not None:
            hooks.on_status(ws, status)


def reconciler(svc: Services) -> Any:
    def build() -> Any:
        from shared.provisioner.kube import KubeGateway, make_api_client
        from shared.provisioner.reconciler import Reconciler

        api_client = svc.get_or_create(KUBE_CLIENT, make_api_client)
        return Reconciler(
            svc.db,
            svc.clock,
            KubeGateway(api_client),
            workspace_settings(svc),
            public_url=svc.settings.public_url,
            issuer=svc.settings.issuer,
            hooks=_InstalledHooks(svc),
        )

    return svc.get_or_create("provisioner", build)


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
    reconciler(services()).handle(message)
