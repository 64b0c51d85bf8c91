"""Monthly workspace hours (the plan's ``workspace_hours_per_month``).

Used time is the month's ``workspace_seconds`` usage (added when a workspace stops) plus the
time the user's running workspaces have run so far (``running_since``). Start and create are
refused at or over the plan's hours; the scheduled pass stops running workspaces once the user
crosses them.

So that the pass reads only users who may have crossed, each user with running workspaces has a
"check at" time: the earliest moment the hours left can run out at the current rate (hours left
divided by the workspaces running). It is written in the transaction that starts a workspace
running (the provisioner records ``ready``) and in the one that changes the plan (billing's
``stop_over_limit``); a stop only makes the real moment later, so a stale time is early, never
late, and an early check just sets the next one.

Usage is kept per calendar month (UTC) of the moment a run ends, as ``add_usage`` records it: a
run across the turn of the month counts wholly in the new one.
"""

from __future__ import annotations

import math

from shared.accounts.licenses import get_license
from shared.accounts.usage import usage_month
from shared.clock import isoformat
from shared.errors import Forbidden
from shared.plans import Plan, effective_plan
from shared.store import Transaction, decode_counter
from shared.store.keys import INDEXES, TENANTS
from shared.workspaces import model

METRIC = "workspace_seconds"
INDEX = "ws_hours"


def schedule_key(tid: str, uid: str) -> bytes:
    return TENANTS[tid].key("workspace_hours", uid)


def index_key(check_at: int, tid: str, uid: str) -> bytes:
    return INDEXES.key(INDEX, check_at, tid, uid)


def allowance_seconds(plan: Plan) -> int:
    return plan.limits.workspace_hours_per_month * 3600


def used_seconds(
    tr: Transaction, tid: str, uid: str, now: float, mine: list[model.WorkspaceRecord]
) -> int:
    """This month's recorded workspace time plus what the running workspaces have used so far."""
    key = TENANTS[tid].key("usage", uid, usage_month(now), METRIC)
    # Snapshot: concurrent atomic adds (a stop elsewhere) must not make this transaction retry.
    recorded = decode_counter(tr.get(key, snapshot=True))
    running = sum(
        max(0.0, now - since) for ws in mine if (since := ws["running_since"]) is not None
    )
    return recorded + int(running)


def next_month(now: float) -> str:
    year, month = int(usage_month(now)[:4]), int(usage_month(now)[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}-01"


def check_allowance(
    tr: Transaction, plan: Plan, tid: str, uid: str, now: float, mine: list[model.WorkspaceRecord]
) -> None:
    """Refuse another running workspace when the month's hours are used up."""
    used = used_seconds(tr, tid, uid, now, mine)
    allowed = allowance_seconds(plan)
    if used >= allowed:
        raise Forbidden(
            f"the {plan.name} plan includes {plan.limits.workspace_hours_per_month} workspace "
            f"hours a month and {used / 3600:.1f} hours are used; they renew on "
            f"{next_month(now)}, or upgrade",
            code="plan_limit",
        )


def reschedule(
    tr: Transaction,
    tid: str,
    uid: str,
    now: float,
    *,
    mine: list[model.WorkspaceRecord] | None = None,
    plan: Plan | None = None,
) -> float | None:
    """Set (or clear) when the pass next checks this user's hours; in the caller's transaction."""
    mine = model.list_for_user(tr, tid, uid) if mine is None else mine
    burning = [ws for ws in mine if ws.get("running_since") is not None]
    check_at: float | None = None
    if burning:
        plan = plan or effective_plan(get_license(tr, tid), now)
        left = allowance_seconds(plan) - used_seconds(tr, tid, uid, now, mine)
        check_at = now + max(0, left) / len(burning)
    key = schedule_key(tid, uid)
    old = model.load(tr.get(key))
    new_at = math.ceil(check_at) if check_at is not None else None
    if old and old["check_at"] != new_at:
        tr.clear(index_key(old["check_at"], tid, uid))
    if new_at is None:
        if old:
            tr.clear(key)
        return None
    if not old or old["check_at"] != new_at:
        tr.set(key, model.dump({"check_at": new_at, "at": isoformat(now)}))
        tr.set(index_key(new_at, tid, uid), b"")
    return check_at


def enforce(
    tr: Transaction, tid: str, uid: str, check_at: int, now: float
) -> list[model.WorkspaceRecord]:
    """The pass's step for one due user: stop every running workspace if the hours are used up,
    else set the next check. Returns the workspaces stopped (publish a reconcile for each)."""
    current = model.load(tr.get(schedule_key(tid, uid)))
    if not current or current["check_at"] != check_at:
        tr.clear(index_key(check_at, tid, uid))  # moved or cleared meanwhile: a stale entry
        return []
    mine = model.list_for_user(tr, tid, uid)
    plan = effective_plan(get_license(tr, tid), now)
    stopped = []
    if used_seconds(tr, tid, uid, now, mine) >= allowance_seconds(plan):
        reason = (
            f"the month's {plan.limits.workspace_hours_per_month} workspace hours "
            f"of the {plan.name} plan are used up"
        )
        for ws in mine:
            if model.counts_as_running(ws):
                stopped.append(model.set_desired(tr, ws, "stopped", now, reason=reason))
        mine = model.list_for_user(tr, tid, uid)
    reschedule(tr, tid, uid, now, mine=mine, plan=plan)
    return stopped
