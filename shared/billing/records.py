"""Billing records and keys, and the types billing shares with its callers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.billing.gateway import GatewayError
from shared.errors import ApiError, BadRequest
from shared.store import Transaction
from shared.store.codec import load
from shared.store.keys import INDEXES, PROCESSED, TENANTS

HANDLED_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "checkout.session.completed",
    }
)
MAX_EVENT_BYTES = 512 * 1024  # Stripe events are a few kB; anything near this is not one

# ``stop_over_limit(tr, tenant_id, user_id, running_limit, now) -> [workspace ids]``, from the
# workspaces area: marks the newest running workspaces beyond the limit desired=stopped.
StopOverLimit = Callable[[Transaction, str, str, int, float], list[str]]
# ``publish_reconcile(events, tenant_id, workspace_id, reason, *, user_id=)``, same area.
PublishReconcile = Callable[..., Any]


def customer_key(customer_id: str) -> bytes:
    return INDEXES.key("stripe_customer", customer_id)


def billing_key(tenant_id: str) -> bytes:
    return TENANTS[tenant_id].key("billing")


def processed_key(event_id: str) -> bytes:
    return PROCESSED.key("stripe_event", event_id)


def get_billing(tr: Transaction, tenant_id: str) -> dict[str, Any] | None:
    return load(tr.get(billing_key(tenant_id)))


class BillingUnavailable(ApiError):
    status, code = 503, "billing_unavailable"


class BillingFailed(ApiError):
    status, code = 502, "billing_error"


class WebhookRejected(BadRequest):
    code = "invalid_signature"


def api_error(error: GatewayError) -> ApiError:
    if error.retryable:
        return BillingUnavailable(
            "billing is unavailable right now; try again shortly", headers={"Retry-After": "30"}
        )
    return BillingFailed(f"billing failed ({error.code})")


@dataclass(frozen=True)
class WebhookResult:
    outcome: str  # applied | unchanged | stale | duplicate | ignored | ...
    event_id: str = ""
    event_type: str = ""
    tenant_id: str | None = None
    stopped: tuple[str, ...] = ()
    user_id: str | None = None

    def public(self) -> dict[str, Any]:
        return {"received": True, "outcome": self.outcome}
