"""Workspace records, their keys and indexes, and the transactional operations on them.

Layout (tenancy and owner in every key; global indexes hold ids only):

- ``t/<tid>/workspace/<uid>/<wid>``          the record: desired state, status, timestamps
- ``t/<tid>/workspace_name/<uid>/<name>``    name -> wid, for per-user uniqueness
- ``t/<tid>/workspace_progress/<uid>/<wid>`` progress list shown by GET (written by the provisioner)
- ``t/<tid>/workspace_secret/<uid>/<wid>``   the activity credential's plaintext (provisioner only)
- ``t/<tid>/workspace_lease/<uid>/<wid>``    which provisioner invocation is converging it
- ``idx/workspace/<wid>``                    -> {tenant_id, user_id} (heartbeats carry only wid)
- ``idx/ws_active/<last_active>/<tid>/<uid>/<wid>``  running workspaces by last activity
- ``idx/ws_started/<started>/<tid>/<uid>/<wid>``     running workspaces by start (maximum age)
- ``idx/ws_stopped/<stopped_at>/<tid>/<uid>/<wid>``  stopped workspaces by stop time (retention)
- ``idx/ws_lagging/<updated_at>/<tid>/<uid>/<wid>``  workspaces whose status is still converging,
  by their last write (the resync sweep re-publishes those that lag too long)
- ``t/<tid>/workspace_hours/<uid>`` + ``idx/ws_hours/<check_at>/<tid>/<uid>``  when to check next
  whether the user's running workspaces used up the month's hours (see hours.py)

Every function takes the caller's transaction, so they compose; index entries are derived from
the record alone (:func:`index_keys`), and :func:`save` rewrites them in the same transaction.
"""

from typing import Any, NotRequired, TypedDict

from shared.accounts.usage import add_usage
from shared.clock import isoformat
from shared.store import Transaction
from shared.store.codec import dump, load
from shared.store.keys import INDEXES, TENANTS

DESIRED = ("running", "stopped", "deleted")
STATUSES = (
    "pending",
    "provisioning",
    "ready",
    "stopping",
    "stopped",
    "starting",
    "deleting",
    "deleted",
    "failed",
)
# Statuses that end a reconcile: a duplicate message for a converged generation is dropped.
SETTLED = ("ready", "stopped", "deleted", "failed")
# The others: the observed state has not caught up with the desired one yet.
CONVERGING = tuple(s for s in STATUSES if s not in SETTLED)
PROGRESS_LIMIT = 60
MESSAGE_LIMIT = 500


class WorkspaceRecord(TypedDict):
    """``t/<tid>/workspace/<uid>/<wid>``: desired state (API) and observed state (provisioner)."""

    workspace_id: str
    tenant_id: str
    user_id: str
    name: str
    desired: str  # one of DESIRED
    generation: int  # bumped by every change of desired state
    observed_generation: int  # the generation the provisioner last converged
    status: str  # one of STATUSES
    reason: str | None  # why it failed or was stopped
    plan: str
    disk_gb: int
    created_at: float
    start_requested_at: float | None
    running_since: float | None
    stopped_at: float | None
    last_active: float | None
    url: str | None
    activity_hash: str  # SHA-256 of the sidecar's activity credential
    updated_at: NotRequired[float]
    resyncs: NotRequired[int]
    claimed_at: NotRequired[float]


class Owner(TypedDict):
    tenant_id: str
    user_id: str


# -- keys ----------------------------------------------------------------------------------------
def record_key(tid: str, uid: str, wid: str) -> bytes:
    return TENANTS[tid].key("workspace", uid, wid)


def user_range(tid: str, uid: str) -> tuple[bytes, bytes]:
    return TENANTS[tid].range("workspace", uid)


def name_key(tid: str, uid: str, name: str) -> bytes:
    return TENANTS[tid].key("workspace_name", uid, name.casefold())


def progress_key(tid: str, uid: str, wid: str) -> bytes:
    return TENANTS[tid].key("workspace_progress", uid, wid)


def secret_key(tid: str, uid: str, wid: str) -> bytes:
    return TENANTS[tid].key("workspace_secret", uid, wid)


def lease_key(tid: str, uid: str, wid: str) -> bytes:
    return TENANTS[tid].key("workspace_lease", uid, wid)


def owner_key(wid: str) -> bytes:
    return INDEXES.key("workspace", wid)


def index_keys(ws: WorkspaceRecord | None) -> list[bytes]:
    """The global index entries a record should have, derived from the record alone."""
    if ws is None:
        return []
    ids = (ws["tenant_id"], ws["user_id"], ws["workspace_id"])
    keys = []
    if ws["desired"] == "running":
        started = ws.get("start_requested_at") or ws["created_at"]
        active = max(ws.get("last_active") or 0, started)
        keys += [
            INDEXES.key("ws_active", int(active), *ids),
            INDEXES.key("ws_started", int(started), *ids),
        ]
    elif ws["desired"] == "stopped" and ws.get("stopped_at"):
        keys.append(INDEXES.key("ws_stopped", int(ws["stopped_at"] or 0), *ids))
    if ws["status"] in CONVERGING:
        # Written with the status: a publish lost after the commit still leaves this behind.
        changed = ws.get("updated_at") or ws["created_at"]
        keys.append(INDEXES.key("ws_lagging", int(changed), *ids))
    return keys


# -- reads ---------------------------------------------------------------------------------------
def get(
    tr: Transaction, tid: str, uid: str, wid: str, *, snapshot: bool = False
) -> WorkspaceRecord | None:
    return load(tr.get(record_key(tid, uid, wid), snapshot=snapshot))


def owner(tr: Transaction, wid: str) -> Owner | None:
    return load(tr.get(owner_key(wid)))


def list_for_user(tr: Transaction, tid: str, uid: str) -> list[WorkspaceRecord]:
    begin, end = user_range(tid, uid)
    return [load(v) for _, v in tr.get_range(begin, end)]


def counts_as_running(ws: WorkspaceRecord) -> bool:
    # A failed start holds no compute, so it does not take one of the plan's running slots.
    return ws["desired"] == "running" and ws["status"] != "failed"


def holds_storage(ws: WorkspaceRecord) -> bool:
    return ws["desired"] != "deleted"


def get_progress(tr: Transaction, tid: str, uid: str, wid: str) -> list[dict[str, str]]:
    return load(tr.get(progress_key(tid, uid, wid), snapshot=True)) or []


# -- writes --------------------------------------------------------------------------------------
def save(tr: Transaction, ws: WorkspaceRecord, old: WorkspaceRecord | None, now: float) -> None:
    """Write the record and move its index entries, in the caller's transaction."""
    ws["updated_at"] = now
    old_keys, new_keys = set(index_keys(old)), set(index_keys(ws))
    for key in old_keys - new_keys:
        tr.clear(key)
    for key in new_keys - old_keys:
        tr.set(key, b"")
    tr.set(record_key(ws["tenant_id"], ws["user_id"], ws["workspace_id"]), dump(ws))


def add_progress(
    tr: Transaction,
    ws: WorkspaceRecord,
    now: float,
    messages: list[str],
    *,
    reset: bool = False,
) -> None:
    key = progress_key(ws["tenant_id"], ws["user_id"], ws["workspace_id"])
    items = [] if reset else load(tr.get(key, snapshot=True)) or []
    items.extend({"at": isoformat(now), "message": m[:MESSAGE_LIMIT]} for m in messages)
    tr.set(key, dump(items[-PROGRESS_LIMIT:]))


def end_running(tr: Transaction, ws: WorkspaceRecord, now: float) -> None:
    """Add the time since the workspace became ready to the owner's usage, once."""
    since = ws.get("running_since")
    if since is not None:
        seconds = max(0, int(now - since))
        if seconds:
            add_usage(tr, ws["tenant_id"], ws["user_id"], now, "workspace_seconds", seconds)
    ws["running_since"] = None


IN_PROGRESS = {"running": "starting", "stopped": "stopping", "deleted": "deleting"}


def set_desired(
    tr: Transaction,
    ws: WorkspaceRecord,
    desired: str,
    now: float,
    *,
    reason: str,
) -> WorkspaceRecord:
    """Change the desired state (bumping the generation the provisioner converges to)."""
    if desired not in DESIRED:
        raise ValueError(f"unknown desired state {desired!r}")
    old = ws.copy()
    new = ws.copy()
    if desired != "running":
        end_running(tr, new, now)
    new["desired"] = desired
    new["generation"] = ws["generation"] + 1
    new["status"] = IN_PROGRESS[desired]
    new["reason"] = None
    if desired == "running":
        new["start_requested_at"] = now
        new["stopped_at"] = None
        new["last_active"] = None
    elif desired == "stopped":
        new["stopped_at"] = now
        new["url"] = None
    else:
        new["url"] = None
        # Frees the name, unless a delete asked again finds it already taken by a newer one.
        key = name_key(ws["tenant_id"], ws["user_id"], ws["name"])
        if load(tr.get(key)) == ws["workspace_id"]:
            tr.clear(key)
    save(tr, new, old, now)
    add_progress(tr, new, now, [f"{desired_verb(desired)} requested ({reason})"], reset=True)
    return new


def desired_verb(desired: str) -> str:
    return {"running": "start", "stopped": "stop", "deleted": "delete"}[desired]


def public(
    ws: WorkspaceRecord, progress: list[dict[str, str]], retention_seconds: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workspace_id": ws["workspace_id"],
        "name": ws["name"],
        "status": ws["status"],
        "desired_state": ws["desired"],
        "url": ws.get("url") if ws["status"] == "ready" else None,
        "created_at": isoformat(ws["created_at"]),
        "last_active": isoformat(ws["last_active"]) if ws["last_active"] else None,
        "disk_gb": ws["disk_gb"],
        "progress": progress,
    }
    if ws.get("reason"):
        body["reason"] = ws["reason"]
    if ws["desired"] == "stopped" and ws["stopped_at"]:
        # Principle 2: storage of a stopped workspace goes only after a period the user is told.
        body["delete_after"] = isoformat(ws["stopped_at"] + retention_seconds)
    return body
