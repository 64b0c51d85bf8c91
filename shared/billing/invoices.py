"""The billing page's read: the license as billing sees it, past invoices and the next one.

Stripe holds the invoices; nothing about them is stored here. The next invoice is the live
subscription's renewal at its plan's catalog price (none when it ends at the period's end).
"""

from __future__ import annotations

from typing import Any

from shared.accounts.licenses import get_license
from shared.accounts.records import LicenseRecord
from shared.billing.gateway import GatewayError
from shared.billing.licensing import LIVE
from shared.billing.records import api_error, get_billing
from shared.billing.service import BillingService
from shared.claims import Claims
from shared.clock import isoformat
from shared.plans import CATALOG
from shared.store import Transaction

INVOICE_LIMIT = 24  # two years of monthly invoices


def _when(epoch: Any) -> str | None:
    return isoformat(float(epoch)) if epoch else None


def billing_summary(service: BillingService, claims: Claims) -> dict[str, Any]:
    """``{subscription, invoices, next_invoice}`` for the caller's own tenant."""
    tenant_id = claims["tid"]

    def read(tr: Transaction) -> tuple[dict[str, Any] | None, LicenseRecord]:
        license_record: LicenseRecord = get_license(tr, tenant_id) or {
            "plan": "free",
            "status": "active",
        }
        return get_billing(tr, tenant_id), license_record

    record, license_record = service.db.transact(read)
    status = license_record.get("status", "active")
    subscription = {
        "plan": license_record.get("stripe_plan") or license_record.get("plan", "free"),
        "status": status,
        # Payment failed: the paid plan's limits hold until this moment, then free's apply.
        "grace_until": _when(license_record.get("grace_until")) if status == "past_due" else None,
        "cancel_at_period_end": bool(license_record.get("cancel_at_period_end")),
    }
    answer: dict[str, Any] = {"subscription": subscription, "invoices": [], "next_invoice": None}
    if not record:  # never had a Stripe customer: nothing to ask Stripe
        return answer
    try:
        invoices = service.gateway.list_invoices(record["customer_id"], INVOICE_LIMIT)
        live = [
            sub
            for sub in service.gateway.list_subscriptions(record["customer_id"])
            if sub.get("status") in ("active", "trialing", "past_due")
        ]
    except GatewayError as error:
        raise api_error(error) from None
    answer["invoices"] = [
        {
            **invoice,
            "created": _when(invoice.get("created")),
            "period_start": _when(invoice.get("period_start")),
            "period_end": _when(invoice.get("period_end")),
        }
        for invoice in invoices
    ]
    renewing = [sub for sub in live if not sub.get("cancel_at_period_end")]
    if renewing and status in LIVE:
        sub = renewing[0]
        plan = service.settings.plan_for_price(sub.get("price_id")) or sub["metadata"].get("plan")
        if plan in CATALOG and sub.get("current_period_end"):
            answer["next_invoice"] = {
                "date": _when(sub["current_period_end"]),
                "amount_due": CATALOG[plan].price_usd_per_month * 100,
                "currency": "usd",
                "plan": plan,
            }
    return answer
