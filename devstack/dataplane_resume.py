"""After a restart: the sidecars of workspaces recorded ``ready`` answer before the stack does.

The store still says ``ready`` (with a URL) for workspaces that were ready when the stack
stopped, but their processes ended with it. The provisioner's resync brings them back, yet only
after the cluster stand-in has a pod again, and until then ``ready`` would hand out launch URLs
whose port refuses connections. So the data plane's component starts them itself, before the
stack declares itself ready: each workspace ``ready`` in the store either answers on the URL it
records, or leaves ``ready`` (``starting``, no URL) for the resync to converge it again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from devstack.dataplane_ports import local_url
from devstack.dataplane_processes import Running
from shared.store import Transaction
from shared.store.keys import INDEXES
from shared.workspaces import model
from shared.workspaces.model import WorkspaceRecord


class Serves(Protocol):
    """The data plane's start of one workspace's processes (``LocalDataPlane.serve``)."""

    def serve(self, ws: dict[str, Any]) -> Running | None: ...


# Each start is two Python processes; a few at once keep a small machine responsive.
PARALLEL_STARTS = 4


def ready_workspaces(db: Any) -> list[WorkspaceRecord]:
    def read(tr: Transaction) -> list[WorkspaceRecord]:
        begin, end = INDEXES.range("ws_active")
        found = []
        for key, _ in tr.get_range(begin, end, snapshot=True):
            _, _, tid, uid, wid = INDEXES.unpack(key)
            ws = model.get(tr, tid, uid, wid, snapshot=True)
            if ws is not None and ws["status"] == "ready":
                found.append(ws)
        return found

    return list(db.transact(read))


def resume_ready(plane: Serves, db: Any, clock: Any) -> int:
    """Start the processes of every ``ready`` workspace; returns how many answer."""
    workspaces = ready_workspaces(db)
    if not workspaces:
        return 0
    with ThreadPoolExecutor(PARALLEL_STARTS, thread_name_prefix="dataplane-resume") as pool:
        urls = list(pool.map(lambda ws: _start(plane, ws), workspaces))
    for ws, url in zip(workspaces, urls, strict=True):
        if url != ws.get("url"):
            db.transact(lambda tr, ws=ws, url=url: _record(tr, ws, url, clock.now()))
    return sum(1 for url in urls if url is not None)


def _start(plane: Serves, ws: WorkspaceRecord) -> str | None:
    """The URL the workspace answers on now, or None if its processes would not start."""
    running = plane.serve(dict(ws))
    return local_url(ws["workspace_id"], running.port) if running is not None else None


def _record(tr: Transaction, ws: WorkspaceRecord, url: str | None, now: float) -> None:
    """A new URL for a workspace that answers elsewhere, or out of ``ready`` if it does not."""
    ids = (ws["tenant_id"], ws["user_id"], ws["workspace_id"])
    current = model.get(tr, *ids)
    if current is None or current["status"] != "ready" or current["generation"] != ws["generation"]:
        return  # it moved on meanwhile: that change is converged by its own message
    if url is not None:
        new: WorkspaceRecord = {**current, "url": url}
        message = f"local data plane: serving on {url} after a restart"
    else:
        new = {**current, "status": "starting", "url": None}
        message = "local data plane: could not start after a restart; starting it again"
    model.save(tr, new, current, now)
    model.add_progress(tr, new, now, [message])
