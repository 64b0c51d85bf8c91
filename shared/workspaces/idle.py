"""Idle cleanup: stop workspaces nobody uses, stop ones past a maximum age, delete stopped ones
past the retention period. Called by Cloud Scheduler (production) or a timer (local stack).

Candidates come from indexes ordered by time (last activity, start, stop), read only up to the
cut-off, so a pass costs in proportion to the workspaces that qualify, not to all that exist.
Each batch is one transaction that re-reads every candidate and re-checks it: a heartbeat that
commits during the pass makes the batch conflict and retry, and then the activity wins.
Overlapping runs are harmless: the second finds the desired state already changed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from shared.accounts import get_license
from shared.clock import Clock
from shared.events import EventsPort
from shared.plans import Plan, effective_plan
from shared.store import Database, Transaction
from shared.store.keys import INDEXES
from shared.workspaces import model
from shared.workspaces.config import WorkspaceSettings
from shared.workspaces.service import publish_reconcile

log = logging.getLogger("coditect.idle_cleanup")
# A start or stop in flight is left alone (jupyterhub-idle-culler does the same).
ELIGIBLE_TO_STOP = ("ready", "failed")
ELIGIBLE_TO_DELETE = ("stopped", "failed")

Decide = Callable[[Transaction, dict[str, Any], float, Callable[[str], Plan]], str | None]


class IdleCleanup:
    def __init__(
        self, db: Database, events: EventsPort, clock: Clock, settings: WorkspaceSettings
    ) -> None:
        self.db = db
        self.events = events
        self.clock = clock
        self.settings = settings

    def run(self) -> dict[str, int]:
        now = self.clock.now()
        stats: Counter[str] = Counter()
        s = self.settings
        self._sweep("ws_active", now - s.min_idle_seconds, self._idle, now, stats)
        if s.max_age_seconds > 0:
            self._sweep("ws_started", now - s.max_age_seconds, self._too_old, now, stats)
        self._sweep("ws_stopped", now - s.retention_seconds, self._expired, now, stats)
        result = dict(stats)
        log.info("idle cleanup pass", extra={"fields": result})
        return result

    # -- decisions (inside the batch transaction) ------------------------------------------------
    def _idle(
        self, tr: Transaction, ws: dict[str, Any], now: float, plan_of: Callable[[str], Plan]
    ) -> str | None:
        if ws["desired"] != "running" or ws["status"] not in ELIGIBLE_TO_STOP:
            return None
        limit = self.settings.idle_for(plan_of(ws["tenant_id"]).name)
        base = max(ws.get("last_active") or 0, ws.get("start_requested_at") or ws["created_at"])
        if now - base < limit:
            return None
        model.set_desired(tr, ws, "stopped", now, reason=f"idle for over {limit // 60} min")
        return "stopped_idle"

    def _too_old(
        self, tr: Transaction, ws: dict[str, Any], now: float, plan_of: Callable[[str], Plan]
    ) -> str | None:
        if ws["desired"] != "running" or ws["status"] not in ELIGIBLE_TO_STOP:
            return None
        started = ws.get("start_requested_at") or ws["created_at"]
        if now - started < self.settings.max_age_seconds:
            return None
        hours = self.settings.max_age_seconds / 3600
        model.set_desired(tr, ws, "stopped", now, reason=f"running for over {hours:g} h")
        return "stopped_max_age"

    def _expired(
        self, tr: Transaction, ws: dict[str, Any], now: float, plan_of: Callable[[str], Plan]
    ) -> str | None:
        if ws["desired"] != "stopped" or ws["status"] not in ELIGIBLE_TO_DELETE:
            return None
        if now - (ws.get("stopped_at") or now) < self.settings.retention_seconds:
            return None
        days = self.settings.retention_seconds / 86400
        model.set_desired(tr, ws, "deleted", now, reason=f"stopped for over {days:g} days")
        return "deleted_retention"

    # -- the sweep -------------------------------------------------------------------------------
    def _sweep(
        self, index: str, cutoff: float, decide: Decide, now: float, stats: Counter[str]
    ) -> None:
        begin, _ = INDEXES.range(index)
        end = INDEXES.key(index, int(cutoff) + 1)  # every entry stamped at or before the cut-off
        while begin < end:
            rows = self.db.transact(
                lambda tr, b=begin: tr.get_range(
                    b, end, limit=self.settings.cleanup_batch, snapshot=True
                )
            )
            if not rows:
                return
            candidates = [INDEXES.unpack(key)[2:] for key, _ in rows]
            stats["candidates"] += len(candidates)
            changed = self.db.transact(self._apply, candidates, decide, now)
            for action, ws in changed:
                stats[action] += 1
                publish_reconcile(
                    self.events,
                    ws["tenant_id"],
                    ws["workspace_id"],
                    action,
                    user_id=ws["user_id"],
                    generation=ws["generation"] + 1,
                )
            begin = rows[-1][0] + b"\x00"

    def _apply(
        self, tr: Transaction, candidates: list[tuple[str, str, str]], decide: Decide, now: float
    ) -> list[tuple[str, dict[str, Any]]]:
        plans: dict[str, Plan] = {}

        def plan_of(tid: str) -> Plan:
            if tid not in plans:
                plans[tid] = effective_plan(get_license(tr, tid), now)
            return plans[tid]

        changed = []
        for tid, uid, wid in candidates:
            ws = model.get(tr, tid, uid, wid)
            if ws is None:
                continue
            action = decide(tr, ws, now, plan_of)
            if action:
                changed.append((action, ws))
        return changed
