"""Billing: Stripe customers and subscriptions, Checkout and Portal sessions, signed webhooks.

Stripe is the source of truth for money; the license in FoundationDB follows it. A plan turns
paid only when a verified webhook leads to a subscription Stripe reports ``active``. Webhook
handling fetches the subscription as Stripe holds it now, then decides and writes in one
transaction together with the record that the event id was processed, so a duplicate, late or
out-of-order delivery changes nothing it should not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.accounts import get_license, get_user, write_audit, write_license
from shared.billing.gateway import GatewayError, ProviderNotFound, StripeGateway
from shared.billing.grace import index_license
from shared.billing.licensing import LIVE, decide, license_status
from shared.billing.settings import BillingSettings
from shared.clock import Clock, isoformat
from shared.errors import ApiError, BadRequest, Conflict, Unprocessable
from shared.events import EventsPort
from shared.plans import PAID_PLANS, effective_plan
from shared.store import Database, Transaction
from shared.store.keys import INDEXES, PROCESSED, TENANTS
from shared.web import new_id

log = logging.getLogger("coditect.billing")

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


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _load(raw: bytes | None) -> dict[str, Any] | None:
    return json.loads(raw) if raw is not None else None


def customer_key(customer_id: str) -> bytes:
    return INDEXES.key("stripe_customer", customer_id)


def billing_key(tenant_id: str) -> bytes:
    return TENANTS[tenant_id].key("billing")


def processed_key(event_id: str) -> bytes:
    return PROCESSED.key("stripe_event", event_id)


def get_billing(tr: Transaction, tenant_id: str) -> dict[str, Any] | None:
    return _load(tr.get(billing_key(tenant_id)))


class BillingUnavailable(ApiError):
    status, code = 503, "billing_unavailable"


class BillingFailed(ApiError):
    status, code = 502, "billing_error"


class WebhookRejected(BadRequest):
    code = "invalid_signature"


def _api_error(error: GatewayError) -> ApiError:
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


class BillingService:
    def __init__(
        self,
        *,
        db: Database,
        gateway: StripeGateway,
        clock: Clock,
        settings: BillingSettings,
        public_url: str,
        webhook_secrets: Callable[[], list[bytes]],
        events: EventsPort,
        stop_over_limit: StopOverLimit | None = None,
        publish_reconcile: PublishReconcile | None = None,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.clock = clock
        self.settings = settings
        self.public_url = public_url.rstrip("/")
        self._webhook_secrets = webhook_secrets
        self.events = events
        self.stop_over_limit = stop_over_limit
        self.publish_reconcile = publish_reconcile

    def _url(self, path: str) -> str:
        return path if "://" in path else self.public_url + path

    # -- customers -------------------------------------------------------------------------------
    def ensure_customer(self, tenant_id: str, user_id: str) -> str:
        """The tenant's Stripe customer, created once (metadata ties it back to the tenant)."""

        def read(tr: Transaction) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            return get_billing(tr, tenant_id), get_user(tr, tenant_id, user_id)

        record, user = self.db.transact(read)
        if record:
            return record["customer_id"]
        if user is None:
            raise Unprocessable("account no longer exists", code="invalid_token")
        name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or None
        customer = self.gateway.create_customer(
            email=user["email"],
            name=name,
            metadata={"tenant_id": tenant_id, "user_id": user_id},
            # One customer per tenant even when two requests race (Stripe replays the first).
            idempotency_key=f"coditect-customer-{tenant_id}",
        )

        def link(tr: Transaction) -> str:
            existing = get_billing(tr, tenant_id)
            if existing:
                return existing["customer_id"]
            now = self.clock.now()
            tr.set(
                billing_key(tenant_id),
                _dump(
                    {
                        "customer_id": customer["id"],
                        "user_id": user_id,
                        "created_at": isoformat(now),
                    }
                ),
            )
            tr.set(
                customer_key(customer["id"]),
                _dump({"tenant_id": tenant_id, "user_id": user_id}),
            )
            write_audit(
                tr, tenant_id, now, "billing.customer_created", {"customer_id": customer["id"]}
            )
            return customer["id"]

        return self.db.transact(link)

    # -- paid sign-up ----------------------------------------------------------------------------
    def start_signup_subscription(
        self, user: dict[str, Any], plan: str, payment_method_id: str | None
    ) -> dict[str, Any]:
        """Customer + subscription for a paid sign-up; never raises for Stripe's answers.

        The account already exists on the free plan. If Stripe fails, the answer says so and
        names the retry path (Checkout); the plan turns paid only through the webhook.
        """
        tenant_id, user_id = user["tenant_id"], user["user_id"]
        try:
            price_id = self.settings.price_for(plan)
            customer_id = self.ensure_customer(tenant_id, user_id)
            if payment_method_id:
                self.gateway.set_default_payment_method(
                    customer_id, payment_method_id, idempotency_key=f"coditect-pm-{user_id}"
                )
            started = self.gateway.create_subscription(
                customer_id=customer_id,
                price_id=price_id,
                metadata={"tenant_id": tenant_id, "user_id": user_id, "plan": plan},
                has_payment_method=bool(payment_method_id),
                idempotency_key=f"coditect-signup-subscription-{user_id}",
            )
        except Exception as error:  # the account is created: every failure becomes an answer
            if not isinstance(error, GatewayError | LookupError):
                log.exception("paid sign-up: unexpected billing error")
            code = (
                error.code
                if isinstance(error, GatewayError)
                else "billing_not_configured"
                if isinstance(error, LookupError)
                else "billing_error"
            )
            retryable = isinstance(error, GatewayError) and error.retryable
            message = (
                error.message
                if isinstance(error, GatewayError) and error.code not in ("stripe_auth",)
                else "billing is not available"
            )
            log.warning(
                "paid sign-up: Stripe failed",
                extra={"fields": {"tenant_id": tenant_id, "code": code, "retryable": retryable}},
            )
            self.db.transact(
                lambda tr: write_audit(
                    tr,
                    tenant_id,
                    self.clock.now(),
                    "billing.signup_failed",
                    {"plan": plan, "code": code},
                )
            )
            return {
                "id": None,
                "status": "failed",
                "client_secret": None,
                "reason": code,
                "message": message,
                "plan": plan,
                "retry": {
                    "method": "POST",
                    "path": "/api/billing/checkout",
                    "body": {"plan": plan},
                },
            }

        answer: dict[str, Any] = {
            "id": started["id"],
            "status": started["status"],
            "client_secret": started.get("client_secret"),
            "plan": plan,
        }
        if started["status"] != "active":
            if started.get("payment_status") == "requires_action":
                answer["reason"] = "requires_action"
            elif started.get("error_code"):
                answer["reason"] = started["error_code"]
                answer["message"] = started.get("error_message")
            else:
                answer["reason"] = "requires_payment_method"
        self.db.transact(
            lambda tr: write_audit(
                tr,
                tenant_id,
                self.clock.now(),
                "billing.subscription_started",
                {"plan": plan, "subscription_id": started["id"], "status": started["status"]},
            )
        )
        return answer

    # -- checkout and portal ---------------------------------------------------------------------
    def checkout_url(self, claims: dict[str, Any], plan: str) -> str:
        tenant_id, user_id = claims["tid"], claims["sub"]
        if plan not in PAID_PLANS:
            raise Unprocessable(
                f"plan: must be one of {', '.join(PAID_PLANS)}", code="invalid_plan"
            )
        try:
            price_id = self.settings.price_for(plan)
        except LookupError:
            raise BillingFailed(
                "billing is not configured", code="billing_not_configured"
            ) from None
        current = self.db.transact(lambda tr: get_license(tr, tenant_id)) or {}
        if current.get("status") in LIVE and current.get("stripe_subscription_id"):
            raise Conflict(
                "you already have a subscription; change plans in the billing portal",
                code="already_subscribed",
            )
        try:
            customer_id = self.ensure_customer(tenant_id, user_id)
            session = self.gateway.create_checkout_session(
                customer_id=customer_id,
                price_id=price_id,
                success_url=self._url(self.settings.success_path),
                cancel_url=self._url(self.settings.cancel_path),
                client_reference_id=tenant_id,
                metadata={"tenant_id": tenant_id, "user_id": user_id, "plan": plan},
                idempotency_key=f"coditect-checkout-{new_id()}",
            )
        except GatewayError as error:
            raise _api_error(error) from None
        return session["url"]

    def portal_url(self, claims: dict[str, Any]) -> str:
        tenant_id = claims["tid"]
        record = self.db.transact(lambda tr: get_billing(tr, tenant_id))
        if not record:
            raise Conflict(
                "no billing account yet; subscribe with /api/billing/checkout first",
                code="no_billing_account",
            )
        try:
            session = self.gateway.create_portal_session(
                customer_id=record["customer_id"], return_url=self._url(self.settings.return_path)
            )
        except GatewayError as error:
            raise _api_error(error) from None
        return session["url"]

    # -- webhooks --------------------------------------------------------------------------------
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
        event = self.verify_event(payload, signature)
        event_id, kind = event["id"], event["type"]
        if kind not in HANDLED_EVENTS:
            return WebhookResult("ignored", event_id, kind)
        done = self.db.transact(lambda tr: _load(tr.get(processed_key(event_id))))
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
            _dump(
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
        owner = _load(tr.get(customer_key(subscription.get("customer") or "")))
        if owner is None:
            # Not one of ours (another environment on the same Stripe account).
            return WebhookResult("unknown_customer", event_id, kind)
        tenant_id, user_id = owner["tenant_id"], owner["user_id"]
        plan = self.settings.plan_for_price(subscription.get("price_id"))
        if plan is None and subscription["metadata"].get("plan") in PAID_PLANS:
            plan = subscription["metadata"]["plan"]
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
            tr.set(TENANTS[tenant_id].key("license"), _dump(current))
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
