"""The plan catalog: the one place that says what each plan costs and allows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

PlanName = Literal["free", "starter", "pro"]


@dataclass(frozen=True)
class PlanLimits:
    llm_requests_per_month: int
    storage_gb: int
    workspace_hours_per_month: int
    running_workspaces: int


@dataclass(frozen=True)
class Plan:
    name: PlanName
    price_usd_per_month: int
    limits: PlanLimits

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "price_usd_per_month": self.price_usd_per_month,
            "limits": asdict(self.limits),
        }


CATALOG: dict[str, Plan] = {
    "free": Plan("free", 0, PlanLimits(100, 1, 10, 1)),
    "starter": Plan("starter", 29, PlanLimits(10_000, 10, 100, 3)),
    "pro": Plan("pro", 99, PlanLimits(100_000, 100, 500, 10)),
}
PAID_PLANS = ("starter", "pro")


def plan(name: str) -> Plan:
    try:
        return CATALOG[name]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}") from None


def effective_plan(license_record: Mapping[str, Any] | None, now: float) -> Plan:
    """The plan whose limits apply now.

    A license whose payment failed keeps its plan until ``grace_until`` (epoch seconds), then
    the free plan's limits apply until billing recovers; a canceled license is free.
    """
    if not license_record:
        return CATALOG["free"]
    status = license_record.get("status", "active")
    if status == "canceled":
        return CATALOG["free"]
    if status == "past_due" and now >= float(license_record.get("grace_until") or 0):
        return CATALOG["free"]
    return CATALOG.get(license_record.get("plan", "free"), CATALOG["free"])
