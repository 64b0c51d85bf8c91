"""Counts for the operators' gauges, read from the store's indexes.

Running workspaces are the ``ws_active`` index's entries (every workspace whose desired state is
running); each one's record says whether it is ready and on which plan. Read a page per
transaction with snapshot reads, so a count never conflicts with the writes it counts and never
meets FoundationDB's 5 s limit however many workspaces run.
"""

from __future__ import annotations

from shared.plans import CATALOG
from shared.store import Database, Transaction
from shared.store.keys import INDEXES
from shared.workspaces import model

PAGE = 500


def running_by_plan(db: Database, page: int = PAGE) -> dict[str, int]:
    """Ready workspaces by the plan they run on; every plan is present (0 when none)."""
    counts = dict.fromkeys(CATALOG, 0)
    begin, end = INDEXES.range("ws_active")

    def read(tr: Transaction, start: bytes) -> tuple[list[str], bytes | None]:
        rows = tr.get_range(start, end, limit=page, snapshot=True)
        plans = []
        for key, _ in rows:
            _, _, tid, uid, wid = INDEXES.unpack(key)
            ws = model.get(tr, tid, uid, wid, snapshot=True)
            if ws is not None and ws["desired"] == "running" and ws["status"] == "ready":
                plans.append(ws["plan"])
        more = rows[-1][0] + b"\x00" if len(rows) == page else None
        return plans, more

    cursor: bytes | None = begin
    while cursor is not None:
        plans, cursor = db.transact(read, cursor)
        for plan in plans:
            counts[plan] = counts.get(plan, 0) + 1
    return counts
