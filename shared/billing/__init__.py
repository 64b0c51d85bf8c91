"""Billing with Stripe. ``billing_service()`` is the process's service, built on first use.

Nothing heavy is imported here: the ``stripe`` SDK loads on the first Stripe call.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.billing.service import BillingService, PublishReconcile, StopOverLimit
from shared.billing.settings import BillingSettings

log = logging.getLogger("coditect.billing")

__all__ = ["BillingService", "BillingSettings", "billing_service", "build_billing_service"]


def workspaces_hooks() -> tuple[StopOverLimit | None, PublishReconcile | None]:
    """The workspaces area's downgrade hook and reconcile publisher, if that area is built in."""
    try:
        from shared import workspaces
    except ImportError:
        workspaces = None
    stop = getattr(workspaces, "stop_over_limit", None)
    publish = getattr(workspaces, "publish_reconcile", None)
    if stop is None or publish is None:
        log.warning("shared.workspaces hooks are missing: downgrades stop no workspace")
        return None, None
    return stop, publish


def build_billing_service(
    services: Any,
    settings: BillingSettings | None = None,
    *,
    gateway: Any = None,
    hooks: tuple[StopOverLimit | None, PublishReconcile | None] | None = None,
) -> BillingService:
    """A billing service over ``services`` (a ``shared.wiring.Services``); parts can be swapped."""
    from shared.billing.gateway import StripeClientGateway
    from shared.secret_names import STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET

    settings = settings or BillingSettings.from_env()
    secrets = services.secrets
    stop_over_limit, publish_reconcile = hooks if hooks is not None else workspaces_hooks()
    return BillingService(
        db=services.db,
        gateway=gateway
        or StripeClientGateway(lambda: secrets.get(STRIPE_API_KEY).decode().strip(), settings),
        clock=services.clock,
        settings=settings,
        public_url=services.settings.public_url,
        webhook_secrets=lambda: [v.strip() for v in secrets.versions(STRIPE_WEBHOOK_SECRET, 2)],
        events=services.events,
        stop_over_limit=stop_over_limit,
        publish_reconcile=publish_reconcile,
    )


def billing_service() -> BillingService:
    from shared.wiring import services

    current = services()
    return current.get_or_create("billing", lambda: build_billing_service(current))
