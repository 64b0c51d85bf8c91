"""Find a user by email and show what support asks about: tenant, license, workspaces, audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from shared.accounts.licenses import get_license
from shared.accounts.records import LicenseRecord, TenantRecord, UserRecord
from shared.accounts.users import get_user, lookup_email, normalize_email
from shared.admin.workspaces import WorkspaceSummary, summarize
from shared.errors import NotFound
from shared.plans import effective_plan
from shared.store import Database, Transaction
from shared.store.codec import load
from shared.store.keys import TENANTS
from shared.workspaces import model

AUDIT_LIMIT = 20


@dataclass(frozen=True)
class UserReport:
    user: UserRecord
    tenant: TenantRecord | None
    license: LicenseRecord | None
    effective_plan: str  # the plan whose limits apply now (a lapsed grace means free)
    workspaces: list[WorkspaceSummary]
    audit: list[dict[str, Any]]  # newest first


def find_user(
    db: Database, email: str, now: float, *, audit_limit: int = AUDIT_LIMIT
) -> UserReport:
    address = normalize_email(email)

    def read(tr: Transaction) -> UserReport:
        ids = lookup_email(tr, address)
        user = get_user(tr, ids["tenant_id"], ids["user_id"]) if ids else None
        if ids is None or user is None:
            raise NotFound(f"no account with the email {address}", code="user_not_found")
        tid, uid = ids["tenant_id"], ids["user_id"]
        license_record = get_license(tr, tid)
        begin, end = TENANTS[tid].range("audit")
        audit = [load(v) for _, v in tr.get_range(begin, end, limit=audit_limit, reverse=True)]
        return UserReport(
            user=user,
            tenant=cast(TenantRecord | None, load(tr.get(TENANTS[tid].key()))),
            license=license_record,
            effective_plan=effective_plan(license_record, now).name,
            workspaces=[summarize(ws) for ws in model.list_for_user(tr, tid, uid)],
            audit=audit,
        )

    return db.transact(read)
