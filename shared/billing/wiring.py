"""Builds the billing service over a process's services (``Services.billing``)."""

from __future__ import annotations

from typing import Any, Protocol

from shared.billing.records import PublishReconcile, StopOverLimit
from shared.billing.service import BillingService
from shared.billing.settings import BillingSettings
from shared.clock import Clock
from shared.events import EventsPort
from shared.secrets import SecretsPort
from shared.settings import Settings
from shared.store import Database


class Parts(Protocol):
    """What billing takes from a process's services (shared.wiring.Services has them)."""

    settings: Settings
    db: Database
    secrets: SecretsPort
    clock: Clock
    events: EventsPort


def build_billing_service(
    services: Parts,
    settings: BillingSettings | None = None,
    *,
    gateway: Any = None,
    hooks: tuple[StopOverLimit | None, PublishReconcile | None] | None = None,
) -> BillingService:
    """A billing service over ``services``; settings, gateway and hooks can be swapped."""
    from shared.billing.gateway import StripeClientGateway
    from shared.secret_names import STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET
    from shared.workspaces.service import publish_reconcile, stop_over_limit

    settings = settings or services.settings.billing
    secrets = services.secrets
    # A downgrade stops the workspaces over the new plan's limit and reconciles them.
    stop, publish = hooks if hooks is not None else (stop_over_limit, publish_reconcile)
    return BillingService(
        db=services.db,
        gateway=gateway
        or StripeClientGateway(lambda: secrets.get(STRIPE_API_KEY).decode().strip(), settings),
        clock=services.clock,
        settings=settings,
        public_url=services.settings.public_url,
        webhook_secrets=lambda: [v.strip() for v in secrets.versions(STRIPE_WEBHOOK_SECRET, 2)],
        events=services.events,
        stop_over_limit=stop,
        publish_reconcile=publish,
    )
