"""What a Stripe subscription means for a tenant's license: a pure decision, no I/O.

The license record keeps ``plan`` and ``status`` (active | past_due | canceled | incomplete) with
``grace_until`` and the Stripe ids in its extra fields. ``plan`` is the plan whose limits the
license grants under ``shared.plans.effective_plan``: the paid plan while the subscription is
active or past due (within grace), ``free`` while it is incomplete or canceled; the
subscription's own plan is kept as ``stripe_plan`` either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.accounts.records import LicenseRecord

LIVE = ("active", "past_due")

# Stripe subscription status -> license status.
_STATUS = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",  # retries exhausted but not canceled: grace runs out, limits drop
    "incomplete": "incomplete",
    "paused": "incomplete",  # a trial ended without a card: nothing is paid
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}

# The license fields a change compares; the rest is bookkeeping.
_COMPARED = ("plan", "status", "grace_until", "stripe_subscription_id", "stripe_plan")


@dataclass(frozen=True)
class Decision:
    outcome: str  # applied | unchanged | stale | other_subscription
    plan: str = "free"
    status: str = "active"
    action: str = ""
    extra: dict[str, Any] | None = None


def license_status(stripe_status: str | None) -> str:
    return _STATUS.get(stripe_status or "", "incomplete")


def decide(
    current: LicenseRecord | None,
    subscription: dict[str, Any],
    stripe_plan: str,
    event_created: int,
    now: float,
    grace_seconds: int,
) -> Decision:
    """The license that ``subscription`` (as Stripe holds it now) calls for, if any.

    Out-of-order safety: each applied event's ``created`` is kept; an older event for the same
    subscription changes nothing. A canceled subscription never comes back, and a subscription
    the license does not track cannot take over from a live one unless it is live itself (an
    abandoned sign-up expiring after a successful Checkout must not end the paid plan).
    """
    current = current or LicenseRecord()
    status = license_status(subscription.get("status"))
    tracked = current.get("stripe_subscription_id")
    same = tracked == subscription["id"]
    if tracked and not same:
        if status == "canceled" or (status == "incomplete" and current.get("status") in LIVE):
            return Decision("other_subscription")
    if same:
        if event_created < int(current.get("stripe_event_created") or 0):
            return Decision("stale")
        if current.get("status") == "canceled" and status != "canceled":
            return Decision("stale")  # Stripe never revives a canceled subscription

    grace_until = None
    if status == "past_due":
        already = same and current.get("status") == "past_due" and current.get("grace_until")
        grace_until = float(already) if already else now + grace_seconds
    plan = stripe_plan if status in LIVE else "free"
    extra = {
        "grace_until": grace_until,
        "stripe_customer_id": subscription.get("customer"),
        "stripe_subscription_id": subscription["id"],
        "stripe_plan": stripe_plan,
        "stripe_status": subscription.get("status"),
        "stripe_event_created": max(
            event_created, int(current.get("stripe_event_created") or 0) if same else 0
        ),
        "cancel_at_period_end": subscription.get("cancel_at_period_end", False),
    }
    proposed = {"plan": plan, "status": status, **extra}
    if all(proposed.get(k) == current.get(k) for k in _COMPARED):
        return Decision("unchanged", plan, status, "", extra)
    return Decision("applied", plan, status, _action(current, plan, status), extra)


def _action(current: LicenseRecord, plan: str, status: str) -> str:
    before = current.get("status")
    if status == "canceled":
        return "canceled"
    if status == "incomplete":
        return "payment_pending"
    if status == "past_due":
        return "payment_failed" if before != "past_due" else "plan_changed"
    if before == "past_due":
        return "payment_recovered"
    if before == "active" and current.get("plan") not in (None, "free") and plan != current["plan"]:
        return "plan_changed"
    return "activated"
