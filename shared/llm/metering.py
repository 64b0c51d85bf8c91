"""Monthly request metering that parallel requests cannot race, and per-day usage records.

**Reservation.** Before a request is forwarded, one serializable transaction reads the tenant's
counter and increments it only if the plan's monthly limit allows; a conflicting transaction is
retried by ``transact``, so N parallel requests with k left forward exactly k.

**No hot key.** The monthly counter is split into ``SHARDS`` keys, each owning an equal slice
(``allowance``) of the limit. A reservation reads and increments one shard picked at random, so
parallel reservations of one tenant conflict only when they pick the same shard (1 in 8). When
its shard's slice is used up, the reservation reads every shard and takes the one with the most
room: the sum never passes the limit, because no shard passes its slice. After a plan change
mid-month shards keep what they counted; a downgrade leaves full shards full.

**Blocks.** While a tenant has plenty left, a gateway instance reserves a block of requests at
once and serves the next ones from it without a commit; the rest of a block is given back when
it sits idle or the instance stops (a crash loses at most one block of the month's count). Near
the limit every request reserves exactly one, so the limit is exact where it matters.

**Release.** A request that fails before any byte reaches the client gives its reservation back
(atomic ``add(-count)``: no conflict). The user's ``usage/<uid>/<month>/llm_requests`` counter
(what ``/api/auth/me`` shows) counts served requests, with the usage records.

Records, all counters (atomic adds):
``t/<tid>/llm_quota/<YYYY-MM>/<shard>``: requests reserved this month;
``t/<tid>/llm_usage/<YYYY-MM>/<YYYY-MM-DD>/<uid>/<model>/<metric>`` with metric ``requests``,
``input_tokens``, ``output_tokens``, ``cost_micro_usd``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import random
from dataclasses import dataclass

from shared.store import Transaction, decode_counter
from shared.store.keys import TENANTS

SHARDS = 8
METRICS = ("requests", "input_tokens", "output_tokens", "cost_micro_usd")


def month_of(now: float) -> str:
    return _day(int(now // 86400))[:7]


def day_of(now: float) -> str:
    return _day(int(now // 86400))


@functools.lru_cache(maxsize=4)
def _day(days_since_epoch: int) -> str:
    """UTC date of a day number: formatted once per day, not once per request."""
    return dt.datetime.fromtimestamp(days_since_epoch * 86400, dt.UTC).strftime("%Y-%m-%d")


def seconds_to_next_month(now: float) -> int:
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((start + dt.timedelta(days=days)).timestamp() - now))


def allowance(limit: int, shard: int) -> int:
    return limit // SHARDS + (1 if shard < limit % SHARDS else 0)


def _quota_key(tenant_id: str, month: str, shard: int) -> bytes:
    return TENANTS[tenant_id].key("llm_quota", month, shard)


def _user_counter(tenant_id: str, user_id: str, month: str) -> bytes:
    # The same counter shared.accounts.add_usage writes: /api/auth/me lists it as llm_requests.
    return TENANTS[tenant_id].key("usage", user_id, month, "llm_requests")


@dataclass(frozen=True)
class Reservation:
    tenant_id: str
    month: str
    shard: int
    count: int  # requests taken (a block, while the tenant has plenty left)
    remaining: int  # after this, as far as this transaction could tell (a rough lower bound)


def reserve(
    tr: Transaction, tenant_id: str, month: str, limit: int, want: int = 1
) -> Reservation | None:
    """Take up to ``want`` (at least one) of the month's ``limit``; None when it is used up."""
    shard = random.randrange(SHARDS)
    room = allowance(limit, shard) - decode_counter(tr.get(_quota_key(tenant_id, month, shard)))
    if room > 0:
        take = min(want, room)
        remaining = (room - take) * SHARDS
    else:
        # This slice is used up: look at all of them (serializable reads) for one with room.
        rooms = [
            allowance(limit, i) - decode_counter(tr.get(_quota_key(tenant_id, month, i)))
            for i in range(SHARDS)
        ]
        shard = max(range(SHARDS), key=lambda i: rooms[i])
        if rooms[shard] <= 0:
            return None
        take = min(want, rooms[shard])
        remaining = sum(max(0, r) for r in rooms) - take
    tr.add(_quota_key(tenant_id, month, shard), take)
    return Reservation(tenant_id, month, shard, take, remaining)


def release(tr: Transaction, tenant_id: str, month: str, shard: int, count: int) -> None:
    """Give back requests reserved but not used (failed before any byte, or a block's rest)."""
    if count:
        tr.add(_quota_key(tenant_id, month, shard), -count)


def monthly_requests(tr: Transaction, tenant_id: str, month: str) -> int:
    """Requests the tenant used in ``month`` (YYYY-MM), read without conflicts."""
    begin, end = TENANTS[tenant_id].range("llm_quota", month)
    return sum(decode_counter(v) for _, v in tr.get_range(begin, end, snapshot=True))


@dataclass(frozen=True)
class Usage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro_usd: int = 0


def record(
    tr: Transaction, tenant_id: str, user_id: str, model: str, now: float, usage: Usage
) -> None:
    """Add finished requests to the day's record (atomic adds: never conflicts)."""
    month, day = month_of(now), day_of(now)
    for metric in METRICS:
        amount = getattr(usage, metric)
        if amount:
            tr.add(TENANTS[tenant_id].key("llm_usage", month, day, user_id, model, metric), amount)
    tr.add(_user_counter(tenant_id, user_id, month), usage.requests)


UsageKey = tuple[str, str, str, float]  # tenant, user, model, a moment of the day


def record_many(tr: Transaction, batch: dict[UsageKey, Usage]) -> None:
    for (tenant_id, user_id, model, now), usage in batch.items():
        record(tr, tenant_id, user_id, model, now, usage)


def add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(*(getattr(a, m) + getattr(b, m) for m in METRICS))


@dataclass(frozen=True)
class UsageRow:
    day: str
    user_id: str
    model: str
    usage: Usage


def usage_rows(tr: Transaction, tenant_id: str, month: str) -> list[UsageRow]:
    begin, end = TENANTS[tenant_id].range("llm_usage", month)
    found: dict[tuple[str, str, str], dict[str, int]] = {}
    for key, value in tr.get_range(begin, end, snapshot=True):
        _, _, day, user_id, model, metric = TENANTS[tenant_id].unpack(key)
        found.setdefault((day, user_id, model), {})[metric] = decode_counter(value)
    return [
        UsageRow(day, user_id, model, Usage(**values))
        for (day, user_id, model), values in sorted(found.items())
    ]
