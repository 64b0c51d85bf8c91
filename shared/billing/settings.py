"""Billing settings (a section of shared.settings.Settings)."""

import dataclasses
from typing import Any

from pydantic import model_validator
from pydantic.dataclasses import dataclass

from shared.envconfig import SETTINGS_CONFIG, EnvSettings, env
from shared.plans import PAID_PLANS

FLAVORS = ("stripe", "localstripe")
PRICE_PREFIX = "CODITECT_STRIPE_PRICE_"
GRACE_DAYS = "CODITECT_BILLING_GRACE_DAYS"


def _ids(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(config=SETTINGS_CONFIG)
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

    @model_validator(mode="before")
    @classmethod
    def _from_variables(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "prices" not in data:
            data["prices"] = {
                plan: _ids(data.get(PRICE_PREFIX + plan.upper())) for plan in PAID_PLANS
            }
        if "grace_seconds" not in data and data.get(GRACE_DAYS):
            try:
                days = float(data[GRACE_DAYS])
            except ValueError:
                raise ValueError(f"{GRACE_DAYS} must be a number of days") from None
            if days < 0:
                raise ValueError(f"{GRACE_DAYS} must not be negative")
            data["grace_seconds"] = int(days * 86400)
        if int(data.get("grace_seconds", 0)) < 0:
            raise ValueError("the grace period must not be negative")
        return data

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
