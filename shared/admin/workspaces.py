"""Workspaces across tenants: list by status, stop one, ask the provisioner to re-check one.

Changes go through the API's own writes (``model.set_desired`` + audit in one transaction, then
``publish_reconcile``), so the provisioner sees an operator's stop exactly like a user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.accounts.audit import write_audit
from shared.accounts.licenses import get_license
from shared.clock import Clock, isoformat
from shared.errors import Conflict, NotFound
from shared.events import RECONCILE_TOPIC, EventsPort
from shared.plans import effective_plan
from shared.store import Database, Transaction
from shared.store.codec import load
from shared.store.keys import INDEXES
from shared.workspaces import model
from shared.workspaces.model import WorkspaceRecord
from shared.workspaces.service import publish_for

SCAN_CHUNK = 200  # owner index entries (and their records) read per transaction


@dataclass(frozen=True)
class WorkspaceSummary:
    """What an operator sees of a workspace (never its credential's hash)."""

    workspace_id: str
    tenant_id: str
    user_id: str
    name: str
    status: str
    desired: str
    generation: int
    observed_generation: int
    plan: str
    reason: str | None
    created_at: str
    last_active: str | None
    url: str | None


def summarize(ws: WorkspaceRecord) -> WorkspaceSummary:
    return WorkspaceSummary(
        workspace_id=ws["workspace_id"],
        tenant_id=ws["tenant_id"],
        user_id=ws["user_id"],
        name=ws["name"],
        status=ws["status"],
        desired=ws["desired"],
        generation=ws["generation"],
        observed_generation=ws["observed_generation"],
        plan=ws["plan"],
        reason=ws.get("reason"),
        created_at=isoformat(ws["created_at"]),
        last_active=isoformat(last) if (last := ws.get("last_active")) else None,
        url=ws.get("url"),
    )


def _scan_chunk(
    tr: Transaction, begin: bytes, end: bytes, chunk: int
) -> tuple[list[WorkspaceRecord], bytes | None]:
    rows = tr.get_range(begin, end, limit=chunk, snapshot=True)
    found = []
    for key, raw in rows:
        (wid,) = INDEXES.unpack(key)[1:]
        ids = load(raw)
        ws = model.get(tr, ids["tenant_id"], ids["user_id"], wid, snapshot=True)
        if ws is not None:
            found.append(ws)
    after = rows[-1][0] + b"\x00" if len(rows) == chunk else None
    return found, after


def list_workspaces(
    db: Database, statuses: set[str] | None = None, *, limit: int = 1000, chunk: int = SCAN_CHUNK
) -> list[WorkspaceSummary]:
    """Workspaces whose status is in ``statuses`` (all if None), scanning the owner index in
    chunks of short transactions (each within FoundationDB's limits; not one point in time)."""
    unknown = (statuses or set()) - set(model.STATUSES)
    if unknown:
        raise ValueError(f"unknown status {sorted(unknown)}; one of {', '.join(model.STATUSES)}")
    begin, end = INDEXES.range("workspace")
    found: list[WorkspaceSummary] = []
    cursor: bytes | None = begin
    while cursor is not None and len(found) < limit:
        records, cursor = db.transact(_scan_chunk, cursor, end, chunk)
        found.extend(summarize(ws) for ws in records if not statuses or ws["status"] in statuses)
    return found[:limit]


def _locate(tr: Transaction, wid: str) -> WorkspaceRecord:
    ids = model.owner(tr, wid)
    ws = model.get(tr, ids["tenant_id"], ids["user_id"], wid) if ids else None
    if ws is None:
        raise NotFound(f"no workspace {wid}", code="workspace_not_found")
    return ws


def stop_workspace(
    db: Database, events: EventsPort, clock: Clock, wid: str, *, by: str, reason: str
) -> WorkspaceSummary:
    """Set desired=stopped (files kept), audited under the owner's tenant, then publish."""

    def write(tr: Transaction) -> WorkspaceRecord:
        ws = _locate(tr, wid)
        if ws["desired"] == "deleted":
            raise Conflict("the workspace is being deleted", code="workspace_deleted")
        if ws["desired"] == "stopped" and ws["status"] != "failed":
            return ws  # already asked: publish again, as the API does
        now = clock.now()
        new = model.set_desired(tr, ws, "stopped", now, reason=f"by support: {reason}")
        fields: dict[str, Any] = {"user_id": ws["user_id"], "workspace_id": wid}
        write_audit(
            tr, ws["tenant_id"], now, "workspace.stop", {**fields, "by": by, "reason": reason}
        )
        return new

    ws = db.transact(write)
    publish_for(events, ws, "stop", ws["generation"])
    return summarize(ws)


def reconcile_workspace(db: Database, events: EventsPort, wid: str) -> tuple[WorkspaceSummary, str]:
    """Ask the provisioner to re-check one workspace against the cluster, even if settled.

    The message is the one the local stack's start-up resync sends (``resync``): a converged
    workspace is compared with the cluster again. A failed generation stays failed (the owner's
    next start is a new generation).
    """
    ws = db.transact(_locate, wid)
    message_id = events.publish(
        RECONCILE_TOPIC,
        {
            "tenant_id": ws["tenant_id"],
            "user_id": ws["user_id"],
            "workspace_id": wid,
            "generation": ws["generation"],
            "reason": "admin",
            "resync": True,
        },
        {"workspace_id": wid},
    )
    return summarize(ws), message_id


def retry_failed(db: Database, events: EventsPort, clock: Clock, wid: str, *, by: str) -> str:
    """Ask a failed workspace's desired state again (a new generation), as the owner's own
    start after a failure does, within the plan's running limit; then publish.

    Returns ``retried``, ``not_failed`` (nothing changed), ``gone`` or ``over_plan_limit``.
    """

    def write(tr: Transaction) -> tuple[str, WorkspaceRecord | None]:
        ids = model.owner(tr, wid)
        ws = model.get(tr, ids["tenant_id"], ids["user_id"], wid) if ids else None
        if ws is None or ws["status"] == "deleted":
            return "gone", None
        if ws["status"] != "failed":
            return "not_failed", None
        now = clock.now()
        tid, uid = ws["tenant_id"], ws["user_id"]
        if ws["desired"] == "running":
            plan = effective_plan(get_license(tr, tid), now)
            mine = model.list_for_user(tr, tid, uid)
            if sum(1 for w in mine if model.counts_as_running(w)) >= plan.limits.running_workspaces:
                return "over_plan_limit", None
        new = model.set_desired(tr, ws, ws["desired"], now, reason=f"retried by support ({by})")
        write_audit(
            tr, tid, now, "workspace.retry", {"user_id": uid, "workspace_id": wid, "by": by}
        )
        return "retried", new

    outcome, ws = db.transact(write)
    if ws is not None:
        publish_for(events, ws, "retry", ws["generation"])
    return outcome
