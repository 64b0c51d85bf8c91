"""Stripe webhooks: verified on the raw bytes, applied idempotently and in order.

Handling fetches the subscription as Stripe holds it now, then decides and writes in one
transaction together with the record that the event id was processed, so a duplicate, late or
out-of-order delivery changes nothing it should not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared import metrics
from shared.accounts.audit import write_audit
from shared.accounts.licenses import get_license, write_license
from shared.billing.gateway import GatewayError, ProviderNotFound, StripeGateway
from shared.billing.grace import index_license
from shared.billing.licensing import LIVE, decide, license_status
from shared.billing.records import (
    HANDLED_EVENTS,
    MAX_EVENT_BYTES,
    BillingFailed,
    BillingUnavailable,
    PublishReconcile,
    StopOverLimit,
    WebhookRejected,
    WebhookResult,
    customer_key,
    processed_key,
)
from shared.billing.settings import BillingSettings
from shared.clock import Clock, isoformat
from shared.events import EventsPort
from shared.plans import effective_plan
from shared.store import Database, Transaction
from shared.store.codec import dump, load
from shared.store.keys import TENANTS

log = logging.getLogger("coditect.billing")


class StripeWebhooks:
    def __init__(
        self,
        *,
        db: Database,
        gateway: StripeGateway,
        clock: Clock,
        settings: BillingSettings,
        webhook_secrets: Callable[[], list[bytes]],
        events: EventsPort,
        stop_over_limit: StopOverLimit | None = None,
        publish_reconcile: PublishReconcile | None = None,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.clock = clock
        self.settings = settings
        self._webhook_secrets = webhook_secrets
        self.events = events
        self.stop_over_limit = stop_over_limit
        self.publish_reconcile = publish_reconcile

    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, if Stripe signed this exact body within the tolerance; else 400."""
        import stripe

        if not signature:
            raise WebhookRejected("missing Stripe-Signature header")
        if len(payload) > MAX_EVENT_BYTES:
            raise WebhookRejected("payload too large to be a Stripe event")
        secrets = self._webhook_secrets()
        if not secrets:
            raise BillingFailed("webhook secret is not configured", code="billing_not_configured")
        try:
            text = payload.decode("utf-8")  # Stripe signs UTF-8 JSON; anything else is not its
        except UnicodeDecodeError:
            raise WebhookRejected("signature verification failed") from None
        event: Any = None
        for secret in secrets:  # newest first: a rotation accepts both for a while
            try:
                # Verifies the signature and the 300 s tolerance on the raw body, then parses.
                event = stripe.Webhook.construct_event(
                    text, signature, secret.decode(), self.settings.webhook_tolerance_seconds
                )
                break
            except stripe.SignatureVerificationError:
                continue
            except Exception:  # signed, but not JSON or not an event Stripe would send
                raise WebhookRejected("not a Stripe event", code="malformed_event") from None
        else:
            raise WebhookRejected("signature verification failed")
        event = event.to_dict()
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("id"), str)
            or not 0 < len(event["id"]) <= 255
            or not isinstance(event.get("type"), str)
            or not isinstance((event.get("data") or {}).get("object"), dict)
        ):
            raise WebhookRejected("not a Stripe event", code="malformed_event")
        return event

    def handle_webhook(self, payload: bytes, signature: str | None) -> WebhookResult:
        try:
            event = self.verify_event(payload, signature)
        except WebhookRejected:
            metrics.WEBHOOK_EVENTS.inc(type="unverified", outcome="rejected")
            raise
        except Exception:
            metrics.WEBHOOK_EVENTS.inc(type="unverified", outcome="error")
            raise
        # Handled types name themselves; any other type Stripe sends counts as "other".
        kind_label = event["type"] if event["type"] in HANDLED_EVENTS else "other"
        try:
            result = self._handle(event)
        except Exception:
            metrics.WEBHOOK_EVENTS.inc(type=kind_label, outcome="error")
            raise
        metrics.WEBHOOK_EVENTS.inc(type=kind_label, outcome=result.outcome)
        return result

    def _handle(self, event: dict[str, Any]) -> WebhookResult:
        event_id, kind = event["id"], event["type"]
        if kind not in HANDLED_EVENTS:
            return WebhookResult("ignored", event_id, kind)
        done = self.db.transact(lambda tr: load(tr.get(processed_key(event_id))))
        if done is not None:
            self._publish_stops(done.get("tenant_id"), done.get("user_id"), done.get("stopped"))
            return WebhookResult("duplicate", event_id, kind, done.get("tenant_id"))

        subscription_id = subscription_of(event)
        subscription = None
        if subscription_id:
            try:
                # Stripe's current state, not the event's snapshot: late events then carry
                # nothing stale, and localstripe's missing "updated" events do not matter.
                subscription = self.gateway.retrieve_subscription(subscription_id)
                if subscription and license_status(subscription.get("status")) not in LIVE:
                    subscription = self._live_instead(subscription)
            except ProviderNotFound:
                subscription = None
            except GatewayError as error:
                if error.retryable:
                    raise BillingUnavailable("Stripe is unavailable; retry later") from None
                raise BillingFailed(f"could not read the subscription ({error.code})") from None

        result = self.db.transact(self._apply, event, subscription)
        log.info(
            "stripe event",
            extra={
                "fields": {
                    "event_id": event_id,
                    "type": kind,
                    "outcome": result.outcome,
                    "tenant_id": result.tenant_id,
                    "stopped": len(result.stopped),
                }
            },
        )
        self._publish_stops(result.tenant_id, result.user_id, list(result.stopped))
        return result

    def _live_instead(self, subscription: dict[str, Any]) -> dict[str, Any]:
        """A live subscription of the same customer, if there is one, else ``subscription``.

        A customer can hold two (a 3-D Secure sign-up confirmed after a Checkout went through):
        when one of them ends or is unpaid, the license follows the one still being paid for,
        so access never drops while Stripe is charging.
        """
        customer_id = subscription.get("customer")
        if not customer_id:
            return subscription
        live = [
            sub
            for sub in self.gateway.list_subscriptions(customer_id)
            if sub["id"] != subscription["id"] and license_status(sub.get("status")) in LIVE
        ]
        # Paid in full before past due; then the newest (the list is newest first).
        live.sort(key=lambda sub: license_status(sub.get("status")) != "active")
        return live[0] if live else subscription

    def _publish_stops(
        self, tenant_id: str | None, user_id: str | None, workspace_ids: list[str] | None
    ) -> None:
        """Reconcile messages for workspaces a downgrade stopped (again on redelivery: a
        reconcile is level-triggered, so a repeat is harmless and a lost one is re-sent)."""
        if not tenant_id or self.publish_reconcile is None:
            return
        for workspace_id in workspace_ids or []:
            self.publish_reconcile(
                self.events, tenant_id, workspace_id, "plan_limit", user_id=user_id
            )

    def _apply(
        self, tr: Transaction, event: dict[str, Any], subscription: dict[str, Any] | None
    ) -> WebhookResult:
        event_id, kind = event["id"], event["type"]
        if tr.get(processed_key(event_id)) is not None:
            return WebhookResult("duplicate", event_id, kind)
        now = self.clock.now()
        result = self._decide_and_write(tr, event, subscription, now)
        tr.set(
            processed_key(event_id),
            dump(
                {
                    "type": kind,
                    "outcome": result.outcome,
                    "tenant_id": result.tenant_id,
                    "user_id": result.user_id,
                    "stopped": list(result.stopped),
                    "at": isoformat(now),
                }
            ),
        )
        return result

    def _decide_and_write(
        self,
        tr: Transaction,
        event: dict[str, Any],
        subscription: dict[str, Any] | None,
        now: float,
    ) -> WebhookResult:
        event_id, kind = event["id"], event["type"]
        if subscription is None:
            return WebhookResult("no_subscription", event_id, kind)
        owner = load(tr.get(customer_key(subscription.get("customer") or "")))
        if owner is None:
            # Not one of ours (another environment on the same Stripe account).
            return WebhookResult("unknown_customer", event_id, kind)
        tenant_id, user_id = owner["tenant_id"], owner["user_id"]
        # Only the catalog says what a price buys: metadata can be edited by anyone with
        # dashboard access (or set by a client at Checkout), so it never decides the plan.
        plan = self.settings.plan_for_price(subscription.get("price_id"))
        if plan is None:
            log.error(
                "subscription price is not in the configured catalog",
                extra={"fields": {"event_id": event_id, "price_id": subscription.get("price_id")}},
            )
            return WebhookResult("unknown_price", event_id, kind, tenant_id, user_id=user_id)

        current = get_license(tr, tenant_id)
        decision = decide(
            current,
            subscription,
            plan,
            int(event.get("created") or 0),
            now,
            self.settings.grace_seconds,
        )
        if decision.outcome == "unchanged" and current is not None:
            # Only the ordering mark moves: not a license change, so no history entry.
            current["stripe_event_created"] = (decision.extra or {})["stripe_event_created"]
            tr.set(TENANTS[tenant_id].key("license"), dump(current))
        if decision.outcome != "applied":
            return WebhookResult(decision.outcome, event_id, kind, tenant_id, user_id=user_id)

        license_record = write_license(
            tr,
            tenant_id,
            now,
            plan=decision.plan,
            status=decision.status,
            action=decision.action,
            reason=f"stripe {kind} {event_id}",
            extra=decision.extra,
        )
        # The grace deadline's index entry moves with the license (the timer reads it).
        index_license(tr, tenant_id, user_id, current, license_record)
        write_audit(
            tr,
            tenant_id,
            now,
            "billing.license_changed",
            {
                "action": decision.action,
                "plan": decision.plan,
                "status": decision.status,
                "event_id": event_id,
            },
        )
        stopped: list[str] = []
        if self.stop_over_limit is not None:
            limit = effective_plan(license_record, now).limits.running_workspaces
            stopped = list(self.stop_over_limit(tr, tenant_id, user_id, limit, now))
        return WebhookResult("applied", event_id, kind, tenant_id, tuple(stopped), user_id)


def subscription_of(event: dict[str, Any]) -> str | None:
    """The subscription an event is about, in either API dialect."""
    obj = event["data"]["object"]
    kind = event["type"]
    if kind.startswith("customer.subscription."):
        return obj.get("id")
    if kind.startswith("invoice."):
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        found = parent.get("subscription") or obj.get("subscription")
    elif kind == "checkout.session.completed":
        if obj.get("mode") != "subscription":
            return None
        found = obj.get("subscription")
    else:
        return None
    if isinstance(found, dict):
        found = found.get("id")
    return found if isinstance(found, str) else None
