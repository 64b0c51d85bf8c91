"""Billing: Stripe customers and subscriptions, Checkout and Portal sessions.

Stripe is the source of truth for money; the license in FoundationDB follows it. A plan turns
paid only when a verified webhook (shared/billing/webhooks.py) leads to a subscription Stripe
reports ``active``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.accounts.audit import write_audit
from shared.accounts.licenses import get_license
from shared.accounts.records import UserRecord
from shared.accounts.users import get_user
from shared.billing.gateway import GatewayError, StripeGateway
from shared.billing.licensing import LIVE
from shared.billing.records import (
    BillingFailed,
    PublishReconcile,
    StopOverLimit,
    WebhookResult,
    api_error,
    billing_key,
    customer_key,
    get_billing,
)
from shared.billing.settings import BillingSettings
from shared.billing.webhooks import StripeWebhooks
from shared.claims import Claims
from shared.clock import Clock, isoformat
from shared.errors import Conflict, Unprocessable
from shared.events import EventsPort
from shared.ids import new_id
from shared.plans import PAID_PLANS
from shared.store import Database, Transaction
from shared.store.codec import dump

log = logging.getLogger("coditect.billing")


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
        self.webhooks = StripeWebhooks(
            db=db,
            gateway=gateway,
            clock=clock,
            settings=settings,
            webhook_secrets=webhook_secrets,
            events=events,
            stop_over_limit=stop_over_limit,
            publish_reconcile=publish_reconcile,
        )

    def _url(self, path: str) -> str:
        return path if "://" in path else self.public_url + path

    # -- customers -------------------------------------------------------------------------------
    def ensure_customer(self, tenant_id: str, user_id: str) -> str:
        """The tenant's Stripe customer, created once (metadata ties it back to the tenant)."""

        def read(tr: Transaction) -> tuple[dict[str, Any] | None, UserRecord | None]:
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
                dump(
                    {
                        "customer_id": customer["id"],
                        "user_id": user_id,
                        "created_at": isoformat(now),
                    }
                ),
            )
            tr.set(
                customer_key(customer["id"]),
                dump({"tenant_id": tenant_id, "user_id": user_id}),
            )
            write_audit(
                tr, tenant_id, now, "billing.customer_created", {"customer_id": customer["id"]}
            )
            return customer["id"]

        return self.db.transact(link)

    # -- paid sign-up ----------------------------------------------------------------------------
    def start_signup_subscription(
        self, user: UserRecord, plan: str, payment_method_id: str | None
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
    def checkout_url(self, claims: Claims, plan: str) -> str:
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
            raise api_error(error) from None
        return session["url"]

    def portal_url(self, claims: Claims) -> str:
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
            raise api_error(error) from None
        return session["url"]

    def cancel_subscriptions(self, tenant_id: str) -> list[str]:
        """Cancel, now, every subscription of the tenant's customer (account deletion).

        Safe to repeat: canceled ones are no longer listed. Raises ``api_error`` (503 when Stripe
        may answer later) so the caller can stop before deleting anything.
        """
        record = self.db.transact(lambda tr: get_billing(tr, tenant_id))
        if not record:
            return []  # never had a Stripe customer: nothing to cancel
        canceled = []
        try:
            for sub in self.gateway.list_subscriptions(record["customer_id"]):
                if sub.get("status") not in ("canceled", "incomplete_expired"):
                    self.gateway.cancel_subscription(sub["id"])
                    canceled.append(sub["id"])
        except GatewayError as error:
            raise api_error(error) from None
        return canceled

    # -- webhooks (shared/billing/webhooks.py) ---------------------------------------------------
    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        return self.webhooks.verify_event(payload, signature)

    def handle_webhook(self, payload: bytes, signature: str | None) -> WebhookResult:
        return self.webhooks.handle_webhook(payload, signature)
