"""The tenant's audit trail: ``t/<tid>/audit/<ms>/<event_id>`` (never secrets)."""

from __future__ import annotations

from typing import Any

from shared.clock import isoformat
from shared.ids import new_id
from shared.store import Transaction
from shared.store.codec import dump
from shared.store.keys import TENANTS


def write_audit(
    tr: Transaction, tenant_id: str, now: float, kind: str, fields: dict[str, Any]
) -> None:
    event_id = new_id()
    tr.set(
        TENANTS[tenant_id].key("audit", int(now * 1000), event_id),
        dump({"event_id": event_id, "type": kind, "at": isoformat(now), **fields}),
    )
