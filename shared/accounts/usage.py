"""Usage counters per user and month: ``t/<tid>/usage/<uid>/<YYYY-MM>/<metric>``."""

from __future__ import annotations

from shared.clock import isoformat
from shared.store import Transaction, decode_counter
from shared.store.keys import TENANTS


def usage_month(now: float) -> str:
    return isoformat(now)[:7]


def add_usage(
    tr: Transaction, tenant_id: str, user_id: str, now: float, metric: str, amount: int
) -> None:
    """Atomic adds: concurrent writers never conflict."""
    tr.add(TENANTS[tenant_id].key("usage", user_id, usage_month(now), metric), amount)


def month_usage(tr: Transaction, tenant_id: str, user_id: str, month: str) -> dict[str, int]:
    """Every counter of the user's month (snapshot: a display value, not a decision)."""
    tenant = TENANTS[tenant_id]
    begin, end = tenant.range("usage", user_id, month)
    return {
        str(tenant.unpack(k)[-1]): decode_counter(v)
        for k, v in tr.get_range(begin, end, snapshot=True)
    }
