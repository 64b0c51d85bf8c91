"""Grant or revoke a plan by hand (support), audited, through the one license writer.

A grant sets the tenant's license to ``plan`` (active) and a revoke sets it back to free; both
keep the billing fields (Stripe ids) so a later Stripe event still finds its license, clear any
grace period, and stop the newest running workspaces beyond the new plan's limit, in the same
transaction, as a downgrade by billing does. The reconcile messages follow the commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.accounts.audit import write_audit
from shared.accounts.licenses import get_license, write_license
from shared.accounts.records import LicenseRecord
from shared.accounts.users import lookup_email, normalize_email
from shared.billing.grace import index_license
from shared.clock import Clock
from shared.errors import NotFound, Unprocessable
from shared.events import EventsPort
from shared.plans import CATALOG, effective_plan
from shared.store import Database, Transaction
from shared.workspaces.service import publish_reconcile, stop_over_limit

# Fields each license write sets afresh; the grace deadline ends with a support change.
_REWRITTEN = ("license_id", "previous_license_id", "updated_at", "plan", "status", "grace_until")


@dataclass(frozen=True)
class PlanChange:
    tenant_id: str
    user_id: str
    from_plan: str | None
    license: LicenseRecord
    stopped: list[str]  # workspace ids stopped to fit the new plan


def set_plan(
    db: Database,
    events: EventsPort,
    clock: Clock,
    email: str,
    plan: str,
    *,
    by: str,
    reason: str,
) -> PlanChange:
    if plan not in CATALOG:
        raise Unprocessable(f"unknown plan {plan!r}; one of {', '.join(CATALOG)}", code="bad_plan")
    if not by.strip() or not reason.strip():
        raise Unprocessable("say who changes the plan and why", code="reason_required")
    address = normalize_email(email)
    action = "support_revoke" if plan == "free" else "support_grant"

    def write(tr: Transaction) -> PlanChange:
        ids = lookup_email(tr, address)
        if ids is None:
            raise NotFound(f"no account with the email {address}", code="user_not_found")
        tid, uid = ids["tenant_id"], ids["user_id"]
        now = clock.now()
        current = get_license(tr, tid)
        kept = {k: v for k, v in (current or {}).items() if k not in _REWRITTEN}
        record = write_license(
            tr,
            tid,
            now,
            plan=plan,
            status="active",
            action=action,
            reason=f"{reason} (by {by})",
            extra={**kept, "support_by": by},
        )
        index_license(tr, tid, uid, current, record)
        from_plan = current.get("plan") if current else None
        write_audit(
            tr,
            tid,
            now,
            f"license.{action}",
            {"user_id": uid, "plan": plan, "from_plan": from_plan, "by": by, "reason": reason},
        )
        limit = effective_plan(record, now).limits.running_workspaces
        stopped = stop_over_limit(tr, tid, uid, limit, now)
        return PlanChange(tid, uid, from_plan, record, stopped)

    change = db.transact(write)
    for wid in change.stopped:
        publish_reconcile(events, change.tenant_id, wid, "plan_limit", user_id=change.user_id)
    return change
