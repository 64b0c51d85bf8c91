"""The usage report (``GET /api/llm/usage``) and the month's request count for ``/api/auth/me``."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shared.claims import Claims
from shared.clock import Clock, isoformat
from shared.errors import Unprocessable
from shared.llm import metering
from shared.plans import effective_plan
from shared.store import Database, Transaction
from shared.store.keys import TENANTS

if TYPE_CHECKING:
    from shared.claims import Claims

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
monthly_requests = metering.monthly_requests


def _usd(micro: int) -> float:
    return round(micro / 1_000_000, 6)


def _totals(rows: list[metering.UsageRow], key: str) -> list[dict[str, Any]]:
    grouped: dict[str, dict[str, int]] = {}
    for row in rows:
        into = grouped.setdefault(getattr(row, key), dict.fromkeys(metering.METRICS, 0))
        for metric, amount in asdict(row.usage).items():
            into[metric] += amount
    return [
        {
            key: name,
            **{k: v for k, v in t.items() if k != "cost_micro_usd"},
            "cost_usd": _usd(t["cost_micro_usd"]),
        }
        for name, t in sorted(grouped.items())
    ]


@dataclass
class UsageService:
    db: Database
    clock: Clock

    def report(self, claims: Claims, period: str | None) -> dict[str, Any]:
        tenant_id = claims["tid"]
        now = self.clock.now()
        period = period or metering.month_of(now)
        if not PERIOD.match(period):
            raise Unprocessable("period: use YYYY-MM", code="invalid_period")

        def read(tr: Transaction) -> tuple[Any, int, list[metering.UsageRow]]:
            raw = tr.get(TENANTS[tenant_id].key("license"), snapshot=True)
            used = metering.monthly_requests(tr, tenant_id, period)
            return (
                (json.loads(raw) if raw else None),
                used,
                metering.usage_rows(tr, tenant_id, period),
            )

        license_record, used, rows = self.db.transact(read)
        plan = effective_plan(license_record, now)
        limit = plan.limits.llm_requests_per_month
        current = period == metering.month_of(now)
        return {
            "period": period,
            "plan": plan.name,
            "limit": limit,
            "used": used,
            "remaining": max(0, limit - used) if current else None,
            "resets_at": isoformat(now + metering.seconds_to_next_month(now)) if current else None,
            "by_model": _totals(rows, "model"),
            "by_day": _totals(rows, "day"),
            "rows": [
                {
                    "day": r.day,
                    "model": r.model,
                    "user_id": r.user_id,
                    "requests": r.usage.requests,
                    "input_tokens": r.usage.input_tokens,
                    "output_tokens": r.usage.output_tokens,
                    "cost_usd": _usd(r.usage.cost_micro_usd),
                }
                for r in rows
            ],
        }
