"""The end of a grace period, on a timer.

A past-due license keeps its paid plan until ``grace_until``; from then on the free plan's limits
apply (``shared.plans.effective_plan``) without any event from Stripe. So that the user's running
workspaces beyond the free plan's limit are stopped then, every past-due license has an entry in
``idx/grace_until/<deadline>/<tenant>`` ({"user_id"}), written in the transaction that writes the
license (:func:`index_license`). The scheduled pass (idle cleanup) reads only the entries that
are due and stops the user's newest running workspaces beyond the free limit with the workspaces
area's ``stop_over_limit``, deleting nothing (:func:`expire_grace`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from shared.accounts.audit import write_audit
from shared.accounts.licenses import get_license, write_license
from shared.accounts.records import LicenseRecord
from shared.plans import effective_plan
from shared.store import Database, Transaction
from shared.store.keys import INDEXES

INDEX = "grace_until"

# ``stop_over_limit(tr, tenant_id, user_id, running_limit, now) -> [workspace ids]``.
StopOverLimit = Callable[[Transaction, str, str, int, float], list[str]]


def grace_key(deadline: int, tenant_id: str) -> bytes:
    return INDEXES.key(INDEX, deadline, tenant_id)


def deadline(license_record: LicenseRecord | None) -> int | None:
    """The whole second at or after which the license's grace is over; None if not past due."""
    if not license_record or license_record.get("status") != "past_due":
        return None
    until = license_record.get("grace_until")
    return math.ceil(float(until)) if until else None


def index_license(
    tr: Transaction,
    tenant_id: str,
    user_id: str,
    before: LicenseRecord | None,
    after: LicenseRecord | None,
) -> None:
    """Move the tenant's grace entry from the old license to the new, in the same transaction."""
    old, new = deadline(before), deadline(after)
    if old is not None and old != new:
        tr.clear(grace_key(old, tenant_id))
    if new is not None:
        tr.set(grace_key(new, tenant_id), json.dumps({"user_id": user_id}).encode())


def expire_grace(
    db: Database, now: float, stop_over_limit: StopOverLimit, *, batch: int = 100
) -> list[tuple[str, str, list[str]]]:
    """Apply every grace period over by ``now``: [(tenant, user, workspace ids stopped)].

    Each entry is cleared in the transaction that stops the workspaces, so overlapping passes
    act once; an entry whose license moved on (paid, canceled, a new grace) is just cleared.
    """
    begin, _ = INDEXES.range(INDEX)
    end = INDEXES.key(INDEX, math.floor(now) + 1)
    done: list[tuple[str, str, list[str]]] = []
    while True:
        rows = db.transact(lambda tr: tr.get_range(begin, end, limit=batch, snapshot=True))
        if not rows:
            return done
        done += db.transact(_expire, [key for key, _ in rows], now, stop_over_limit)
        if len(rows) < batch:
            return done


def _expire(
    tr: Transaction, keys: list[bytes], now: float, stop_over_limit: StopOverLimit
) -> list[tuple[str, str, list[str]]]:
    done = []
    for key in keys:
        raw = tr.get(key)  # read, not snapshot: a concurrent pass on the same entry conflicts
        if raw is None:
            continue
        tr.clear(key)
        _, due, tenant_id = INDEXES.unpack(key)
        license_record = get_license(tr, tenant_id)
        if license_record is None or deadline(license_record) != due:
            continue
        user_id = json.loads(raw)["user_id"]
        limit = effective_plan(license_record, now).limits.running_workspaces
        stopped = list(stop_over_limit(tr, tenant_id, user_id, limit, now))
        # The plan's limits change here (the free plan's apply), so the license history says so.
        kept = {
            k: v
            for k, v in license_record.items()
            if k not in ("license_id", "previous_license_id", "updated_at", "plan", "status")
        }
        write_license(
            tr,
            tenant_id,
            now,
            plan=license_record["plan"],
            status="past_due",
            action="grace_expired",
            reason="payment not recovered within the grace period",
            extra={**kept, "grace_expired_at": int(now)},
        )
        write_audit(
            tr,
            tenant_id,
            now,
            "billing.grace_expired",
            {"user_id": user_id, "running_limit": limit, "stopped": stopped},
        )
        done.append((tenant_id, user_id, stopped))
    return done
