"""Message triage, claims and leases: which messages to act on, and recording the outcome."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from shared import metrics
from shared.events import PubSubMessage
from shared.provisioner.base import (
    Finish,
    LeaseLost,
    PermanentError,
    ReconcilerBase,
    Result,
    Skip,
    Superseded,
)
from shared.store import Transaction
from shared.workspaces import hours, model
from shared.workspaces.model import WorkspaceRecord

log = logging.getLogger("coditect.provisioner")
Obj = dict[str, Any]


# A failed start's reason (free text) -> the closed set of reasons the metric is labelled with.
_FAILURE_REASONS = (
    ("ImagePullBackOff", "image_pull"),
    ("InvalidImageName", "image_pull"),
    ("ErrImageNeverPull", "image_pull"),
    ("CrashLoopBackOff", "crash_loop"),
    ("CreateContainerConfigError", "container_config"),
    ("could not be mounted", "volume_mount"),
    ("not ready within", "start_deadline"),
    ("the pod ended", "pod_ended"),
    ("was rejected", "rejected_by_cluster"),
    ("not managed by Coditect", "name_conflict"),
    ("activity credential is missing", "missing_credential"),
)


def failure_reason(reason: str) -> str:
    for needle, label in _FAILURE_REASONS:
        if needle in reason:
            return label
    return "other"


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Triage(ReconcilerBase):
    def handle(self, message: PubSubMessage) -> str:
        """Process one reconcile message; returns what happened, raises to get a redelivery."""
        data = message.data
        tid, wid = data.get("tenant_id"), data.get("workspace_id")
        fields = {"workspace_id": wid, "message_id": message.message_id}
        if not (isinstance(tid, str) and isinstance(wid, str) and tid and wid):
            log.error("reconcile message without ids; dropped", extra={"fields": fields})
            return Skip.INVALID
        published = _ts(message.publish_time)
        if published and self._wall() - published > self.settings.max_message_age_seconds:
            log.warning("reconcile message too old; dropped", extra={"fields": fields})
            return Skip.EXPIRED
        uid = data.get("user_id")
        if not isinstance(uid, str) or not uid:
            ids = self.db.transact(lambda tr: model.owner(tr, wid))
            if ids is None or ids["tenant_id"] != tid:
                return Skip.UNKNOWN
            uid = ids["user_id"]
        generation = data.get("generation")
        try:
            outcome = self.reconcile(
                tid,
                uid,
                wid,
                generation if isinstance(generation, int) else None,
                resync=data.get("resync") is True,
            )
        except Exception as error:
            fields.update(attempt=message.delivery_attempt, error=str(error)[:300])
            metrics.RECONCILE_ATTEMPTS.inc(outcome="error")
            if message.delivery_attempt >= self.settings.max_attempts:
                log.error("reconcile failed on the last attempt", extra={"fields": fields})
                metrics.RECONCILE_DEAD_LETTERS.inc()
                self._give_up(tid, uid, wid, error, message.delivery_attempt)
            else:
                log.warning("reconcile failed; will be retried", extra={"fields": fields})
            raise
        metrics.RECONCILE_ATTEMPTS.inc(outcome=str(outcome))
        log.info("reconciled", extra={"fields": {**fields, "outcome": outcome}})
        return outcome

    # == the loop =================================================================================
    def reconcile(
        self, tid: str, uid: str, wid: str, generation: int | None = None, *, resync: bool = False
    ) -> str:
        """Converge one workspace; ``resync`` re-checks the cluster even if already settled."""
        token = uuid.uuid4().hex
        claimed = self.db.transact(self._claim, tid, uid, wid, generation, token, resync)
        if isinstance(claimed, Skip):
            return claimed
        ws: WorkspaceRecord = claimed
        while True:
            try:
                try:
                    result: Result | None = self._converge(ws, token)
                except PermanentError as error:
                    result = self._fail(ws, str(error))
            except Superseded:
                result = None
            except LeaseLost:
                return Skip.LEASE_LOST
            except BaseException as error:
                self.db.transact(self._release, ws, token, [f"will retry: {error}"[:300]])
                raise
            finished, moved_on = self.db.transact(self._finish, ws, token, result)
            if finished is Finish.LOST:
                return Skip.LEASE_LOST
            if moved_on is not None:
                ws = moved_on  # the desired state moved on: converge to the new one
                continue
            self._measure(ws, finished, result)
            if self.hooks is not None and result is not None:
                try:
                    self.hooks.on_status(ws, result.status)
                except Exception:
                    log.exception("status hook failed", extra={"fields": {"workspace_id": wid}})
            return result.status if result else Skip.SUPERSEDED

    def _measure(self, ws: WorkspaceRecord, finished: Finish, result: Result | None) -> None:
        """Metrics of a recorded outcome (after the commit: a retried transaction counts once)."""
        kind = "create" if ws["observed_generation"] == 0 else "start"
        if finished is Finish.STARTED:
            requested = ws.get("start_requested_at") or ws["created_at"]
            metrics.WORKSPACE_PROVISIONING_SECONDS.observe(
                max(0.0, self.clock.now() - requested), plan=ws["plan"], kind=kind
            )
        elif result is not None and result.status == "failed" and ws["desired"] == "running":
            metrics.WORKSPACE_START_FAILURES.inc(
                plan=ws["plan"], reason=failure_reason(result.reason or "")
            )

    # == store transactions (no side effects: they may run more than once) ========================
    def _claim(
        self,
        tr: Transaction,
        tid: str,
        uid: str,
        wid: str,
        generation: int | None,
        token: str,
        resync: bool,
    ) -> Skip | WorkspaceRecord:
        now = self.clock.now()
        ws = model.get(tr, tid, uid, wid)
        if ws is None:
            return Skip.UNKNOWN
        if generation is not None and generation < ws["generation"]:
            return Skip.STALE
        settled = ws["observed_generation"] >= ws["generation"] and ws["status"] in model.SETTLED
        if settled and (not resync or ws["status"] in ("deleted", "failed")):
            return Skip.DUPLICATE
        lease = model.load(tr.get(model.lease_key(tid, uid, wid)))
        if lease and lease["holder"] != token and lease["expires"] > now:
            return Skip.BUSY
        tr.set(
            model.lease_key(tid, uid, wid),
            model.dump({"holder": token, "expires": now + self.settings.lease_seconds}),
        )
        if ws["status"] == "pending":
            new: WorkspaceRecord = {**ws, "status": "provisioning"}
            model.save(tr, new, ws, now)
            ws = new
        model.add_progress(tr, ws, now, [f"provisioner: converging to {ws['desired']}"])
        # In memory only: when this invocation took the work up (the start deadline counts from
        # here too, so a start whose message was lost and re-sent later gets its full time).
        return {**ws, "claimed_at": now}

    def _release(
        self, tr: Transaction, ws: WorkspaceRecord, token: str, messages: list[str]
    ) -> None:
        if self._lease_ok(tr, ws, token):
            tr.clear(model.lease_key(ws["tenant_id"], ws["user_id"], ws["workspace_id"]))
        model.add_progress(tr, ws, self.clock.now(), messages)

    def _finish(
        self, tr: Transaction, ws: WorkspaceRecord, token: str, result: Result | None
    ) -> tuple[Finish, WorkspaceRecord | None]:
        now = self.clock.now()
        ids = (ws["tenant_id"], ws["user_id"], ws["workspace_id"])
        if not self._lease_ok(tr, ws, token):
            return Finish.LOST, None
        current = model.get(tr, *ids)
        if current is None:
            tr.clear(model.lease_key(*ids))
            return Finish.GONE, None
        if current["generation"] != ws["generation"] or result is None:
            tr.set(
                model.lease_key(*ids),
                model.dump({"holder": token, "expires": now + self.settings.lease_seconds}),
            )
            if result is not None:
                model.add_progress(tr, current, now, result.messages)
            return Finish.MOVED_ON, current
        new: WorkspaceRecord = {**current, "status": result.status, "reason": result.reason}
        new["observed_generation"] = current["generation"]
        starts_running = False
        if result.status == "ready":
            new["url"] = self._url(current)
            if new.get("running_since") is None:
                new["running_since"] = now
                starts_running = True
        elif result.status == "failed":
            new["url"] = None
            model.end_running(tr, new, now)
        elif result.status == "deleted":
            tr.clear(model.secret_key(*ids))
        model.save(tr, new, current, now)
        if starts_running:
            # One more workspace using hours: the user's hours may run out sooner.
            hours.reschedule(tr, ws["tenant_id"], ws["user_id"], now)
        model.add_progress(tr, new, now, result.messages)
        tr.clear(model.lease_key(*ids))
        return (Finish.STARTED if starts_running else Finish.DONE), None

    def _give_up(self, tid: str, uid: str, wid: str, error: BaseException, attempts: int) -> None:
        """The last attempt failed: remove the compute (no pod left behind) and record why.

        Done under a lease of its own, so a newer request already being converged by another
        invocation is left alone (its pod is not ours to remove).
        """
        token = uuid.uuid4().hex

        def claim(tr: Transaction) -> Any:
            ws = model.get(tr, tid, uid, wid)
            if ws is None or ws["status"] in model.SETTLED:
                return None
            now = self.clock.now()
            lease = model.load(tr.get(model.lease_key(tid, uid, wid)))
            if lease and lease["expires"] > now:
                return None
            expires = now + self.settings.lease_seconds
            tr.set(
                model.lease_key(tid, uid, wid), model.dump({"holder": token, "expires": expires})
            )
            return ws

        def write(tr: Transaction, ws: WorkspaceRecord, left: str) -> None:
            if not self._lease_ok(tr, ws, token):
                return
            tr.clear(model.lease_key(tid, uid, wid))
            current = model.get(tr, tid, uid, wid)
            if current is None or current["generation"] != ws["generation"]:
                return  # asked again meanwhile: that request's message converges it
            now = self.clock.now()
            reason = f"gave up after {attempts} attempts: {error}"[:300]
            new: WorkspaceRecord = {**current, "status": "failed", "reason": reason, "url": None}
            new["observed_generation"] = current["generation"]
            model.end_running(tr, new, now)
            model.save(tr, new, current, now)
            model.add_progress(tr, new, now, [reason, *([left] if left else [])])

        try:
            ws = self.db.transact(claim)
            if ws is None:
                return
            if ws["desired"] == "running":
                metrics.WORKSPACE_START_FAILURES.inc(plan=ws["plan"], reason="retries_exhausted")
            left = ""
            try:
                self._remove_compute(ws)
            except Exception as removal:
                # Still recorded as failed; idle cleanup stops failed workspaces later, and that
                # stop removes the compute then.
                left = f"the pod could not be removed yet: {removal}"[:300]
            self.db.transact(write, ws, left)
        except Exception:
            log.exception("could not record the failure", extra={"fields": {"workspace_id": wid}})
