"""The tenant's license (``t/<tid>/license``) and its history, written together."""

from __future__ import annotations

from typing import Any, cast

from shared.accounts.records import LicenseRecord
from shared.clock import isoformat
from shared.ids import new_id
from shared.store import Transaction
from shared.store.codec import dump, load
from shared.store.keys import TENANTS


def get_license(tr: Transaction, tenant_id: str) -> LicenseRecord | None:
    return cast(LicenseRecord | None, load(tr.get(TENANTS[tenant_id].key("license"))))


def write_license(
    tr: Transaction,
    tenant_id: str,
    now: float,
    *,
    plan: str,
    status: str,
    action: str,
    reason: str,
    extra: dict[str, Any] | None = None,
) -> LicenseRecord:
    """Set the tenant's license and append its history entry, in the caller's transaction."""
    previous = get_license(tr, tenant_id)
    record = cast(
        LicenseRecord,
        {
            **(extra or {}),
            "license_id": new_id(),
            "plan": plan,
            "status": status,
            "previous_license_id": previous["license_id"] if previous else None,
            "updated_at": isoformat(now),
        },
    )
    tr.set(TENANTS[tenant_id].key("license"), dump(record))
    tr.set(
        TENANTS[tenant_id].key("license_history", int(now * 1000), record["license_id"]),
        dump(
            {
                "action": action,
                "reason": reason,
                "from_plan": previous["plan"] if previous else None,
                **record,
            }
        ),
    )
    return record
