"""The scheduled pass. Called by Cloud Scheduler (production) or a timer (local stack), it:

- stops workspaces nobody uses, stops ones past a maximum age, deletes stopped ones past the
  retention period;
- re-publishes the reconcile of workspaces still converging long after their last write (a
  publish lost between commit and send, a message dead-lettered): level-triggered, so a repeat
  is harmless and the workspace converges;
- stops the running workspaces of users whose month's workspace hours are used up (hours.py);
- applies grace periods that ended: beyond the free plan's running limit, the newest running
  workspaces stop (shared.billing.grace).

Candidates come from indexes ordered by time (last activity, start, stop, last write, next hours
check, grace deadline), read only up to the cut-off, so a pass costs in proportion to the
workspaces that qualify, not to all that exist. Each batch is one transaction that re-reads every
candidate and re-checks it: a heartbeat that commits during the pass makes the batch conflict and
retry, and then the activity wins. Overlapping runs are harmless: the second finds the desired
state already changed (or the index entry already moved).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from shared import metrics
from shared.accounts.licenses import get_license
from shared.clock import Clock
from shared.events import EventsPort
from shared.plans import Plan, effective_plan
from shared.store import Database, Transaction
from shared.store.keys import INDEXES
from shared.workspaces import hours, model
from shared.workspaces.config import WorkspaceSettings
from shared.workspaces.model import WorkspaceRecord
from shared.workspaces.service import publish_for, publish_reconcile, stop_over_limit
from shared.workspaces.stats import running_by_plan

log = logging.getLogger("coditect.idle_cleanup")
# A start or stop in flight is left alone (jupyterhub-idle-culler does the same).
ELIGIBLE_TO_STOP = ("ready", "failed")
ELIGIBLE_TO_DELETE = ("stopped", "failed")

# A decision: the action taken and the workspace record as it now is (None: left alone).
Decision = tuple[str, WorkspaceRecord] | None
Decide = Callable[[Transaction, WorkspaceRecord, float, Callable[[str], Plan]], Decision]


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
        self._resync(now, stats)
        self._hours(now, stats)
        self._grace(now, stats)
        result = dict(stats)
        log.info("idle cleanup pass", extra={"fields": result})
        for action, count in result.items():
            metrics.IDLE_CLEANUP_ACTIONS.inc(count, action=action)
        # Production's gauge of running workspaces: a value per plan at every pass.
        for plan, running in running_by_plan(self.db).items():
            metrics.WORKSPACES_RUNNING.set(running, plan=plan)
        return result

    # -- decisions (inside the batch transaction) ------------------------------------------------
    def _idle(
        self, tr: Transaction, ws: WorkspaceRecord, now: float, plan_of: Callable[[str], Plan]
    ) -> Decision:
        if ws["desired"] != "running" or ws["status"] not in ELIGIBLE_TO_STOP:
            return None
        limit = self.settings.idle_for(plan_of(ws["tenant_id"]).name)
        base = max(ws.get("last_active") or 0, ws.get("start_requested_at") or ws["created_at"])
        if now - base < limit:
            return None
        return "stopped_idle", model.set_desired(
            tr, ws, "stopped", now, reason=f"idle for over {limit // 60} min"
        )

    def _too_old(
        self, tr: Transaction, ws: WorkspaceRecord, now: float, plan_of: Callable[[str], Plan]
    ) -> Decision:
        if ws["desired"] != "running" or ws["status"] not in ELIGIBLE_TO_STOP:
            return None
        started = ws.get("start_requested_at") or ws["created_at"]
        if now - started < self.settings.max_age_seconds:
            return None
        hours = self.settings.max_age_seconds / 3600
        return "stopped_max_age", model.set_desired(
            tr, ws, "stopped", now, reason=f"running for over {hours:g} h"
        )

    def _expired(
        self, tr: Transaction, ws: WorkspaceRecord, now: float, plan_of: Callable[[str], Plan]
    ) -> Decision:
        if ws["desired"] != "stopped" or ws["status"] not in ELIGIBLE_TO_DELETE:
            return None
        if now - (ws.get("stopped_at") or now) < self.settings.retention_seconds:
            return None
        days = self.settings.retention_seconds / 86400
        return "deleted_retention", model.set_desired(
            tr, ws, "deleted", now, reason=f"stopped for over {days:g} days"
        )

    # -- the sweep -------------------------------------------------------------------------------
    def _sweep(
        self, index: str, cutoff: float, decide: Decide, now: float, stats: Counter[str]
    ) -> None:
        for rows in self._pages(index, cutoff):
            candidates = [INDEXES.unpack(key)[2:] for key, _ in rows]
            stats["candidates"] += len(candidates)
            changed = self.db.transact(self._apply, candidates, decide, now)
            for action, ws in changed:
                stats[action] += 1
                if action == "stopped_idle":
                    metrics.WORKSPACE_IDLE_STOPS.inc(plan=ws["plan"])
                publish_for(self.events, ws, action, ws["generation"])

    def _pages(self, index: str, until: float) -> Iterator[list[tuple[bytes, bytes]]]:
        """Entries of ``index`` stamped at or before ``until``, a batch per transaction."""
        begin, _ = INDEXES.range(index)
        end = INDEXES.key(index, int(until) + 1)
        while begin < end:
            rows = self.db.transact(
                lambda tr, b=begin: tr.get_range(
                    b, end, limit=self.settings.cleanup_batch, snapshot=True
                )
            )
            if not rows:
                return
            yield rows
            begin = rows[-1][0] + b"\x00"

    def _publish_stops(self, stopped: list[WorkspaceRecord], reason: str) -> None:
        for ws in stopped:
            publish_for(self.events, ws, reason, ws["generation"])

    # -- resync: converging for too long -----------------------------------------------------------
    def _resync(self, now: float, stats: Counter[str]) -> None:
        """Re-publish reconcile for up to ``resync_batch`` workspaces lagging past the threshold.

        Each one's record is re-written (its lag entry moves to now) in the transaction that
        picks it, so overlapping passes publish once and a workspace that stays stuck is retried
        once per threshold, not on every pass.
        """
        cutoff = now - self.settings.resync_after_seconds
        begin, _ = INDEXES.range("ws_lagging")
        end = INDEXES.key("ws_lagging", int(cutoff) + 1)
        rows = self.db.transact(
            lambda tr: tr.get_range(begin, end, limit=self.settings.resync_batch, snapshot=True)
        )
        if not rows:
            return
        stats["resync_candidates"] += len(rows)
        candidates = [INDEXES.unpack(key)[2:] for key, _ in rows]
        picked = self.db.transact(self._pick_lagging, candidates, cutoff, now)
        stats["resynced"] += len(picked)
        self._publish_stops(picked, "resync")

    @staticmethod
    def _pick_lagging(
        tr: Transaction, candidates: list[tuple[str, str, str]], cutoff: float, now: float
    ) -> list[WorkspaceRecord]:
        picked = []
        for tid, uid, wid in candidates:
            ws = model.get(tr, tid, uid, wid)
            if ws is None or ws["status"] not in model.CONVERGING:
                continue
            if (ws.get("updated_at") or ws["created_at"]) > cutoff:
                continue  # written since the entry was read: no longer lagging
            new: WorkspaceRecord = {**ws, "resyncs": ws.get("resyncs", 0) + 1}
            model.save(tr, new, ws, now)
            picked.append(new)
        return picked

    # -- monthly workspace hours -------------------------------------------------------------------
    def _hours(self, now: float, stats: Counter[str]) -> None:
        for rows in self._pages(hours.INDEX, now):
            due = [INDEXES.unpack(key)[1:] for key, _ in rows]
            stats["hours_checked"] += len(due)

            def enforce_all(tr: Transaction, due: list[Any] = due) -> list[WorkspaceRecord]:
                return [ws for at, tid, uid in due for ws in hours.enforce(tr, tid, uid, at, now)]

            stopped = self.db.transact(enforce_all)
            stats["stopped_hours"] += len(stopped)
            self._publish_stops(stopped, "hours_used_up")

    # -- grace periods that ended ------------------------------------------------------------------
    def _grace(self, now: float, stats: Counter[str]) -> None:
        from shared.billing.grace import expire_grace

        for tid, uid, wids in expire_grace(
            self.db, now, stop_over_limit, batch=self.settings.cleanup_batch
        ):
            stats["grace_expired"] += 1
            stats["stopped_grace"] += len(wids)
            for wid in wids:
                publish_reconcile(self.events, tid, wid, "plan_limit", user_id=uid)

    def _apply(
        self, tr: Transaction, candidates: list[tuple[str, str, str]], decide: Decide, now: float
    ) -> list[tuple[str, WorkspaceRecord]]:
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
            decided = decide(tr, ws, now, plan_of)
            if decided:
                changed.append(decided)
        return changed
