"""Billing settings, read once from the environment (the core's Settings stays billing-free)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.plans import PAID_PLANS

FLAVORS = ("stripe", "localstripe")


def _ids(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(frozen=True)
class BillingSettings:
    # Stripe's API base; empty means api.stripe.com. Locally: the localstripe URL.
    api_base: str = ""
    # Where Checkout and Billing Portal sessions are created; empty means api_base. localstripe
    # has neither, so the local stack points this at its stand-in.
    sessions_api_base: str = ""
    # "stripe" (the current API: prices, confirmation secrets) or "localstripe" (plan items,
    # payment intents on invoices): the two dialects the subscription calls must speak.
    flavor: str = "stripe"
    # Plan -> Stripe price ids (plan ids on localstripe). The first id is used for new
    # subscriptions; older ids still map back to the plan (prices are immutable in Stripe).
    prices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Payment failure keeps the paid plan this long before the free plan's limits apply.
    grace_seconds: int = 7 * 24 * 3600
    # Stripe-Signature timestamps older than this are rejected (Stripe's own default).
    webhook_tolerance_seconds: int = 300
    # Browser return URLs after Checkout / the Portal; relative ones hang off the public URL.
    success_path: str = "/billing/success"
    cancel_path: str = "/billing/cancel"
    return_path: str = "/billing"
    network_retries: int = 2
    timeout_seconds: float = 20.0

    def __post_init__(self) -> None:
        if self.flavor not in FLAVORS:
            raise ValueError(f"CODITECT_STRIPE_FLAVOR must be one of {FLAVORS}")
        if self.grace_seconds < 0:
            raise ValueError("CODITECT_BILLING_GRACE_DAYS must not be negative")

    def price_for(self, plan: str) -> str:
        ids = self.prices.get(plan) or ()
        if plan not in PAID_PLANS or not ids:
            raise LookupError(f"no Stripe price configured for plan {plan!r}")
        return ids[0]

    def plan_for_price(self, price_id: str | None) -> str | None:
        for plan, ids in self.prices.items():
            if price_id in ids:
                return plan
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BillingSettings:
        env = os.environ if env is None else env
        grace_days = env.get("CODITECT_BILLING_GRACE_DAYS", "")
        return cls(
            api_base=env.get("CODITECT_STRIPE_API_BASE", ""),
            sessions_api_base=env.get("CODITECT_STRIPE_SESSIONS_API_BASE", ""),
            flavor=env.get("CODITECT_STRIPE_FLAVOR", "stripe"),
            prices={
                plan: _ids(env.get(f"CODITECT_STRIPE_PRICE_{plan.upper()}")) for plan in PAID_PLANS
            },
            grace_seconds=int(float(grace_days) * 86400) if grace_days else 7 * 24 * 3600,
            success_path=env.get("CODITECT_BILLING_SUCCESS_URL", "/billing/success"),
            cancel_path=env.get("CODITECT_BILLING_CANCEL_URL", "/billing/cancel"),
            return_path=env.get("CODITECT_BILLING_RETURN_URL", "/billing"),
        )
