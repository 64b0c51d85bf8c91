"""Billing settings (a section of shared.settings.Settings)."""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.envconfig import EnvSettings, env, split_list
from shared.plans import PAID_PLANS

FLAVORS = ("stripe", "localstripe")
PRICE_PREFIX = "CODITECT_STRIPE_PRICE_"
GRACE_DAYS = "CODITECT_BILLING_GRACE_DAYS"


@dataclass(frozen=True)
class BillingSettings(EnvSettings):
    api_base: str = env(
        "CODITECT_STRIPE_API_BASE", "", "Stripe's API base; empty: api.stripe.com (localstripe)."
    )
    sessions_api_base: str = env(
        "CODITECT_STRIPE_SESSIONS_API_BASE",
        "",
        "Where Checkout and Portal sessions are created; empty: the API base.",
    )
    flavor: str = env(
        "CODITECT_STRIPE_FLAVOR",
        "stripe",
        "`stripe` (prices, confirmation secrets) or `localstripe` (plan items).",
        pattern="^(stripe|localstripe)$",
    )
    # Plan -> Stripe price ids (plan ids on localstripe), from CODITECT_STRIPE_PRICE_<PLAN>. The
    # first id is used for new subscriptions; older ids still map back to the plan.
    prices: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    # Payment failure keeps the paid plan this long (CODITECT_BILLING_GRACE_DAYS, in days).
    grace_seconds: int = 7 * 24 * 3600
    # Stripe-Signature timestamps older than this are rejected (Stripe's own default).
    webhook_tolerance_seconds: int = 300
    success_path: str = env(
        "CODITECT_BILLING_SUCCESS_URL", "/billing/success", "Browser return after Checkout."
    )
    cancel_path: str = env(
        "CODITECT_BILLING_CANCEL_URL", "/billing/cancel", "Browser return on a canceled Checkout."
    )
    return_path: str = env(
        "CODITECT_BILLING_RETURN_URL", "/billing", "Browser return from the Billing Portal."
    )
    network_retries: int = 2
    timeout_seconds: float = 20.0

    ENV_PATTERNS = (
        (
            PRICE_PREFIX + "<PLAN>",
            "",
            "Stripe price ids of a paid plan (STARTER, PRO), comma-separated, newest first.",
        ),
        (GRACE_DAYS, "7", "Days a failed payment keeps the paid plan (fractions allowed)."),
    )

    @classmethod
    def from_variables(cls, values: Mapping[str, str]) -> dict[str, Any]:
        derived: dict[str, Any] = {
            "prices": {
                plan: split_list(values.get(PRICE_PREFIX + plan.upper(), "")) for plan in PAID_PLANS
            }
        }
        if values.get(GRACE_DAYS):
            try:
                days = float(values[GRACE_DAYS])
            except ValueError:
                raise ValueError(f"{GRACE_DAYS} must be a number of days") from None
            if days < 0:
                raise ValueError(f"{GRACE_DAYS} must not be negative")
            derived["grace_seconds"] = int(days * 86400)
        return derived

    def check(self) -> None:
        if self.grace_seconds < 0:
            raise ValueError("the grace period must not be negative")

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
